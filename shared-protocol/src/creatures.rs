//! Creature messages: capture and breed intents, their outcomes, the roster a player
//! can ask for, and how a wild creature's species and visible traits are packed into
//! `EntityState::variant`. `PROTOCOL.md` documents the bytes.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// A creature's id for life: unique across zones, kept through captures, transfers and
/// saves. Wild creatures have none until they are captured.
pub type CreatureId = u64;

/// Why a capture intent was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum CaptureRefusal {
    /// No living wild creature has that id here.
    NotACreature,
    /// The player is dead.
    Dead,
    OutOfRange,
    NoLineOfSight,
    /// The creature's HP is above the content's capture fraction: weaken it first.
    TooHealthy,
    /// The player's capture cooldown has not run out.
    Cooldown,
    /// The roster (creatures and eggs) is at the content's capacity.
    RosterFull,
    /// The sequence number was not newer than the last creature intent's (replay).
    StaleSequence,
}

impl CaptureRefusal {
    pub const ALL: [CaptureRefusal; 8] = [
        CaptureRefusal::NotACreature,
        CaptureRefusal::Dead,
        CaptureRefusal::OutOfRange,
        CaptureRefusal::NoLineOfSight,
        CaptureRefusal::TooHealthy,
        CaptureRefusal::Cooldown,
        CaptureRefusal::RosterFull,
        CaptureRefusal::StaleSequence,
    ];

    /// Stable lower-case name used in metrics labels, reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureRefusal::NotACreature => "not_a_creature",
            CaptureRefusal::Dead => "dead",
            CaptureRefusal::OutOfRange => "out_of_range",
            CaptureRefusal::NoLineOfSight => "no_line_of_sight",
            CaptureRefusal::TooHealthy => "too_healthy",
            CaptureRefusal::Cooldown => "cooldown",
            CaptureRefusal::RosterFull => "roster_full",
            CaptureRefusal::StaleSequence => "stale_sequence",
        }
    }
}

/// What came of a capture intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum CaptureOutcome {
    /// The creature left the world and joined the roster under this id.
    Captured {
        creature: CreatureId,
    },
    /// The roll failed: the creature stays wild (and the cooldown runs).
    Escaped,
    Refused(CaptureRefusal),
}

/// Why a breed intent was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum BreedRefusal {
    /// The player does not own a hatched creature with that id.
    NotOwned,
    /// Both ids name the same creature.
    SameCreature,
    /// The content has no offspring for these two species.
    Incompatible,
    /// One of the two bred too recently.
    Cooldown,
    RosterFull,
    /// The offspring would pass the content's generation limit, or the two are too
    /// closely related (parent and child, or siblings).
    Lineage,
    /// The player is dead.
    Dead,
    StaleSequence,
}

impl BreedRefusal {
    pub const ALL: [BreedRefusal; 8] = [
        BreedRefusal::NotOwned,
        BreedRefusal::SameCreature,
        BreedRefusal::Incompatible,
        BreedRefusal::Cooldown,
        BreedRefusal::RosterFull,
        BreedRefusal::Lineage,
        BreedRefusal::Dead,
        BreedRefusal::StaleSequence,
    ];

    /// Stable lower-case name used in metrics labels, reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BreedRefusal::NotOwned => "not_owned",
            BreedRefusal::SameCreature => "same_creature",
            BreedRefusal::Incompatible => "incompatible",
            BreedRefusal::Cooldown => "cooldown",
            BreedRefusal::RosterFull => "roster_full",
            BreedRefusal::Lineage => "lineage",
            BreedRefusal::Dead => "dead",
            BreedRefusal::StaleSequence => "stale_sequence",
        }
    }
}

/// What came of a breed intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum BreedOutcome {
    /// An egg joined the roster; it hatches at zone tick `hatch_tick`.
    EggLaid {
        egg: CreatureId,
        hatch_tick: u32,
    },
    Refused(BreedRefusal),
}

/// One gene as a creature expresses it: its id and the value, as text (`"docile"`,
/// `"1.12"`), for display.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TraitView {
    pub gene: String,
    pub value: String,
}

/// A creature or egg of the player's roster, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CreatureView {
    pub id: CreatureId,
    /// Species id from the content (`creatures.ron`).
    pub species: String,
    /// 0 for a creature caught in the wild; parents' highest + 1 for offspring.
    pub generation: u16,
    pub parents: Option<(CreatureId, CreatureId)>,
    /// The gene table version the genome was written under.
    pub gene_version: u16,
    /// Expressed genes, in the gene table's order.
    pub traits: Vec<TraitView>,
    /// `Some(tick)` while it is an egg: the zone tick it hatches at.
    pub hatch_tick: Option<u32>,
    /// Zone tick before which it may not breed again (0: it may).
    pub breed_ready_tick: u32,
}

/// How wild creatures of a zone are drawn: species ids by `variant & 0xff`, and the
/// allele names of the visible genes (see [`variant`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode, Serialize, Deserialize)]
pub struct CreatureCatalog {
    pub species: Vec<String>,
    /// Up to two allele genes shown on wild creatures: (gene id, allele names).
    pub visible: Vec<(String, Vec<String>)>,
}

/// The bits of `EntityState::variant` for `EntityKind::Creature`: the species index
/// (into [`CreatureCatalog::species`]) in bits 0–7, the first visible gene's expressed
/// allele in bits 8–11 and the second's in bits 12–15.
pub mod variant {
    pub fn pack(species: u8, visible: [u8; 2]) -> u16 {
        u16::from(species)
            | (u16::from(visible[0] & 0xf) << 8)
            | (u16::from(visible[1] & 0xf) << 12)
    }

    pub fn species(variant: u16) -> u8 {
        (variant & 0xff) as u8
    }

    pub fn visible(variant: u16) -> [u8; 2] {
        [((variant >> 8) & 0xf) as u8, ((variant >> 12) & 0xf) as u8]
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn species_and_traits_round_trip() {
            let v = super::pack(200, [3, 15]);
            assert_eq!(super::species(v), 200);
            assert_eq!(super::visible(v), [3, 15]);
        }
    }
}
