//! Semantic checks on `creatures.ron` and on the `wild` populations of a zone file:
//! unknown species, empty ranges, caps that cannot hold the initial population.

use std::collections::HashSet;

use super::check::{Problem, Report, Step, duplicates};
use super::{CreatureContent, GeneDef, Inheritance, ZoneDef};

use Step::{Field as F, Index as I};

fn fraction(r: &mut Report<'_>, path: &[Step], name: &str, v: f32) {
    if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
        r.bad(path, format!("{name} must be between 0 and 1, got {v}"));
    }
}

fn range(r: &mut Report<'_>, path: &[Step], name: &str, (lo, hi): (f32, f32)) {
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        r.bad(path, format!("{name} is an empty range: ({lo}, {hi})"));
    }
}

/// Checks `creatures.ron` on its own.
pub(super) fn shared(c: &CreatureContent) -> Vec<Problem> {
    let mut r = Report {
        file: "creatures.ron",
        out: Vec::new(),
    };
    if c.roster_capacity == 0 {
        r.bad(
            &[F("roster_capacity")],
            "roster_capacity must be at least 1".into(),
        );
    }
    let cap = &c.capture;
    r.positive(&[F("capture"), F("range")], "range", cap.range);
    fraction(
        &mut r,
        &[F("capture"), F("max_hp_fraction")],
        "max_hp_fraction",
        cap.max_hp_fraction,
    );
    r.non_negative(
        &[F("capture"), F("cooldown_s")],
        "cooldown_s",
        cap.cooldown_s,
    );
    fraction(
        &mut r,
        &[F("capture"), F("base_chance")],
        "base_chance",
        cap.base_chance,
    );
    fraction(
        &mut r,
        &[F("capture"), F("weakness_bonus")],
        "weakness_bonus",
        cap.weakness_bonus,
    );
    if c.genes.is_empty() {
        r.bad(&[F("genes")], "genes: the gene table is empty".into());
    }
    let mut seen = HashSet::new();
    for (i, g) in c.genes.iter().enumerate() {
        let at = |f| [F("genes"), I(i), F(f)];
        if g.id().is_empty() || !seen.insert(g.id()) {
            r.bad(
                &at("id"),
                format!("gene id {:?} is empty or used twice", g.id()),
            );
        }
        match g {
            GeneDef::Numeric {
                range: span,
                inherit,
                mutation_chance,
                mutation_size,
                ..
            } => {
                range(&mut r, &at("range"), "range", *span);
                if let Inheritance::Blend { variance } = inherit {
                    r.non_negative(&at("inherit"), "variance", *variance);
                }
                fraction(
                    &mut r,
                    &at("mutation_chance"),
                    "mutation_chance",
                    *mutation_chance,
                );
                r.non_negative(&at("mutation_size"), "mutation_size", *mutation_size);
            }
            GeneDef::Allele {
                alleles,
                mutation_chance,
                ..
            } => {
                if alleles.is_empty() || alleles.len() > 16 {
                    r.bad(
                        &at("alleles"),
                        format!("alleles: 1 to 16 are needed, got {}", alleles.len()),
                    );
                }
                let mut names = HashSet::new();
                for (name, _) in alleles {
                    if name.is_empty() || !names.insert(name.as_str()) {
                        r.bad(
                            &at("alleles"),
                            format!("allele {name:?} is empty or used twice"),
                        );
                    }
                }
                fraction(
                    &mut r,
                    &at("mutation_chance"),
                    "mutation_chance",
                    *mutation_chance,
                );
            }
        }
    }
    let visible = c
        .genes
        .iter()
        .filter(|g| matches!(g, GeneDef::Allele { visible: true, .. }))
        .count();
    if visible > 2 {
        r.bad(
            &[F("genes")],
            format!("at most two genes may be visible, got {visible}"),
        );
    }
    duplicates(&mut r, c.species.iter().map(|s| s.id.as_str()), "species");
    if c.species.len() > 256 {
        r.bad(
            &[F("species")],
            "at most 256 species fit the wire's variant".into(),
        );
    }
    for (i, s) in c.species.iter().enumerate() {
        let at = |f| [F("species"), I(i), F(f)];
        if s.max_hp == 0 {
            r.bad(
                &at("max_hp"),
                format!("{}: max_hp must be at least 1", s.id),
            );
        }
        r.positive(&at("speed"), "speed", s.speed);
        fraction(
            &mut r,
            &at("capture_difficulty"),
            "capture_difficulty",
            s.capture_difficulty,
        );
        r.non_negative(&at("adult_after_s"), "adult_after_s", s.adult_after_s);
    }
    let b = &c.breeding;
    for (i, x) in b.crosses.iter().enumerate() {
        for (name, id) in [
            ("parents", &x.parents.0),
            ("parents", &x.parents.1),
            ("offspring", &x.offspring),
        ] {
            if c.species_index(id).is_none() {
                r.bad(
                    &[F("breeding"), F("crosses"), I(i), F(name)],
                    format!("unknown species {id:?}"),
                );
            }
        }
    }
    r.non_negative(
        &[F("breeding"), F("cooldown_s")],
        "cooldown_s",
        b.cooldown_s,
    );
    r.non_negative(
        &[F("breeding"), F("incubation_s")],
        "incubation_s",
        b.incubation_s,
    );
    r.out
}

/// Checks a zone's `wild` section against the creature content (when it parsed).
pub(super) fn wild(file: &str, z: &ZoneDef, creatures: Option<&CreatureContent>) -> Vec<Problem> {
    let mut r = Report {
        file,
        out: Vec::new(),
    };
    let Some(w) = &z.wild else {
        return r.out;
    };
    r.positive(&[F("wild"), F("cell_size")], "cell_size", w.cell_size);
    let (lo, hi) = w.breed_interval_s;
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
        r.bad(
            &[F("wild"), F("breed_interval_s")],
            format!("breed_interval_s is an empty range: ({lo}, {hi})"),
        );
    }
    if w.cell_size > 0.0 {
        let (cols, rows) = w.grid(z.bounds);
        if u64::from(cols) * u64::from(rows) > 1_000_000 {
            r.bad(
                &[F("wild"), F("cell_size")],
                format!(
                    "cell_size {} cuts the zone into more than a million cells",
                    w.cell_size
                ),
            );
        }
    }
    for (i, p) in w.populations.iter().enumerate() {
        let at = |f| [F("wild"), F("populations"), I(i), F(f)];
        match creatures.map(|c| c.species.iter().find(|s| s.id == p.species)) {
            Some(None) => r.bad(&at("species"), format!("unknown species {:?}", p.species)),
            Some(Some(s)) if !s.habitats.contains(&z.id) => r.bad(
                &at("species"),
                format!(
                    "{} does not live in {} (its habitats: {:?})",
                    s.id, z.id, s.habitats
                ),
            ),
            _ => {}
        }
        let a = p.area;
        if !(a.min.is_finite() && a.max.is_finite() && a.max.x > a.min.x && a.max.y > a.min.y) {
            r.bad(
                &at("area"),
                "area: max must be greater than min on both axes".into(),
            );
        } else if !(z.bounds.contains(a.min) && z.bounds.contains(a.max)) {
            r.bad(&at("area"), "area is not inside the zone bounds".into());
        } else if w.cell_size > 0.0 {
            let room = w.cells_over(z.bounds, a) * u64::from(p.cap_per_cell);
            if u64::from(p.initial) > room {
                r.bad(
                    &at("cap_per_cell"),
                    format!(
                        "cap_per_cell {} over the area's {} cells holds {room}, below the initial {}",
                        p.cap_per_cell,
                        w.cells_over(z.bounds, a),
                        p.initial
                    ),
                );
            }
        }
    }
    r.out
}
