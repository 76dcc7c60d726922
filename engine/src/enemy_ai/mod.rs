//! Enemies: the Idle → Pursue → Wind-up → Attack → Recover state machine with
//! telegraphs, leashing, and the spawners that keep their numbers up. Geometry and
//! target choice are pure functions in `rules`.

mod plugin;
mod reload;
pub mod rules;
mod systems;

pub use plugin::EnemyAiPlugin;
pub use systems::{Spawners, enemy_bundle};

use arcane_protocol::snapshot::flags;
use bevy_ecs::prelude::*;
use glam::Vec2;

/// Where an enemy is in its state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EnemyState {
    /// Guarding or wandering near its spawn; scans for players every few ticks.
    Idle,
    /// Chasing its target.
    Pursue,
    /// The telegraph is out; the attack lands when the wind-up ends.
    WindUp,
    /// The tick the attack resolved.
    Attack,
    /// Standing still after the attack: the window to punish it.
    Recover,
    /// Leashed: walking home, ignoring players, restored to full HP.
    Return,
}

impl EnemyState {
    /// The replicated status bits for this state.
    pub fn flags(self) -> u8 {
        match self {
            EnemyState::WindUp => flags::WINDUP,
            EnemyState::Recover => flags::RECOVERING,
            _ => 0,
        }
    }
}

/// The attack area fixed at wind-up start: where it is and which way it faces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelegraphAt {
    pub origin: Vec2,
    /// Unit vector.
    pub facing: Vec2,
}

/// An enemy's AI state.
#[derive(Component, Debug, Clone)]
pub struct Enemy {
    /// Index into the zone's enemy types.
    pub def: u16,
    pub home: Vec2,
    /// The spawner that keeps it (none for admin-spawned enemies).
    pub spawner: Option<u16>,
    pub state: EnemyState,
    pub target: Option<Entity>,
    /// When the current timed state (wind-up, attack, recover, idle pause) ends.
    pub until_tick: u64,
    pub telegraph: Option<TelegraphAt>,
    pub wander_to: Option<Vec2>,
}

impl Enemy {
    pub fn new(def: u16, home: Vec2, spawner: Option<u16>) -> Self {
        Enemy {
            def,
            home,
            spawner,
            state: EnemyState::Idle,
            target: None,
            until_tick: 0,
            telegraph: None,
            wander_to: None,
        }
    }
}

/// Marks enemies spawned by an admin command (removed by `ResetArea`).
#[derive(Component, Debug, Clone, Copy)]
pub struct AdminSpawned;
