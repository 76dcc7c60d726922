//! Genomes: drawing a wild founder, inheritance with mutation, dominance, what a
//! genome expresses (temperament, diet, size, speed, vigour), and the saved form (by
//! gene id, so a changed gene table still reads old genomes). Pure rules over the
//! content and a random stream.

use std::collections::BTreeMap;

use arcane_protocol::TraitView;
use arcane_protocol::saved::SavedGene;

use crate::content::{CreatureContent, GeneDef, Inheritance, SpeciesDef};
use crate::rng::ZoneStream;

/// One gene's value, in the gene table's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gene {
    Numeric(f32),
    /// Indices into the gene's allele list, one from each parent.
    Alleles(u8, u8),
}

/// A creature's genes, under the gene table version it was written with.
#[derive(Debug, Clone, PartialEq)]
pub struct Genome {
    pub version: u16,
    pub genes: Vec<Gene>,
}

/// How a creature behaves toward players (the `temperament` gene).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Temperament {
    /// Ignores players.
    Docile,
    /// Runs from players who come close.
    Skittish,
    /// Bites weakened players who come close.
    Aggressive,
}

/// What a genome makes of a species: the numbers the simulation uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phenotype {
    pub temperament: Temperament,
    pub max_hp: u32,
    /// Metres per second.
    pub speed: f32,
    /// Damage of a bite (the species' attack, scaled by size and diet).
    pub bite: u32,
}

fn alleles(g: &GeneDef) -> usize {
    match g {
        GeneDef::Allele { alleles, .. } => alleles.len().max(1),
        GeneDef::Numeric { .. } => 1,
    }
}

/// Uniform allele index of a gene.
fn any_allele(g: &GeneDef, rng: &mut ZoneStream) -> u8 {
    rng.below(alleles(g) as u32) as u8
}

impl Genome {
    /// A wild founder: numbers uniform in their range, alleles uniform.
    pub fn random(c: &CreatureContent, rng: &mut ZoneStream) -> Genome {
        let genes = c
            .genes
            .iter()
            .map(|g| match g {
                GeneDef::Numeric { range, .. } => Gene::Numeric(rng.range(range.0, range.1)),
                GeneDef::Allele { .. } => Gene::Alleles(any_allele(g, rng), any_allele(g, rng)),
            })
            .collect();
        Genome {
            version: c.gene_table_version,
            genes,
        }
    }

    /// An offspring of `a` and `b` by the table's inheritance rules, then mutation.
    pub fn inherit(c: &CreatureContent, a: &Genome, b: &Genome, rng: &mut ZoneStream) -> Genome {
        let genes = c
            .genes
            .iter()
            .enumerate()
            .map(|(i, def)| {
                let (ga, gb) = (a.gene(c, i), b.gene(c, i));
                match def {
                    GeneDef::Numeric {
                        range,
                        inherit,
                        mutation_chance,
                        mutation_size,
                        ..
                    } => {
                        let (va, vb) = (numeric(ga), numeric(gb));
                        let mut v = match inherit {
                            Inheritance::Blend { variance } => {
                                (va + vb) * 0.5 + rng.range(-variance, *variance)
                            }
                            Inheritance::PickParent => {
                                if rng.chance(0.5) {
                                    va
                                } else {
                                    vb
                                }
                            }
                        };
                        if rng.chance(*mutation_chance) {
                            v += rng.range(-mutation_size, *mutation_size);
                        }
                        Gene::Numeric(v.clamp(range.0, range.1))
                    }
                    GeneDef::Allele {
                        mutation_chance, ..
                    } => {
                        let mut from = |g: Gene| {
                            let (x, y) = pair(g);
                            let pick = if rng.chance(0.5) { x } else { y };
                            if rng.chance(*mutation_chance) {
                                any_allele(def, rng)
                            } else {
                                pick
                            }
                        };
                        let first = from(ga);
                        let second = from(gb);
                        Gene::Alleles(first, second)
                    }
                }
            })
            .collect();
        Genome {
            version: c.gene_table_version,
            genes,
        }
    }

    /// Gene `i` of the current table, or its neutral value when this genome is
    /// shorter (a table that grew since).
    fn gene(&self, c: &CreatureContent, i: usize) -> Gene {
        match (self.genes.get(i), &c.genes[i]) {
            (Some(g @ Gene::Numeric(_)), GeneDef::Numeric { .. })
            | (Some(g @ Gene::Alleles(..)), GeneDef::Allele { .. }) => *g,
            (_, def) => neutral(def),
        }
    }

    /// The allele index gene `i` shows: the more dominant of the pair (the first on a
    /// tie).
    pub fn expressed_allele(&self, c: &CreatureContent, i: usize) -> Option<u8> {
        let GeneDef::Allele { alleles, .. } = c.genes.get(i)? else {
            return None;
        };
        let (x, y) = pair(self.gene(c, i));
        let rank = |a: u8| alleles.get(usize::from(a)).map_or(0, |(_, r)| *r);
        Some(if rank(y) > rank(x) { y } else { x })
    }

    /// The expressed allele name of gene `id`.
    pub fn allele<'c>(&self, c: &'c CreatureContent, id: &str) -> Option<&'c str> {
        let i = c.gene_index(id)?;
        let a = self.expressed_allele(c, i)?;
        match &c.genes[i] {
            GeneDef::Allele { alleles, .. } => alleles.get(usize::from(a)).map(|(n, _)| n.as_str()),
            GeneDef::Numeric { .. } => None,
        }
    }

    /// The value of numeric gene `id` (1.0 when the table has none).
    pub fn number(&self, c: &CreatureContent, id: &str) -> f32 {
        match c.gene_index(id).map(|i| self.gene(c, i)) {
            Some(Gene::Numeric(v)) => v,
            _ => 1.0,
        }
    }

    /// What this genome makes of `species`.
    pub fn phenotype(&self, c: &CreatureContent, species: &SpeciesDef) -> Phenotype {
        let temperament = match self.allele(c, "temperament") {
            Some("skittish") => Temperament::Skittish,
            Some("aggressive") => Temperament::Aggressive,
            _ => Temperament::Docile,
        };
        let diet = match self.allele(c, "diet") {
            Some("carnivore") => 1.5,
            Some("herbivore") => 0.5,
            _ => 1.0,
        };
        let size = self.number(c, "size");
        Phenotype {
            temperament,
            max_hp: ((species.max_hp as f32) * self.number(c, "vigour") * size.sqrt())
                .round()
                .max(1.0) as u32,
            speed: species.speed * self.number(c, "speed"),
            bite: ((species.attack as f32) * size * diet).round().max(1.0) as u32,
        }
    }

    /// Every gene as the client shows it.
    pub fn traits(&self, c: &CreatureContent) -> Vec<TraitView> {
        c.genes
            .iter()
            .enumerate()
            .map(|(i, def)| TraitView {
                gene: def.id().to_string(),
                value: match (self.gene(c, i), def) {
                    (Gene::Numeric(v), _) => format!("{v:.2}"),
                    (g, GeneDef::Allele { alleles, .. }) => {
                        let (x, y) = pair(g);
                        let name = |a: u8| alleles.get(usize::from(a)).map_or("?", |(n, _)| n);
                        let shown = self.expressed_allele(c, i).unwrap_or(x);
                        let hidden = if shown == x { y } else { x };
                        format!("{} ({}/{})", name(shown), name(shown), name(hidden))
                    }
                    (Gene::Alleles(..), GeneDef::Numeric { .. }) => String::new(),
                },
            })
            .collect()
    }

    /// The saved form: genes by id, alleles by name.
    pub fn to_saved(&self, c: &CreatureContent) -> BTreeMap<String, SavedGene> {
        c.genes
            .iter()
            .enumerate()
            .map(|(i, def)| {
                let v = match (self.gene(c, i), def) {
                    (g, GeneDef::Allele { alleles, .. }) => {
                        let (x, y) = pair(g);
                        let name = |a: u8| {
                            alleles
                                .get(usize::from(a))
                                .map_or_else(String::new, |(n, _)| n.clone())
                        };
                        SavedGene::Alleles(name(x), name(y))
                    }
                    (g, GeneDef::Numeric { .. }) => SavedGene::Numeric(numeric(g)),
                };
                (def.id().to_string(), v)
            })
            .collect()
    }

    /// Reads a saved genome against the current table, by gene id: genes the table
    /// lost are dropped, genes it gained take their neutral value (the range's middle,
    /// the first allele), unknown allele names become the first allele, numbers are
    /// clamped into today's range.
    pub fn from_saved(c: &CreatureContent, saved: &BTreeMap<String, SavedGene>) -> Genome {
        let genes = c
            .genes
            .iter()
            .map(|def| match (saved.get(def.id()), def) {
                (Some(SavedGene::Numeric(v)), GeneDef::Numeric { range, .. }) if v.is_finite() => {
                    Gene::Numeric(v.clamp(range.0, range.1))
                }
                (Some(SavedGene::Alleles(x, y)), GeneDef::Allele { alleles, .. }) => {
                    let index = |n: &str| {
                        alleles
                            .iter()
                            .position(|(a, _)| a == n)
                            .unwrap_or(0)
                            .min(255) as u8
                    };
                    Gene::Alleles(index(x), index(y))
                }
                (_, def) => neutral(def),
            })
            .collect();
        Genome {
            version: c.gene_table_version,
            genes,
        }
    }

    /// Sets gene `id` so that it expresses `value` (admin tools): an allele name
    /// (both alleles) or a number (clamped into the range).
    pub fn set(&mut self, c: &CreatureContent, id: &str, value: &str) -> Result<(), String> {
        let i = c
            .gene_index(id)
            .ok_or_else(|| format!("unknown gene {id:?}"))?;
        self.genes = (0..c.genes.len()).map(|k| self.gene(c, k)).collect();
        self.genes[i] = match &c.genes[i] {
            GeneDef::Numeric { range, .. } => {
                let v: f32 = value
                    .parse()
                    .map_err(|_| format!("{id}: {value:?} is not a number"))?;
                if !v.is_finite() {
                    return Err(format!("{id}: {value:?} is not a number"));
                }
                Gene::Numeric(v.clamp(range.0, range.1))
            }
            GeneDef::Allele { alleles, .. } => {
                let a = alleles
                    .iter()
                    .position(|(n, _)| n == value)
                    .ok_or_else(|| format!("{id}: no allele {value:?}"))?;
                Gene::Alleles(a as u8, a as u8)
            }
        };
        Ok(())
    }

    /// Feeds the genome to a hasher (state hashes, determinism tests).
    pub fn hash_into(&self, h: &mut impl std::hash::Hasher) {
        h.write_u16(self.version);
        for g in &self.genes {
            match *g {
                Gene::Numeric(v) => h.write_u32(v.to_bits()),
                Gene::Alleles(x, y) => h.write_u16(u16::from(x) << 8 | u16::from(y)),
            }
        }
    }
}

fn numeric(g: Gene) -> f32 {
    match g {
        Gene::Numeric(v) => v,
        Gene::Alleles(..) => 1.0,
    }
}

fn pair(g: Gene) -> (u8, u8) {
    match g {
        Gene::Alleles(x, y) => (x, y),
        Gene::Numeric(_) => (0, 0),
    }
}

fn neutral(def: &GeneDef) -> Gene {
    match def {
        GeneDef::Numeric { range, .. } => Gene::Numeric((range.0 + range.1) * 0.5),
        GeneDef::Allele { .. } => Gene::Alleles(0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ContentSources;

    fn content() -> CreatureContent {
        ContentSources::shipped().zone("meadow").unwrap().creatures
    }

    #[test]
    fn the_dominant_allele_shows_and_the_recessive_one_is_carried() {
        let c = content();
        let t = c.gene_index("temperament").unwrap();
        // docile (rank 1) with aggressive (rank 3): aggressive shows, either order.
        for pair in [Gene::Alleles(0, 2), Gene::Alleles(2, 0)] {
            let mut g = Genome::random(&c, &mut ZoneStream::keyed(1, 0, 0, 0));
            g.genes[t] = pair;
            assert_eq!(g.allele(&c, "temperament"), Some("aggressive"));
            let species = &c.species[0];
            assert_eq!(
                g.phenotype(&c, species).temperament,
                Temperament::Aggressive
            );
        }
    }

    #[test]
    fn offspring_take_one_allele_from_each_parent_and_numbers_stay_in_range() {
        let mut c = content();
        for g in &mut c.genes {
            match g {
                GeneDef::Allele {
                    mutation_chance, ..
                } => *mutation_chance = 0.0,
                GeneDef::Numeric {
                    mutation_chance, ..
                } => *mutation_chance = 1.0,
            }
        }
        let t = c.gene_index("temperament").unwrap();
        let size = c.gene_index("size").unwrap();
        let mut a = Genome::random(&c, &mut ZoneStream::keyed(1, 1, 0, 0));
        let mut b = Genome::random(&c, &mut ZoneStream::keyed(1, 2, 0, 0));
        a.genes[t] = Gene::Alleles(0, 0);
        b.genes[t] = Gene::Alleles(1, 1);
        a.genes[size] = Gene::Numeric(1.6);
        b.genes[size] = Gene::Numeric(1.6);
        for k in 0..200 {
            let child = Genome::inherit(&c, &a, &b, &mut ZoneStream::keyed(9, k, 0, 0));
            assert_eq!(child.genes[t], Gene::Alleles(0, 1));
            let Gene::Numeric(v) = child.genes[size] else {
                panic!()
            };
            assert!((0.6..=1.6).contains(&v), "{v}");
        }
    }

    #[test]
    fn a_saved_genome_reads_back_and_survives_a_changed_table() {
        let c = content();
        let g = Genome::random(&c, &mut ZoneStream::keyed(3, 0, 0, 0));
        let saved = g.to_saved(&c);
        assert_eq!(Genome::from_saved(&c, &saved), g);
        // Version 2 drops "colour", adds "luck" and reorders temperament's alleles.
        let mut c2 = c.clone();
        c2.gene_table_version = 2;
        c2.genes.retain(|d| d.id() != "colour");
        c2.genes.push(GeneDef::Numeric {
            id: "luck".into(),
            range: (0.0, 2.0),
            inherit: Inheritance::PickParent,
            mutation_chance: 0.0,
            mutation_size: 0.0,
        });
        if let GeneDef::Allele { alleles, .. } = &mut c2.genes[0] {
            alleles.reverse();
        }
        let read = Genome::from_saved(&c2, &saved);
        assert_eq!(read.version, 2);
        assert_eq!(read.allele(&c2, "temperament"), g.allele(&c, "temperament"));
        assert_eq!(read.number(&c2, "size"), g.number(&c, "size"));
        assert_eq!(read.number(&c2, "luck"), 1.0);
    }

    #[test]
    fn admin_set_expresses_the_value_asked_for() {
        let c = content();
        let mut g = Genome::random(&c, &mut ZoneStream::keyed(3, 0, 0, 0));
        g.set(&c, "temperament", "skittish").unwrap();
        g.set(&c, "size", "9").unwrap();
        assert_eq!(g.allele(&c, "temperament"), Some("skittish"));
        assert_eq!(g.number(&c, "size"), 1.6);
        assert!(g.set(&c, "temperament", "grumpy").is_err());
        assert!(g.set(&c, "wings", "2").is_err());
    }
}
