//! What is persisted of a player between sessions and carried in a zone transfer:
//! position, vitals and everything the player owns. Shared by zones (which write it)
//! and the orchestrator (which stores it); not part of the wire protocol.

use serde::{Deserialize, Serialize};

/// A stack of one item kind, or one creature (`item: "creature:<id>"`, count 1).
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
}
