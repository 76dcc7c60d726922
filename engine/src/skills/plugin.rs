//! Registers mana regeneration, casts and projectiles in `SimulateSystems::Skills`
//! (after movement, so a cast sees this tick's position; before hits are applied),
//! the cast command, and what skills give a joining player.

use bevy_ecs::prelude::*;

use super::rules::Aimed;
use super::systems::{move_projectiles, regen_mana, run_casts};
use super::upkeep::{
    accept_cast, add_player_skills, refill_mana_on_respawn, restart_cast_stream,
    retune_player_skills,
};
use super::{Caster, Mana, Projectile};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::components::Replicated;
use crate::common::schedule::{SimulateSystems, ZonePlugin};
use crate::common::state_hash::{Bits, RowSink, StateParts, v2};

pub struct SkillsPlugin;

impl ZonePlugin for SkillsPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Cast, accept_cast);
        world.add_observer(add_player_skills);
        world.add_observer(restart_cast_stream);
        world.add_observer(refill_mana_on_respawn);
        world.add_observer(retune_player_skills);
        StateParts::add(world, "skills", skill_rows);
        StateParts::add(world, "projectiles", projectile_rows);
        schedule.add_systems(
            (regen_mana, run_casts, move_projectiles)
                .chain()
                .in_set(SimulateSystems::Skills),
        );
    }
}

/// An aim as plain values: (kind, entity bits, point).
fn aim_row(a: Aimed) -> (u8, u64, (Bits, Bits)) {
    match a {
        Aimed::Caster => (0, 0, v2(glam::Vec2::ZERO)),
        Aimed::Entity(e) => (1, e.to_bits(), v2(glam::Vec2::ZERO)),
        Aimed::Point(p) => (2, 0, v2(p)),
    }
}

/// Mana, cooldowns, the cast under way and the queued intents of every caster.
fn skill_rows(world: &mut World, sink: &mut dyn RowSink) {
    type CastRow = (u8, (u8, u64, (Bits, Bits)), u64, (Bits, Bits));
    #[derive(Hash, serde::Serialize)]
    struct Row<'a> {
        mana: Option<(Bits, Bits, Bits)>,
        slots: &'a [u16],
        ready_tick: &'a [u64],
        gcd_ready_tick: u64,
        casting: Option<CastRow>,
        last_seq: u32,
        queue: &'a [arcane_protocol::CastIntent],
    }
    let mut q = world.query::<(&Replicated, &Caster, Option<&Mana>)>();
    for (r, c, m) in q.iter(world) {
        let row = Row {
            mana: m.map(|m| (Bits(m.current), Bits(m.max), Bits(m.regen_per_tick))),
            slots: &c.slots,
            ready_tick: &c.ready_tick,
            gcd_ready_tick: c.gcd_ready_tick,
            casting: c
                .casting
                .map(|a| (a.slot, aim_row(a.target), a.completes_tick, v2(a.from))),
            last_seq: c.last_seq(),
            queue: &c.queue,
        };
        sink.row(u64::from(r.net_id.0), &row);
    }
}

/// Every projectile in flight.
fn projectile_rows(world: &mut World, sink: &mut dyn RowSink) {
    #[derive(Hash, serde::Serialize)]
    struct Row {
        caster: u64,
        slot: u8,
        target: Option<u64>,
        dir: (Bits, Bits),
        speed_per_tick: Bits,
        range_left: Bits,
        damage: u32,
        hit_radius: Bits,
        homing: bool,
    }
    let mut q = world.query::<(&Replicated, &Projectile)>();
    for (r, p) in q.iter(world) {
        let row = Row {
            caster: p.caster.to_bits(),
            slot: p.slot,
            target: p.target.map(Entity::to_bits),
            dir: v2(p.dir),
            speed_per_tick: Bits(p.speed_per_tick),
            range_left: Bits(p.range_left),
            damage: p.damage,
            hit_radius: Bits(p.hit_radius),
            homing: p.homing,
        };
        sink.row(u64::from(r.net_id.0), &row);
    }
}
