//! Creatures (`content/creatures.ron`): species, the versioned gene table, capture and
//! breeding rules; and a zone's wild populations (`wild` in `zones/<id>.ron`).

use glam::Vec2;
use serde::Deserialize;

use super::Bounds;

/// Everything `creatures.ron` holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatureContent {
    /// Bumped whenever the gene table changes meaning (genes added, removed,
    /// reordered); every genome records the version it was written under, and older
    /// genomes are read by gene id.
    pub gene_table_version: u16,
    /// Creatures and eggs a player may hold.
    pub roster_capacity: u16,
    pub capture: CaptureRules,
    pub genes: Vec<GeneDef>,
    pub species: Vec<SpeciesDef>,
    pub breeding: BreedingRules,
}

/// When a capture may be tried and how likely it is to hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRules {
    /// Metres from the player to the creature.
    pub range: f32,
    /// The creature's HP must be at most this fraction of its maximum.
    pub max_hp_fraction: f32,
    /// Seconds between two tries of one player.
    pub cooldown_s: f32,
    /// Chance = `base_chance` × (1 − species difficulty) + `weakness_bonus` × (1 −
    /// HP fraction), clamped to [0, 1].
    pub base_chance: f32,
    pub weakness_bonus: f32,
}

/// How a numeric gene passes to offspring.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Inheritance {
    /// The parents' mean plus a uniform draw in ±`variance`.
    Blend { variance: f32 },
    /// One parent's value, chosen at random.
    PickParent,
}

/// A (min, max) range.
pub type Span = (f32, f32);

/// An allele's name and dominance.
pub type AlleleDef = (String, u8);

/// One gene of the table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum GeneDef {
    /// A number in `range` (size, vigour, speed…).
    Numeric {
        id: String,
        range: Span,
        inherit: Inheritance,
        /// Chance per birth that the value moves by a uniform draw in ±`mutation_size`.
        mutation_chance: f32,
        mutation_size: f32,
    },
    /// Two alleles per creature, one from each parent; the more dominant one shows.
    Allele {
        id: String,
        /// Allele names with their dominance (higher shows over lower; a tie shows the
        /// first parent's).
        alleles: Vec<AlleleDef>,
        /// Chance per inherited allele that it turns into a random one.
        mutation_chance: f32,
        /// Shown on wild creatures (at most two genes; in the entity's variant).
        #[serde(default)]
        visible: bool,
    },
}

impl GeneDef {
    pub fn id(&self) -> &str {
        match self {
            GeneDef::Numeric { id, .. } | GeneDef::Allele { id, .. } => id,
        }
    }
}

/// A species (`creatures.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeciesDef {
    pub id: String,
    pub name: String,
    pub max_hp: u32,
    /// Metres per second (times the `speed` gene when there is one).
    pub speed: f32,
    /// Damage of an aggressive creature's bite.
    pub attack: u32,
    /// 0 (easy) to 1 (impossible at full health).
    pub capture_difficulty: f32,
    /// Zone ids it lives in (its wild populations must be in these).
    pub habitats: Vec<String>,
    /// Seconds from birth before it may breed.
    pub adult_after_s: f32,
}

/// A cross between two species and what hatches from it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cross {
    pub parents: (String, String),
    pub offspring: String,
}

/// Breeding rules for players' and wild creatures.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreedingRules {
    /// Two creatures of one species always breed true; other pairs only as listed.
    pub crosses: Vec<Cross>,
    /// Seconds a creature waits between two breedings.
    pub cooldown_s: f32,
    /// Seconds from a player's breeding to the egg hatching.
    pub incubation_s: f32,
    /// Highest generation an offspring may have.
    pub max_generation: u16,
    /// Whether parent × child and siblings may breed.
    pub allow_close_kin: bool,
}

/// A zone's wild creatures (`wild` in the zone file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WildDef {
    /// Side of a breeding cell, metres; the zone is cut into a grid of these.
    pub cell_size: f32,
    /// Each cell breeds on its own timer, drawn in this range (seconds) each time.
    #[serde(default = "default_interval")]
    pub breed_interval_s: (f32, f32),
    pub populations: Vec<WildPopulation>,
}

fn default_interval() -> (f32, f32) {
    (5.0, 15.0)
}

/// One species living in an area of the zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WildPopulation {
    pub species: String,
    pub area: Bounds,
    /// Creatures placed when the zone starts.
    pub initial: u32,
    /// Most creatures of this species one cell may hold; births stop there.
    pub cap_per_cell: u32,
}

impl WildDef {
    /// The cell a point lies in (clamped into the zone's grid).
    pub fn cell_of(&self, bounds: Bounds, p: Vec2) -> u32 {
        let (cols, rows) = self.grid(bounds);
        let size = self.cell_size.max(1.0);
        let cx = (((p.x - bounds.min.x) / size).floor().max(0.0) as u32).min(cols - 1);
        let cy = (((p.y - bounds.min.y) / size).floor().max(0.0) as u32).min(rows - 1);
        cy * cols + cx
    }

    /// Columns and rows of the grid over `bounds` (at least one each).
    pub fn grid(&self, bounds: Bounds) -> (u32, u32) {
        let size = self.cell_size.max(1.0);
        let span = bounds.max - bounds.min;
        (
            ((span.x / size).ceil().max(1.0) as u32).min(65_536),
            ((span.y / size).ceil().max(1.0) as u32).min(65_536),
        )
    }

    /// The rectangle of cell `cell`.
    pub fn cell_bounds(&self, bounds: Bounds, cell: u32) -> Bounds {
        let (cols, _) = self.grid(bounds);
        let size = self.cell_size.max(1.0);
        let min = bounds.min + Vec2::new((cell % cols) as f32, (cell / cols) as f32) * size;
        Bounds {
            min,
            max: (min + Vec2::splat(size)).min(bounds.max),
        }
    }

    /// How many cells of the grid overlap `area` (for the cap check).
    pub fn cells_over(&self, bounds: Bounds, area: Bounds) -> u64 {
        let a = self.cell_of(bounds, area.min);
        let b = self.cell_of(bounds, area.max);
        let (cols, _) = self.grid(bounds);
        let w = u64::from((b % cols).saturating_sub(a % cols) + 1);
        let h = u64::from((b / cols).saturating_sub(a / cols) + 1);
        w * h
    }
}

/// A fleeing creature runs this much faster than it walks.
pub const FLEE_SPEED_FACTOR: f32 = 1.5;

impl CreatureContent {
    /// The most a creature's walking speed is multiplied by: the `speed` gene's top
    /// (when the table has one) times the flight factor.
    pub fn top_speed_factor(&self) -> f32 {
        let gene = self.genes.iter().find_map(|g| match g {
            GeneDef::Numeric { id, range, .. } if id == "speed" => Some(range.1.max(1.0)),
            _ => None,
        });
        gene.unwrap_or(1.0) * FLEE_SPEED_FACTOR
    }

    pub fn species_index(&self, id: &str) -> Option<usize> {
        self.species.iter().position(|s| s.id == id)
    }

    pub fn gene_index(&self, id: &str) -> Option<usize> {
        self.genes.iter().position(|g| g.id() == id)
    }

    /// The species index two species breed into, if any.
    pub fn offspring_of(&self, a: &str, b: &str) -> Option<usize> {
        if a == b {
            return self.species_index(a);
        }
        self.breeding
            .crosses
            .iter()
            .find(|c| {
                (c.parents.0 == a && c.parents.1 == b) || (c.parents.0 == b && c.parents.1 == a)
            })
            .and_then(|c| self.species_index(&c.offspring))
    }

    /// What a client needs to draw wild creatures (see `arcane_protocol::creatures`).
    pub fn catalog(&self) -> arcane_protocol::CreatureCatalog {
        arcane_protocol::CreatureCatalog {
            species: self.species.iter().map(|s| s.id.clone()).collect(),
            visible: self
                .visible_genes()
                .into_iter()
                .filter_map(|i| match &self.genes[i] {
                    GeneDef::Allele { id, alleles, .. } => Some((
                        id.clone(),
                        alleles.iter().map(|(name, _)| name.clone()).collect(),
                    )),
                    GeneDef::Numeric { .. } => None,
                })
                .collect(),
        }
    }

    /// Indices of the visible allele genes (at most two, in table order).
    pub fn visible_genes(&self) -> Vec<usize> {
        self.genes
            .iter()
            .enumerate()
            .filter(|(_, g)| matches!(g, GeneDef::Allele { visible: true, .. }))
            .map(|(i, _)| i)
            .take(2)
            .collect()
    }
}
