//! What goes into a zone and what comes out: [`ZoneCommand`]s from the host (sessions,
//! persistence, the drain) and [`ZoneOutput`]s for it (snapshots, events, saves,
//! transfers), and the resources that hold them during a tick.

use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    AdminCommand, CastIntent, ClientTier, CreatureId, KickReason, MoveInput, NetId, ReliableEvent,
    Welcome,
};
use bevy_ecs::prelude::Resource;

use crate::content::ExitTarget;

/// Account-level player id (from the join ticket).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PlayerId(pub u64);

/// Input to the zone, produced by sessions and applied in `ZoneSystems::Ingest`.
/// Serializable: the zone server journals every command it steps the zone with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
        to: ExitTarget,
    },
    Leave {
        player: PlayerId,
    },
    /// The host stalled (stopped, swapped out) and missed `missed_ticks` ticks: the
    /// inputs that queued up meanwhile arrive at once. For the next
    /// [`crate::players::rules::STALL_AMNESTY_TICKS`] ticks, floods and replays are
    /// still refused but do not count toward a kick.
    Resumed {
        missed_ticks: u32,
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
        /// Boxed: the largest command, and every command is as large as the largest.
        command: Box<AdminCommand>,
    },
    Capture {
        player: PlayerId,
        seq: u32,
        target: NetId,
    },
    Breed {
        player: PlayerId,
        seq: u32,
        first: CreatureId,
        second: CreatureId,
    },
    RosterRequest {
        player: PlayerId,
    },
    /// A chat message, under the speaker's name (the host knows names; the zone
    /// does not).
    Chat {
        player: PlayerId,
        name: String,
        channel: arcane_protocol::ChatChannel,
        text: String,
    },
    /// The host dilates time (its ticks run over budget, so they come further apart):
    /// `time_rate` percent of real time. Like [`ZoneCommand::Resumed`], floods and
    /// replays do not count toward a kick for the next
    /// [`crate::players::rules::STALL_AMNESTY_TICKS`] ticks, since clients need a
    /// snapshot or two to slow their inputs to the rate. (Last: journals name
    /// variants by index.)
    Dilated {
        time_rate: u8,
    },
}

/// Output of one tick, addressed to one player's connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneOutput {
    Welcome {
        player: PlayerId,
        /// Boxed: once per join, and larger than every per-tick output.
        welcome: Box<Welcome>,
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
    /// One event for many players (a chat line many hear): the host encodes it once.
    Broadcast {
        players: Vec<PlayerId>,
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
    /// A chat message the zone accepted (checked, cleaned and filtered): say and zone
    /// messages are already delivered as events; the host routes party messages and
    /// whispers to other zones, counts every message and audits filter hits.
    Chat(Box<ChatOut>),
    /// A player walked into an exit and is frozen: hand them to `to` with `state`
    /// (already at the arrival point), then send `Leave`, or `TransferFailed`.
    Transfer {
        player: PlayerId,
        to: ExitTarget,
        state: SavedPlayer,
    },
}

/// An accepted chat message (see `ZoneOutput::Chat`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOut {
    pub player: PlayerId,
    pub name: String,
    pub channel: arcane_protocol::ChatChannel,
    /// The text as delivered (cleaned, filtered words masked).
    pub text: String,
    /// Words of the filter list the text held (masked in `text`).
    pub filtered: Vec<String>,
    /// How many players in this zone it was delivered to (say and zone).
    pub delivered: u32,
}

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
