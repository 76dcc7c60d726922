//! The `Zone`: one bevy_ecs `World` and its fixed-tick `Schedule`, fed with commands and
//! drained of outputs by whoever owns it (the zone-server tick thread, tests, benches).

use std::hash::{Hash, Hasher};

use arcane_protocol::messages::RejectReason;
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    AdminCommand, CastIntent, CastRejectReason, ClientTier, KickReason, MoveInput, ReliableEvent,
    Welcome,
};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;

use crate::ZonePlugin;
use crate::components::{Position, Replicated};
use crate::content::{ExitTarget, ZoneContent};
use crate::rng::ZoneRng;

/// Account-level player id (from the join ticket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayerId(pub u64);

/// Input to the zone, produced by sessions and applied in `ZoneSystems::Ingest`.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneCommand {
    /// A verified player connects (or reconnects: the old view is reset).
    Join {
        player: PlayerId,
        tier: ClientTier,
        /// From the ticket; only `Admin` may send admin commands.
        role: Role,
        /// The player's saved state (from the database or a transfer's handoff);
        /// `None` places a fresh player at a spawn point.
        saved: Option<Box<SavedPlayer>>,
    },
    /// The transfer the zone asked for (`ZoneOutput::Transfer`) was refused or could
    /// not be carried out: the player stays here and may move again.
    TransferFailed {
        player: PlayerId,
        detail: String,
    },
    /// The zone is draining: freeze every player who is not already moving and hand
    /// them to `to` where they stand (`ZoneOutput::Transfer` for each).
    Evacuate {
        to: crate::content::ExitTarget,
    },
    Leave {
        player: PlayerId,
    },
    Input {
        player: PlayerId,
        input: MoveInput,
        /// When the host received it, on the clock given to [`Zone::step_at`] (µs).
        received_us: u64,
    },
    Ack {
        player: PlayerId,
        snapshot_id: u32,
    },
    Cast {
        player: PlayerId,
        intent: CastIntent,
    },
    Respawn {
        player: PlayerId,
    },
    Admin {
        player: PlayerId,
        seq: u32,
        command: AdminCommand,
    },
}

/// Output of one tick, addressed to one player's connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneOutput {
    Welcome {
        player: PlayerId,
        welcome: Welcome,
    },
    /// An encoded `ServerMessage::Snapshot`, ready for the wire.
    Snapshot {
        player: PlayerId,
        /// A slice of the tick's shared snapshot buffer.
        bytes: bytes::Bytes,
    },
    Event {
        player: PlayerId,
        event: ReliableEvent,
    },
    /// The zone removed the player; the connection should be closed with this reason.
    /// A violation kick comes just after a `Logout` that saves the player (unless it
    /// is being handed over, when the handoff record is the only state kept).
    Kick {
        player: PlayerId,
        reason: KickReason,
        detail: String,
    },
    /// Close the player's connection with this reason; the player stays until the
    /// session's leave comes in, which saves its final state as for any logout.
    Disconnect {
        player: PlayerId,
        reason: KickReason,
        detail: String,
    },
    /// The periodic write-behind checkpoint: every player not in transfer.
    Checkpoint(Vec<(PlayerId, SavedPlayer)>),
    /// A player left (disconnect or kick); this is their final state here.
    Logout {
        player: PlayerId,
        state: SavedPlayer,
    },
    /// A player walked into an exit and is frozen: hand them to `to` with `state`
    /// (already at the arrival point), then send `Leave`, or `TransferFailed`.
    Transfer {
        player: PlayerId,
        to: ExitTarget,
        state: SavedPlayer,
    },
}

/// The fixed order of a zone tick.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneSystems {
    /// Apply session commands: joins, leaves, validated inputs, acks.
    Ingest,
    /// Gameplay: movement, NPCs (skills, enemy AI and creatures join here).
    Simulate,
    /// Deaths, kicks, despawns.
    Lifecycle,
    /// Spatial index and per-client visible sets.
    Interest,
    /// Per-client delta snapshot encoding.
    Replicate,
}

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZoneTickSchedule;

/// Tick number and the fixed step derived from the tick rate.
#[derive(Resource, Debug, Clone, Copy)]
pub struct ZoneClock {
    pub tick: u64,
    /// Seconds per tick.
    pub dt: f32,
    /// The host's clock at the start of this tick, in µs, as given to
    /// [`Zone::step_at`] (0 with [`Zone::step`]). The simulation never reads it: it
    /// only measures how long inputs waited, which snapshots report to clients.
    pub host_us: u64,
}

/// The loaded content of this zone.
#[derive(Resource, Debug, Clone)]
pub struct ZoneSettings(pub ZoneContent);

/// Commands waiting for the next `Ingest`.
#[derive(Resource, Default)]
pub struct CommandInbox(pub Vec<ZoneCommand>);

/// Outputs of the current tick.
#[derive(Resource, Default)]
pub struct ZoneOutbox(pub Vec<ZoneOutput>);

impl ZoneOutbox {
    /// Queues a reliable event for one player.
    pub fn event(&mut self, player: PlayerId, tick: u32, kind: arcane_protocol::EventKind) {
        self.0.push(ZoneOutput::Event {
            player,
            event: ReliableEvent { tick, kind },
        });
    }
}

/// Monotonic counters the process exports as metrics.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct ZoneCounters {
    pub inputs_applied: u64,
    pub inputs_rejected: [u64; RejectReason::ALL.len()],
    /// Inputs the network reordered behind a newer one that was already applied:
    /// dropped without blame (a replay is `StaleSequence` instead).
    pub inputs_superseded: u64,
    pub kicks: u64,
    pub snapshots: u64,
    pub full_snapshots: u64,
    pub snapshot_bytes: u64,
    pub entity_updates: u64,
    pub entity_enters: u64,
    pub entity_leaves: u64,
    /// Casts that passed validation.
    pub casts: u64,
    pub cast_rejected: [u64; CastRejectReason::ALL.len()],
    /// Damage hits that landed (skills and enemy attacks).
    pub hits: u64,
    /// Enemies killed.
    pub kills: u64,
    pub player_deaths: u64,
    pub respawns: u64,
    /// Enemy attacks resolved (whether or not they hit anyone).
    pub enemy_attacks: u64,
    pub admin_commands: u64,
    /// Admin commands from players without the admin role.
    pub admin_refused: u64,
    /// Content reloads applied at a tick boundary.
    pub content_reloads: u64,
}

impl ZoneCounters {
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.inputs_rejected[reason as usize]
    }
}

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
        });
        world.insert_resource(ZoneSettings(content));
        world.insert_resource(ZoneRng::from_seed(seed));
        world.init_resource::<CommandInbox>();
        world.init_resource::<ZoneOutbox>();
        world.init_resource::<ZoneCounters>();
        world.init_resource::<crate::components::NetIdAllocator>();

        let mut schedule = Schedule::new(ZoneTickSchedule);
        schedule.configure_sets(
            (
                ZoneSystems::Ingest,
                ZoneSystems::Simulate,
                ZoneSystems::Lifecycle,
                ZoneSystems::Interest,
                ZoneSystems::Replicate,
            )
                .chain(),
        );
        let plugins: [&dyn ZonePlugin; 9] = [
            &crate::players::PlayersPlugin,
            &crate::persist::PersistPlugin,
            &crate::movement::MovementPlugin,
            &crate::npc::NpcPlugin,
            &crate::combat::CombatPlugin,
            &crate::skills::SkillsPlugin,
            &crate::enemy_ai::EnemyAiPlugin,
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
        self.schedule.run(&mut self.world);
        self.world.resource_mut::<ZoneClock>().tick += 1;
    }

    /// Takes the outputs produced since the last call.
    pub fn drain_outputs(&mut self) -> std::vec::Drain<'_, ZoneOutput> {
        self.world
            .resource_mut::<ZoneOutbox>()
            .into_inner()
            .0
            .drain(..)
    }

    /// The persistent state of a player in this zone.
    pub fn saved_player(&self, player: PlayerId) -> Option<SavedPlayer> {
        crate::persist::saved_state(&self.world, self.player_entity(player)?)
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
        self.world.resource::<crate::players::PlayerIndex>().len()
    }

    pub fn entity_count(&self) -> usize {
        self.world.entities().count_spawned() as usize
    }

    /// Direct world access for tests, benches and admin tooling.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Applies new content at this tick boundary (see [`crate::reload`]); refused when
    /// it is for another zone.
    pub fn reload(&mut self, content: ZoneContent) -> Result<(), String> {
        crate::reload::apply(&mut self.world, content)
    }

    /// The content version the zone runs.
    pub fn content_version(&self) -> crate::content::ContentVersion {
        self.settings().version
    }

    /// The entity of a player, if the player is in the zone.
    pub fn player_entity(&self, player: PlayerId) -> Option<Entity> {
        self.world
            .resource::<crate::players::PlayerIndex>()
            .get(player)
    }

    /// Position of a player's entity, if the player is in the zone.
    pub fn player_position(&self, player: PlayerId) -> Option<glam::Vec2> {
        let e = self
            .world
            .resource::<crate::players::PlayerIndex>()
            .get(player)?;
        self.world.get::<Position>(e).map(|p| p.0)
    }

    /// A hash of every replicated entity's id and exact position plus the tick: two
    /// runs with the same seed and command journal must agree on it every tick.
    pub fn state_hash(&mut self) -> u64 {
        let mut q = self
            .world
            .query::<(&Replicated, &Position, Option<&crate::combat::Health>)>();
        let mut rows: Vec<(u32, u32, u32, u32)> = q
            .iter(&self.world)
            .map(|(r, p, h)| {
                let hp = h.map_or(u32::MAX, |h| h.hp);
                (r.net_id.0, p.0.x.to_bits(), p.0.y.to_bits(), hp)
            })
            .collect();
        rows.sort_unstable();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.tick().hash(&mut h);
        rows.hash(&mut h);
        h.finish()
    }
}
