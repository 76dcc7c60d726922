//! Mage skills: cast intents validated against cooldowns, mana, range, targets and line
//! of sight; cast times; projectiles, novas and heals. Owns `Mana`, `Caster` and
//! `Projectile`. Rules are pure functions in
//! `rules`; the systems only gather what they need and apply the outcome.

mod plugin;
pub mod rules;
mod systems;
mod upkeep;

pub use plugin::SkillsPlugin;

use arcane_protocol::{CastIntent, CastRejectReason, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::content::ZoneContent;

/// Most cast intents held per player between ticks; more are refused as a flood.
pub const MAX_QUEUED_CASTS: usize = 4;

/// Mana and its regeneration.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Mana {
    pub current: f32,
    pub max: f32,
    pub regen_per_tick: f32,
}

impl Mana {
    /// A player's mana in zones of `content`: the class's maximum and regeneration
    /// (none without a class), full.
    pub fn of_player_class(content: &ZoneContent) -> Self {
        let dt = 1.0 / f32::from(content.netcode.tick_rate_hz.max(1));
        match content.player_class() {
            Some(c) => Mana {
                current: c.max_mana,
                max: c.max_mana,
                regen_per_tick: c.mana_regen_per_s * dt,
            },
            None => Mana {
                current: 0.0,
                max: 0.0,
                regen_per_tick: 0.0,
            },
        }
    }
}

/// A cast under way (skills with a cast time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveCast {
    pub slot: u8,
    pub target: rules::Aimed,
    pub completes_tick: u64,
    /// Where the caster stood when the cast began; moving away interrupts it when the
    /// skill says so.
    pub from: Vec2,
}

/// A player's skill slots, their cooldowns and the cast intents waiting for the tick.
#[derive(Component, Debug, Clone)]
pub struct Caster {
    /// Index into the zone's skills, per slot.
    pub slots: Vec<u16>,
    /// Per slot: first tick it may be cast again.
    pub ready_tick: Vec<u64>,
    pub gcd_ready_tick: u64,
    pub casting: Option<ActiveCast>,
    last_seq: u32,
    pub queue: Vec<CastIntent>,
}

impl Caster {
    /// Newest cast sequence accepted (for the state hash).
    pub fn last_seq(&self) -> u32 {
        self.last_seq
    }

    pub fn new(slots: Vec<u16>) -> Self {
        let n = slots.len();
        Caster {
            slots,
            ready_tick: vec![0; n],
            gcd_ready_tick: 0,
            casting: None,
            last_seq: 0,
            queue: Vec::new(),
        }
    }

    /// Queues an intent for the next tick: sequence numbers must increase (replays are
    /// dropped) by at most `MAX_SEQ_AHEAD`, and at most `MAX_QUEUED_CASTS` wait.
    pub fn accept(&mut self, intent: CastIntent) -> Result<(), CastRejectReason> {
        if !crate::common::commands::takes_seq(self.last_seq, intent.seq) {
            return Err(CastRejectReason::StaleSequence);
        }
        self.last_seq = intent.seq;
        if self.queue.len() >= MAX_QUEUED_CASTS {
            return Err(CastRejectReason::Flood);
        }
        self.queue.push(intent);
        Ok(())
    }

    /// The slots of the player class of `content`.
    pub fn of_player_class(content: &ZoneContent) -> Self {
        let slots = content
            .class_skill_indices()
            .into_iter()
            .map(|i| i as u16)
            .collect();
        Caster::new(slots)
    }

    /// A reconnect starts a fresh sequence.
    pub fn reset_stream(&mut self) {
        self.last_seq = 0;
        self.queue.clear();
    }
}

/// A flying Magic Missile (or any projectile skill).
#[derive(Component, Debug, Clone, Copy)]
pub struct Projectile {
    pub caster: Entity,
    pub caster_net: NetId,
    pub slot: u8,
    /// Followed while alive when homing.
    pub target: Option<Entity>,
    pub dir: Vec2,
    pub speed_per_tick: f32,
    /// Metres left before it expires.
    pub range_left: f32,
    pub damage: u32,
    pub hit_radius: f32,
    pub homing: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(seq: u32) -> CastIntent {
        CastIntent {
            seq,
            slot: 0,
            target: arcane_protocol::CastTarget::Caster,
        }
    }

    #[test]
    fn cast_sequences_increase_by_a_bounded_step() {
        let mut c = Caster::new(vec![0]);
        assert_eq!(c.accept(intent(1)), Ok(()));
        assert_eq!(c.accept(intent(1)), Err(CastRejectReason::StaleSequence));
        assert_eq!(
            c.accept(intent(u32::MAX)),
            Err(CastRejectReason::StaleSequence)
        );
        assert_eq!(c.accept(intent(2)), Ok(()), "not locked out by the jump");
    }
}
