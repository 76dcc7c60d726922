//! Who handles which command. The players plugin takes every [`ZoneCommand`] in
//! arrival order, finds the player's entity and hands the command to the plugin that
//! registered for its kind: movement takes inputs, skills casts, replication acks. A
//! new concern with commands of its own registers a handler here; ingest does not
//! change.

use arcane_protocol::EventKind;
use arcane_protocol::messages::RejectReason;
use bevy_ecs::prelude::{EntityWorldMut, Resource, World};

use super::io::ZoneCommand;

/// The kinds of command a plugin may handle (joins and leaves are the players
/// plugin's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Input,
    Ack,
    Cast,
    Respawn,
    Admin,
    /// The host could not carry out a transfer the zone asked for.
    TransferFailed,
    /// The zone drains: everyone is handed over (not addressed to one player).
    Evacuate,
    Capture,
    Breed,
    RosterRequest,
    Chat,
}

impl CommandKind {
    const COUNT: usize = 11;

    /// The kind of `command`; `None` for joins, leaves and resumes (the players plugin's).
    pub fn of(command: &ZoneCommand) -> Option<CommandKind> {
        Some(match command {
            ZoneCommand::Input { .. } => CommandKind::Input,
            ZoneCommand::Ack { .. } => CommandKind::Ack,
            ZoneCommand::Cast { .. } => CommandKind::Cast,
            ZoneCommand::Respawn { .. } => CommandKind::Respawn,
            ZoneCommand::Admin { .. } => CommandKind::Admin,
            ZoneCommand::TransferFailed { .. } => CommandKind::TransferFailed,
            ZoneCommand::Evacuate { .. } => CommandKind::Evacuate,
            ZoneCommand::Capture { .. } => CommandKind::Capture,
            ZoneCommand::Breed { .. } => CommandKind::Breed,
            ZoneCommand::RosterRequest { .. } => CommandKind::RosterRequest,
            ZoneCommand::Chat { .. } => CommandKind::Chat,
            ZoneCommand::Join { .. }
            | ZoneCommand::Leave { .. }
            | ZoneCommand::Resumed { .. }
            | ZoneCommand::Dilated { .. } => {
                return None;
            }
        })
    }

    /// Commands a player frozen for a transfer may not give: what it does is not its
    /// own any more until the transfer is resolved. Acks keep the snapshots flowing.
    pub fn ignored_while_frozen(self) -> bool {
        matches!(
            self,
            CommandKind::Input
                | CommandKind::Cast
                | CommandKind::Respawn
                | CommandKind::Admin
                | CommandKind::Capture
                | CommandKind::Breed
        )
    }
}

/// Whether an intent stream whose newest sequence number is `last` takes `seq`: newer,
/// and at most `MAX_SEQ_AHEAD` ahead (casts, captures and breeds; move inputs also
/// tolerate reordering, see `movement`).
pub fn takes_seq(last: u32, seq: u32) -> bool {
    seq > last && seq - last <= arcane_protocol::MAX_SEQ_AHEAD
}

/// A command the zone refused: it counts toward the player's violations and, unless
/// the player was already told too often this tick, `event` tells them why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// How the violation counts (casts refused as replays or floods count as such).
    pub reason: RejectReason,
    pub event: EventKind,
}

/// Handles one command of a player in the zone, given the player's entity (its
/// `world_scope` reaches the rest of the world where a command needs it).
pub type PlayerCommandHandler = fn(&mut EntityWorldMut<'_>, &ZoneCommand) -> Option<Rejection>;

/// Handles a command addressed to the whole zone.
pub type ZoneCommandHandler = fn(&mut World, &ZoneCommand);

/// What each plugin registered (a table of function pointers: ingest copies it once
/// a tick).
#[derive(Resource, Default, Clone, Copy)]
pub struct CommandHandlers {
    player: [Option<PlayerCommandHandler>; CommandKind::COUNT],
    zone: [Option<ZoneCommandHandler>; CommandKind::COUNT],
}

impl CommandHandlers {
    /// Registers the handler of one kind of player command (the last one stays).
    pub fn on_player_command(&mut self, kind: CommandKind, handler: PlayerCommandHandler) {
        self.player[kind as usize] = Some(handler);
    }

    /// Registers the handler of one kind of zone-wide command.
    pub fn on_zone_command(&mut self, kind: CommandKind, handler: ZoneCommandHandler) {
        self.zone[kind as usize] = Some(handler);
    }

    pub fn player(&self, kind: CommandKind) -> Option<PlayerCommandHandler> {
        self.player[kind as usize]
    }

    pub fn zone(&self, kind: CommandKind) -> Option<ZoneCommandHandler> {
        self.zone[kind as usize]
    }
}
