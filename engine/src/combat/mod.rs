//! HP, damage and healing, death and respawn, and area events: what skills and enemy
//! attacks have in common. Owns `Health`, `Team`, `Invulnerable`, `RespawnRequested`,
//! `Threat` and `Slain` (and marks the dead with the shared `Dead`). Damage and heals are queued as `Hit`s by the systems that
//! cause them and applied in one place (`apply_hits`), so invulnerability, death and
//! threat are handled once.

mod plugin;
pub mod rules;
mod systems;

pub use plugin::CombatPlugin;
pub use systems::{EventBus, Hit, HitQueue, Slain, Threat};

use bevy_ecs::prelude::*;

/// Hit points.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub hp: u32,
    pub max: u32,
}

impl Health {
    pub fn full(max: u32) -> Self {
        Health { hp: max, max }
    }

    /// A player's health in zones of `content`: the class's maximum (1 without a
    /// class), full.
    pub fn of_player_class(content: &crate::content::ZoneContent) -> Self {
        Health::full(content.player_class().map_or(1, |c| c.max_hp))
    }

    /// Percentage for the wire, rounded up so that only 0 HP shows as 0.
    pub fn percent(&self) -> u8 {
        if self.max == 0 {
            return 0;
        }
        (u64::from(self.hp) * 100)
            .div_ceil(u64::from(self.max))
            .min(100) as u8
    }
}

/// Which side an entity fights on: damage skills hit the other team, heals this one.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Team {
    Players,
    Enemies,
}

/// The player asked to respawn; honoured at `Dead::respawn_tick`.
#[derive(Component, Debug, Clone, Copy)]
pub struct RespawnRequested;

/// Enemies and damage ignore this entity until `until_tick` (`u64::MAX`: until an
/// admin turns it off).
#[derive(Component, Debug, Clone, Copy)]
pub struct Invulnerable {
    pub until_tick: u64,
}
