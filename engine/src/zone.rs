//! The `Zone`: one bevy_ecs `World` and its fixed-tick `Schedule`, fed with commands and
//! drained of outputs by whoever owns it (the zone-server tick thread, tests, benches).
//! The facade over the plugins: it lists them, one line each, and knows none of their
//! insides.

use arcane_protocol::saved::SavedPlayer;
use bevy_ecs::prelude::*;

use crate::common::commands::CommandHandlers;
use crate::common::components::{NetIdAllocator, Position};
use crate::common::events::ContentReloaded;
use crate::common::io::{CommandInbox, PlayerId, ZoneCommand, ZoneOutbox, ZoneOutput};
use crate::common::schedule::{ZonePlugin, ZoneTickSchedule, configure_phases};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::common::state_hash::StateDigest;
use crate::content::ZoneContent;
use crate::players::PlayerIndex;
use crate::rng::ZoneRng;

/// One simulated zone.
pub struct Zone {
    world: World,
    schedule: Schedule,
}

impl Zone {
    /// Builds a zone from its content; `seed` fixes every random stream.
    pub fn new(content: ZoneContent, seed: u64) -> Zone {
        let mut world = World::new();
        let dt = 1.0 / f32::from(content.netcode.tick_rate_hz.max(1));
        world.insert_resource(ZoneClock {
            tick: 0,
            dt,
            host_us: 0,
            time_rate: 100,
        });
        world.insert_resource(ZoneSettings(content));
        world.insert_resource(ZoneRng::from_seed(seed));
        world.init_resource::<CommandInbox>();
        world.init_resource::<ZoneOutbox>();
        world.init_resource::<ZoneCounters>();
        world.init_resource::<crate::common::state::Headless>();
        world.init_resource::<NetIdAllocator>();
        world.init_resource::<CommandHandlers>();
        crate::common::faults::install(&mut world);
        crate::common::state_hash::register_common(&mut world);

        let mut schedule = Schedule::new(ZoneTickSchedule);
        configure_phases(&mut schedule);
        // One line per concern; each registers its own systems, handlers, observers.
        let plugins: [&dyn ZonePlugin; 12] = [
            &crate::players::PlayersPlugin,
            &crate::movement::MovementPlugin,
            &crate::npc::NpcPlugin,
            &crate::combat::CombatPlugin,
            &crate::skills::SkillsPlugin,
            &crate::enemy_ai::EnemyAiPlugin,
            &crate::creatures::CreaturesPlugin,
            &crate::persist::PersistPlugin,
            &crate::admin::AdminPlugin,
            &crate::chat::ChatPlugin,
            &crate::interest::InterestPlugin,
            &crate::replication::ReplicationPlugin,
        ];
        for p in plugins {
            p.build(&mut world, &mut schedule);
        }
        Zone { world, schedule }
    }

    /// Runs one tick over `commands`; read the results with [`Zone::drain_outputs`].
    pub fn step(&mut self, commands: impl IntoIterator<Item = ZoneCommand>) {
        self.step_at(commands, 0);
    }

    /// [`Zone::step`] for a host with a clock: `host_us` is the host's time now, on
    /// the clock that stamped each `ZoneCommand::Input`'s `received_us`, so snapshots
    /// can tell clients how long their inputs waited for their tick.
    pub fn step_at(&mut self, commands: impl IntoIterator<Item = ZoneCommand>, host_us: u64) {
        self.world.resource_mut::<ZoneClock>().host_us = host_us;
        self.world.resource_mut::<CommandInbox>().0.extend(commands);
        let faults = crate::common::faults::count();
        self.schedule.run(&mut self.world);
        let faults = crate::common::faults::count() - faults;
        if faults > 0 {
            self.world.resource_mut::<ZoneCounters>().system_faults += faults;
        }
        self.world.resource_mut::<ZoneClock>().tick += 1;
    }

    /// The host's time rate in percent of real time (100, or less while it dilates
    /// time under overload), which snapshots tell clients from the next tick on. The
    /// simulation never reads it: a tick is one period of game time at any rate.
    pub fn set_time_rate(&mut self, percent: u8) {
        self.world.resource_mut::<ZoneClock>().time_rate = percent.clamp(1, 100);
    }

    /// Runs without clients to serve (a replay): skips per-client views and snapshot
    /// encoding, which change nothing the state hash covers.
    pub fn set_headless(&mut self, on: bool) {
        self.world
            .resource_mut::<crate::common::state::Headless>()
            .0 = on;
    }

    /// Takes the outputs produced since the last call.
    pub fn drain_outputs(&mut self) -> std::vec::Drain<'_, ZoneOutput> {
        self.world
            .resource_mut::<ZoneOutbox>()
            .into_inner()
            .0
            .drain(..)
    }

    /// The persistent state of every player in the zone, by id.
    pub fn player_states(&mut self) -> Vec<(PlayerId, SavedPlayer)> {
        crate::persist::player_states(&mut self.world)
    }

    /// The persistent state of a player in this zone.
    pub fn saved_player(&self, player: PlayerId) -> Option<SavedPlayer> {
        crate::persist::saved_state(&self.world, self.player_entity(player)?)
    }

    /// The seed the zone's random streams were made from.
    pub fn seed(&self) -> u64 {
        self.world.resource::<ZoneRng>().seed
    }

    pub fn tick(&self) -> u64 {
        self.world.resource::<ZoneClock>().tick
    }

    pub fn settings(&self) -> &ZoneContent {
        &self.world.resource::<ZoneSettings>().0
    }

    pub fn counters(&self) -> &ZoneCounters {
        self.world.resource::<ZoneCounters>()
    }

    pub fn player_count(&self) -> usize {
        self.world.resource::<PlayerIndex>().len()
    }

    pub fn entity_count(&self) -> usize {
        self.world.entities().count_spawned() as usize
    }

    /// Direct world access for tests, benches and admin tooling.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Applies new content at this tick boundary; refused when it is for another zone.
    /// New casts and spawns use the new numbers at once; each concern adapts its live
    /// entities (it observes [`ContentReloaded`]). The tick rate is fixed for a zone's
    /// life: a changed `tick_rate_hz` is ignored (and reported) until it restarts.
    pub fn reload(&mut self, mut content: ZoneContent) -> Result<(), String> {
        let old = self.world.resource::<ZoneSettings>().0.clone();
        if content.zone.id != old.zone.id {
            return Err(format!(
                "content is for zone {:?}, this zone is {:?}",
                content.zone.id, old.zone.id
            ));
        }
        if content.netcode.tick_rate_hz != old.netcode.tick_rate_hz {
            tracing::warn!(
                old = old.netcode.tick_rate_hz,
                new = content.netcode.tick_rate_hz,
                "tick_rate_hz changes need a zone restart; keeping the old rate"
            );
            content.netcode.tick_rate_hz = old.netcode.tick_rate_hz;
        }
        self.world.resource_mut::<ZoneSettings>().0 = content;
        self.world.trigger(ContentReloaded { old: Box::new(old) });
        self.world.flush();
        self.world.resource_mut::<ZoneCounters>().content_reloads += 1;
        Ok(())
    }

    /// Uses creature ids `start..start + len` for captures and eggs from now on (a
    /// block the store reserved for this process).
    pub fn grant_creature_ids(&mut self, start: u64, len: u64) {
        self.world
            .insert_resource(crate::creatures::CreatureIds::block(start, len));
    }

    /// Wild creatures alive, per species id.
    pub fn creature_population(&self) -> Vec<(String, u64)> {
        let species = &self.settings().creatures.species;
        let counts = self
            .world
            .resource::<crate::creatures::BreedingCells>()
            .population();
        species
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), counts.get(i).copied().unwrap_or(0)))
            .collect()
    }

    /// The content version the zone runs.
    pub fn content_version(&self) -> crate::content::ContentVersion {
        self.settings().version
    }

    /// The entity of a player, if the player is in the zone.
    pub fn player_entity(&self, player: PlayerId) -> Option<Entity> {
        self.world.resource::<PlayerIndex>().get(player)
    }

    /// Position of a player's entity, if the player is in the zone.
    pub fn player_position(&self, player: PlayerId) -> Option<glam::Vec2> {
        let e = self.world.resource::<PlayerIndex>().get(player)?;
        self.world.get::<Position>(e).map(|p| p.0)
    }

    /// A hash of the authoritative state (see [`Zone::state_digest`]): two runs with
    /// the same seed, content and command journal agree on it every tick.
    pub fn state_hash(&mut self) -> u64 {
        self.state_digest(false).total
    }

    /// The state's digest: one hash per named part (positions, health, mana and
    /// cooldowns, enemy states and telegraphs, spawner timers, creatures and
    /// genomes, rosters, inventories, random stream positions…) and one over all of
    /// them and the tick. `with_rows` keeps each entity's row hash, so two digests
    /// can say which entities differ.
    pub fn state_digest(&mut self, with_rows: bool) -> StateDigest {
        let tick = self.tick();
        crate::common::state_hash::digest(&mut self.world, tick, with_rows)
    }

    /// Every part of the state, row by row, as RON text (for `arcane replay --dump`).
    pub fn state_dump(&mut self) -> Vec<(&'static str, Vec<(u64, String)>)> {
        crate::common::state_hash::dump(&mut self.world)
    }
}
