//! Semantic checks on parsed content. Each problem names the path of the offending
//! value (`skills[2].cooldown_s`), which the loader turns into `file:line:col`.

use std::collections::HashSet;

use glam::Vec2;

use super::locate::Seg;
use super::{
    ClassDef, EnemyDef, ExitTarget, IdleBehaviour, NetcodeDef, Obstacle, SkillDef, SkillEffect,
    SkillTarget, TelegraphShape, ZoneDef,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Field(&'static str),
    Index(usize),
}

/// One problem: file, path to the value, message.
#[derive(Debug, Clone)]
pub(super) struct Problem {
    pub file: String,
    pub path: Vec<Step>,
    pub message: String,
}

impl Problem {
    pub fn segs(&self) -> Vec<Seg<'static>> {
        self.path
            .iter()
            .map(|s| match *s {
                Step::Field(f) => Seg::Field(f),
                Step::Index(i) => Seg::Index(i),
            })
            .collect()
    }
}

/// Collects problems for one file.
pub(super) struct Report<'a> {
    pub file: &'a str,
    pub out: Vec<Problem>,
}

impl Report<'_> {
    pub fn bad(&mut self, path: &[Step], message: String) {
        self.out.push(Problem {
            file: self.file.to_string(),
            path: path.to_vec(),
            message,
        });
    }

    /// `value` must be finite and > 0.
    pub fn positive(&mut self, path: &[Step], name: &str, value: f32) {
        if !(value.is_finite() && value > 0.0) {
            self.bad(path, format!("{name} must be positive, got {value}"));
        }
    }

    /// `value` must be finite and >= 0.
    pub fn non_negative(&mut self, path: &[Step], name: &str, value: f32) {
        if !(value.is_finite() && value >= 0.0) {
            self.bad(path, format!("{name} must not be negative, got {value}"));
        }
    }
}

use Step::{Field as F, Index as I};

pub(super) fn duplicates<'a>(r: &mut Report<'_>, ids: impl Iterator<Item = &'a str>, what: &str) {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if id.is_empty() {
            r.bad(&[I(i), F("id")], format!("{what} id must not be empty"));
        } else if !seen.insert(id) {
            r.bad(&[I(i), F("id")], format!("duplicate {what} id {id:?}"));
        }
    }
}

/// Checks the shared files (netcode, skills, classes, enemies) that parsed, and their
/// references where the file referred to parsed too: a designer sees every problem
/// of the files that can be read, even while another one does not parse.
pub(super) fn shared(
    netcode: Option<&NetcodeDef>,
    skills: Option<&[SkillDef]>,
    classes: Option<&[ClassDef]>,
    enemies: Option<&[EnemyDef]>,
) -> Vec<Problem> {
    let mut out = netcode.map(check_netcode).unwrap_or_default();
    out.extend(skills.map(check_skills).unwrap_or_default());
    out.extend(
        classes
            .map(|c| check_classes(c, skills))
            .unwrap_or_default(),
    );
    out.extend(enemies.map(check_enemies).unwrap_or_default());
    out
}

fn check_netcode(n: &NetcodeDef) -> Vec<Problem> {
    let mut r = Report {
        file: "netcode.ron",
        out: Vec::new(),
    };
    if !(1..=128).contains(&n.tick_rate_hz) {
        r.bad(
            &[F("tick_rate_hz")],
            format!(
                "tick_rate_hz must be between 1 and 128, got {}",
                n.tick_rate_hz
            ),
        );
    }
    let ring = arcane_protocol::snapshot::SENT_RING as u32;
    if n.ack_timeout_ticks < ring {
        r.bad(
            &[F("ack_timeout_ticks")],
            format!(
                "ack_timeout_ticks must be at least {ring} (the snapshots a client may lag \
                 before its baseline is lost), got {}",
                n.ack_timeout_ticks
            ),
        );
    }
    if n.index_rebuild_interval_ticks == 0 {
        r.bad(
            &[F("index_rebuild_interval_ticks")],
            "index_rebuild_interval_ticks must be at least 1".into(),
        );
    }
    let i = &n.input;
    for (name, v) in [
        ("max_queued", i.max_queued),
        ("max_per_tick", i.max_per_tick),
        ("credit_cap", i.credit_cap),
    ] {
        if v == 0 {
            r.bad(
                &[F("input"), F(name)],
                format!("input.{name} must be at least 1"),
            );
        }
    }
    r.positive(
        &[F("input"), F("kick_score")],
        "input.kick_score",
        i.kick_score,
    );
    r.non_negative(
        &[F("input"), F("score_decay_per_tick")],
        "input.score_decay_per_tick",
        i.score_decay_per_tick,
    );
    for (name, t) in [("mobile", &n.tiers.mobile), ("desktop", &n.tiers.desktop)] {
        let at = |f: &'static str| [F("tiers"), F(name), F(f)];
        r.positive(&at("radius"), &format!("tiers.{name}.radius"), t.radius);
        r.non_negative(&at("margin"), &format!("tiers.{name}.margin"), t.margin);
        r.positive(
            &at("priority_falloff"),
            &format!("tiers.{name}.priority_falloff"),
            t.priority_falloff,
        );
        // Local ids 0..=MAX_LOCAL: one byte on the wire.
        let most = arcane_protocol::snapshot::MAX_LOCAL + 1;
        if t.tracked_cap == 0 || t.tracked_cap > most {
            r.bad(
                &at("tracked_cap"),
                format!(
                    "tiers.{name}.tracked_cap must be between 1 and {most} (one-byte local ids), got {}",
                    t.tracked_cap
                ),
            );
        }
        if t.query_interval_ticks == 0 {
            r.bad(
                &at("query_interval_ticks"),
                format!("tiers.{name}.query_interval_ticks must be at least 1"),
            );
        }
        if t.snapshot_cap == 0 || t.snapshot_cap > t.tracked_cap {
            r.bad(
                &at("snapshot_cap"),
                format!(
                    "tiers.{name}.snapshot_cap must be between 1 and tracked_cap, got {}",
                    t.snapshot_cap
                ),
            );
        }
    }
    r.out
}

fn check_skills(skills: &[SkillDef]) -> Vec<Problem> {
    let mut r = Report {
        file: "skills.ron",
        out: Vec::new(),
    };
    duplicates(&mut r, skills.iter().map(|s| s.id.as_str()), "skill");
    for (i, s) in skills.iter().enumerate() {
        let id = &s.id;
        r.non_negative(
            &[I(i), F("mana_cost")],
            &format!("{id}: mana_cost"),
            s.mana_cost,
        );
        r.positive(
            &[I(i), F("cooldown_s")],
            &format!("{id}: cooldown_s"),
            s.cooldown_s,
        );
        r.non_negative(
            &[I(i), F("cast_time_s")],
            &format!("{id}: cast_time_s"),
            s.cast_time_s,
        );
        if s.target == SkillTarget::Caster {
            r.non_negative(&[I(i), F("range")], &format!("{id}: range"), s.range);
        } else {
            r.positive(&[I(i), F("range")], &format!("{id}: range"), s.range);
        }
        let eff = |f: &'static str| [I(i), F("effect"), F(f)];
        match &s.effect {
            SkillEffect::Projectile {
                speed,
                max_range,
                damage,
                hit_radius,
                ..
            } => {
                r.positive(&eff("speed"), &format!("{id}: speed"), *speed);
                r.positive(&eff("max_range"), &format!("{id}: max_range"), *max_range);
                r.positive(
                    &eff("hit_radius"),
                    &format!("{id}: hit_radius"),
                    *hit_radius,
                );
                if *damage == 0 {
                    r.bad(&eff("damage"), format!("{id}: damage must be at least 1"));
                }
                if s.target != SkillTarget::Enemy {
                    r.bad(
                        &[I(i), F("target")],
                        format!("{id}: a projectile skill must target Enemy"),
                    );
                }
            }
            SkillEffect::Nova {
                radius,
                damage,
                knockback,
            } => {
                r.positive(&eff("radius"), &format!("{id}: radius"), *radius);
                r.non_negative(&eff("knockback"), &format!("{id}: knockback"), *knockback);
                if *damage == 0 {
                    r.bad(&eff("damage"), format!("{id}: damage must be at least 1"));
                }
                if s.target != SkillTarget::Caster {
                    r.bad(
                        &[I(i), F("target")],
                        format!("{id}: a nova skill must target Caster"),
                    );
                }
            }
            SkillEffect::Heal { amount } => {
                if *amount == 0 {
                    r.bad(&eff("amount"), format!("{id}: amount must be at least 1"));
                }
                if s.target != SkillTarget::AllyOrSelf {
                    r.bad(
                        &[I(i), F("target")],
                        format!("{id}: a heal skill must target AllyOrSelf"),
                    );
                }
            }
        }
    }
    r.out
}

/// The classes, and their skills when `skills.ron` parsed.
fn check_classes(classes: &[ClassDef], skills: Option<&[SkillDef]>) -> Vec<Problem> {
    let mut r = Report {
        file: "classes.ron",
        out: Vec::new(),
    };
    duplicates(&mut r, classes.iter().map(|c| c.id.as_str()), "class");
    for (i, c) in classes.iter().enumerate() {
        let id = &c.id;
        if c.max_hp == 0 {
            r.bad(
                &[I(i), F("max_hp")],
                format!("{id}: max_hp must be at least 1"),
            );
        }
        r.non_negative(
            &[I(i), F("max_mana")],
            &format!("{id}: max_mana"),
            c.max_mana,
        );
        r.non_negative(
            &[I(i), F("mana_regen_per_s")],
            &format!("{id}: mana_regen_per_s"),
            c.mana_regen_per_s,
        );
        r.non_negative(
            &[I(i), F("global_cooldown_s")],
            &format!("{id}: global_cooldown_s"),
            c.global_cooldown_s,
        );
        r.non_negative(
            &[I(i), F("respawn_delay_s")],
            &format!("{id}: respawn_delay_s"),
            c.respawn_delay_s,
        );
        r.non_negative(
            &[I(i), F("respawn_invulnerable_s")],
            &format!("{id}: respawn_invulnerable_s"),
            c.respawn_invulnerable_s,
        );
        if c.skills.len() > 16 {
            r.bad(
                &[I(i), F("skills")],
                format!("{id}: at most 16 skill slots"),
            );
        }
        for (k, s) in c.skills.iter().enumerate() {
            if skills.is_some_and(|skills| !skills.iter().any(|d| &d.id == s)) {
                r.bad(
                    &[I(i), F("skills"), I(k)],
                    format!("{id}: unknown skill {s:?} (not in skills.ron)"),
                );
            }
        }
    }
    r.out
}

fn check_enemies(enemies: &[EnemyDef]) -> Vec<Problem> {
    let mut r = Report {
        file: "enemies.ron",
        out: Vec::new(),
    };
    duplicates(&mut r, enemies.iter().map(|e| e.id.as_str()), "enemy");
    for (i, e) in enemies.iter().enumerate() {
        let id = &e.id;
        if e.max_hp == 0 {
            r.bad(
                &[I(i), F("max_hp")],
                format!("{id}: max_hp must be at least 1"),
            );
        }
        r.positive(&[I(i), F("speed")], &format!("{id}: speed"), e.speed);
        r.positive(
            &[I(i), F("aggro_radius")],
            &format!("{id}: aggro_radius"),
            e.aggro_radius,
        );
        if !(e.leash_radius.is_finite() && e.leash_radius > e.aggro_radius) {
            r.bad(
                &[I(i), F("leash_radius")],
                format!(
                    "{id}: leash_radius ({}) must be greater than aggro_radius ({})",
                    e.leash_radius, e.aggro_radius
                ),
            );
        }
        if let IdleBehaviour::Wander { radius } = e.idle {
            r.positive(
                &[I(i), F("idle"), F("radius")],
                &format!("{id}: idle wander radius"),
                radius,
            );
        }
        let a = &e.attack;
        let at = |f: &'static str| [I(i), F("attack"), F(f)];
        r.positive(&at("range"), &format!("{id}: attack.range"), a.range);
        r.non_negative(
            &at("windup_s"),
            &format!("{id}: attack.windup_s"),
            a.windup_s,
        );
        r.non_negative(
            &at("recover_s"),
            &format!("{id}: attack.recover_s"),
            a.recover_s,
        );
        if a.damage == 0 {
            r.bad(
                &at("damage"),
                format!("{id}: attack.damage must be at least 1"),
            );
        }
        let shape = |f: &'static str| [I(i), F("attack"), F("shape"), F(f)];
        match a.shape {
            TelegraphShape::Circle { radius } => {
                r.positive(&shape("radius"), &format!("{id}: telegraph radius"), radius);
            }
            TelegraphShape::Cone { length, angle_deg } => {
                r.positive(&shape("length"), &format!("{id}: telegraph length"), length);
                if !(angle_deg > 0.0 && angle_deg <= 360.0) {
                    r.bad(
                        &shape("angle_deg"),
                        format!("{id}: telegraph angle_deg must be in (0, 360], got {angle_deg}"),
                    );
                }
            }
            TelegraphShape::Line { length, width } => {
                r.positive(&shape("length"), &format!("{id}: telegraph length"), length);
                r.positive(&shape("width"), &format!("{id}: telegraph width"), width);
            }
        }
    }
    r.out
}

fn point_problem(z: &ZoneDef, p: Vec2) -> Option<&'static str> {
    if !(p.is_finite() && z.bounds.contains(p)) {
        Some("is outside the zone bounds")
    } else if z.obstacles.iter().any(|o| o.contains(p)) {
        Some("is inside an obstacle")
    } else {
        None
    }
}

/// Checks one zone file, and its references into the shared files that parsed.
pub(super) fn zone(
    file: &str,
    z: &ZoneDef,
    expected_id: &str,
    classes: Option<&[ClassDef]>,
    enemies: Option<&[EnemyDef]>,
    zone_ids: &[String],
) -> Vec<Problem> {
    let mut r = Report {
        file,
        out: Vec::new(),
    };
    if z.id != expected_id {
        r.bad(
            &[F("id")],
            format!("id {:?} does not match the file name {expected_id:?}", z.id),
        );
    }
    let b = z.bounds;
    if !(b.min.is_finite() && b.max.is_finite() && b.max.x > b.min.x && b.max.y > b.min.y) {
        r.bad(
            &[F("bounds")],
            "bounds: max must be greater than min on both axes".into(),
        );
    }
    r.positive(&[F("player_speed")], "player_speed", z.player_speed);
    if z.max_players == 0 {
        r.bad(&[F("max_players")], "max_players must be at least 1".into());
    }
    if z.spawn_points.is_empty() {
        r.bad(
            &[F("spawn_points")],
            "spawn_points: at least one spawn point is needed".into(),
        );
    }
    r.non_negative(&[F("spawn_radius")], "spawn_radius", z.spawn_radius);
    for (list, points) in [
        ("spawn_points", &z.spawn_points),
        ("respawn_points", &z.respawn_points),
    ] {
        for (i, p) in points.iter().enumerate() {
            if let Some(why) = point_problem(z, *p) {
                r.bad(
                    &[F(list), I(i)],
                    format!("{list}[{i}] ({}, {}) {why}", p.x, p.y),
                );
            }
        }
    }
    for (i, o) in z.obstacles.iter().enumerate() {
        let ok = match *o {
            Obstacle::Circle { center, radius } => center.is_finite() && radius > 0.0,
            Obstacle::Box { min, max } => {
                min.is_finite() && max.is_finite() && max.x > min.x && max.y > min.y
            }
        };
        if !ok {
            r.bad(
                &[F("obstacles"), I(i)],
                format!("obstacles[{i}] has a non-positive size"),
            );
        }
    }
    for (i, g) in z.npcs.iter().enumerate() {
        r.non_negative(
            &[F("npcs"), I(i), F("speed")],
            &format!("npcs[{i}].speed"),
            g.speed,
        );
        if g.min_leg_ticks == 0 || g.max_leg_ticks < g.min_leg_ticks {
            r.bad(
                &[F("npcs"), I(i), F("min_leg_ticks")],
                format!("npcs[{i}]: need 1 <= min_leg_ticks <= max_leg_ticks"),
            );
        }
        if !(0.0..=1.0).contains(&g.idle_chance) {
            r.bad(
                &[F("npcs"), I(i), F("idle_chance")],
                format!("npcs[{i}].idle_chance must be between 0 and 1"),
            );
        }
    }
    for (i, x) in z.exits.iter().enumerate() {
        let a = x.area;
        if !(a.min.is_finite() && a.max.is_finite() && a.max.x > a.min.x && a.max.y > a.min.y) {
            r.bad(
                &[F("exits"), I(i), F("area")],
                format!("exits[{i}].area: max must be greater than min on both axes"),
            );
        } else if !(b.contains(a.min) && b.contains(a.max)) {
            r.bad(
                &[F("exits"), I(i), F("area")],
                format!("exits[{i}].area is not inside the zone bounds"),
            );
        }
        let (ExitTarget::Zone(to) | ExitTarget::Instance(to)) = &x.to;
        if !zone_ids.iter().any(|id| id == to) {
            r.bad(
                &[F("exits"), I(i), F("to")],
                format!("exits[{i}]: unknown zone {to:?} (no zones/{to}.ron)"),
            );
        } else if to == &z.id {
            r.bad(
                &[F("exits"), I(i), F("to")],
                format!("exits[{i}] leads back into {to:?} itself"),
            );
        }
        if z.spawn_points.iter().any(|p| a.contains(*p)) {
            r.bad(
                &[F("exits"), I(i), F("area")],
                format!("exits[{i}].area covers a spawn point (players would leave at once)"),
            );
        }
    }
    if let Some(inst) = &z.instance {
        r.positive(
            &[F("instance"), F("close_after_empty_s")],
            "instance.close_after_empty_s",
            inst.close_after_empty_s,
        );
    }
    if let Some(n) = z.overflow_at
        && (n == 0 || n > z.max_players)
    {
        r.bad(
            &[F("overflow_at")],
            format!(
                "overflow_at must be between 1 and max_players ({})",
                z.max_players
            ),
        );
    }
    if classes.is_some_and(|classes| !classes.iter().any(|c| c.id == z.player_class)) {
        r.bad(
            &[F("player_class")],
            format!("unknown class {:?} (not in classes.ron)", z.player_class),
        );
    }
    for (i, s) in z.spawners.iter().enumerate() {
        if enemies.is_some_and(|enemies| !enemies.iter().any(|e| e.id == s.enemy)) {
            r.bad(
                &[F("spawners"), I(i), F("enemy")],
                format!(
                    "spawners[{i}]: unknown enemy {:?} (not in enemies.ron)",
                    s.enemy
                ),
            );
        }
        if let Some(why) = point_problem(z, s.at) {
            r.bad(
                &[F("spawners"), I(i), F("at")],
                format!("spawners[{i}].at ({}, {}) {why}", s.at.x, s.at.y),
            );
        }
        r.non_negative(
            &[F("spawners"), I(i), F("radius")],
            &format!("spawners[{i}].radius"),
            s.radius,
        );
        r.positive(
            &[F("spawners"), I(i), F("respawn_s")],
            &format!("spawners[{i}].respawn_s"),
            s.respawn_s,
        );
    }
    r.out
}
