//! Player classes (`content/classes.ron`).

use serde::Deserialize;

/// A player class (`content/classes.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassDef {
    pub id: String,
    pub max_hp: u32,
    pub max_mana: f32,
    pub mana_regen_per_s: f32,
    /// Seconds after any cast before the next one may start.
    pub global_cooldown_s: f32,
    /// Skill ids, in the order of the client's skill slots.
    pub skills: Vec<String>,
    /// Seconds after death before a respawn request is honoured.
    pub respawn_delay_s: f32,
    /// Seconds of invulnerability after respawning.
    pub respawn_invulnerable_s: f32,
}
