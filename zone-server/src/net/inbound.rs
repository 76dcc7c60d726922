//! What sessions, persistence and hot reload tell the tick thread: one bounded channel
//! of [`Inbound`] messages, drained at the start of every tick.

use arcane_journal::ContentFiles;
use std::sync::Arc;

use arcane_engine::content::{ExitTarget, ZoneContent};
use arcane_engine::{PlayerId, ZoneCommand};
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{ClientTier, Redirect};

use super::outbox::Outbox;

/// Connection identity: a player may reconnect, and stale messages of the old
/// connection must not touch the new one.
pub type ConnId = u64;

/// Messages from sessions to the tick thread.
pub enum Inbound {
    Join {
        player: PlayerId,
        tier: ClientTier,
        role: Role,
        conn: ConnId,
        outbox: Arc<Outbox>,
        /// The saved state and the ownership epoch it was loaded at (zones with
        /// persistence); `None` spawns a fresh player.
        saved: Option<(Box<SavedPlayer>, i64)>,
    },
    Leave {
        player: PlayerId,
        conn: ConnId,
    },
    /// A gameplay command (input, ack, cast, respawn, admin) from `conn`.
    Play {
        player: PlayerId,
        conn: ConnId,
        command: ZoneCommand,
    },
    /// New, already validated content, applied before the next tick.
    /// Valid new content, with the files it came from (for the journal).
    Reload(Box<ZoneContent>, ContentFiles),
    /// A transfer committed: send the client on, then remove the player.
    Redirect {
        player: PlayerId,
        redirect: Redirect,
    },
    /// A transfer was aborted and this zone still owns the player: unfreeze it.
    TransferFailed {
        player: PlayerId,
        detail: String,
    },
    /// This zone does not own the player any more: disconnect it without saving.
    OwnershipLost {
        player: PlayerId,
    },
    /// The zone is draining: hand every player to `to` (another copy of this map).
    Evacuate(ExitTarget),
    /// What the orchestrator's social layer sent for players here.
    Social(Box<arcane_control_api::SocialDown>),
    /// The zone viewer asks for the whole zone (with one player's view when `focus`
    /// names one), answered after the next tick.
    Inspect {
        focus: Option<PlayerId>,
        reply: tokio::sync::oneshot::Sender<Box<arcane_engine::viewer::WorldView>>,
    },
}
