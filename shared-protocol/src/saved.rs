//! What is persisted of a player between sessions and carried in a zone transfer:
//! position, vitals and everything the player owns. Shared by zones (which write it)
//! and the orchestrator (which stores it); not part of the wire protocol.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A stack of one item kind. (Saves before creatures were their own rows held them
/// here as `creature:<id>`; the store migrates those.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemStack {
    pub item: String,
    pub count: u32,
}

/// A player's persistent state as a zone saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlayer {
    /// Position in metres in the zone that saved it (or the arrival point of a transfer).
    pub x: f32,
    pub y: f32,
    pub hp: u32,
    pub mana: u32,
    pub inventory: Vec<ItemStack>,
    /// The player's creatures and eggs.
    #[serde(default)]
    pub creatures: Vec<SavedCreature>,
}

/// One gene of a saved genome, by value (allele names, not indices, so a gene table
/// that reorders alleles still reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SavedGene {
    Numeric(f32),
    Alleles(String, String),
}

/// Whether a saved creature is hatched, or an egg and how long it still incubates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SavedCreatureState {
    Active,
    /// Incubation ticks left (incubation pauses while its owner is offline).
    Egg {
        hatch_in_ticks: u32,
    },
}

/// A creature a player owns: a row of its own in the store, moved with its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedCreature {
    pub id: u64,
    pub species: String,
    /// The gene table version `genome` was written under.
    pub gene_version: u16,
    /// Genes by id.
    pub genome: BTreeMap<String, SavedGene>,
    pub parents: Option<(u64, u64)>,
    pub generation: u16,
    /// Where and at which tick of that zone it was born, hatched or caught.
    pub born_zone: String,
    pub born_tick: u64,
    pub state: SavedCreatureState,
    /// Ticks until it may breed again.
    pub breed_ready_in_ticks: u32,
}
