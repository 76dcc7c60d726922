//! The social link: one WebSocket per zone process to the orchestrator's internal
//! listener (`GET /v1/social`, signed like every control call), carrying JSON text
//! frames. Up: who is online here, chat that leaves the zone, social requests,
//! vitals, moderation audit. Down: events for players here, their block and mute
//! lists, moderator mutes and kicks.

use arcane_protocol::{ChatChannel, EventKind, SocialRequest};
use serde::{Deserialize, Serialize};

/// A player online in a zone, as the zone reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlinePlayer {
    pub player: u64,
    pub name: String,
    /// The ownership epoch the zone holds the player at (0: a zone without a
    /// database); an older one than presence knows is a stale report.
    #[serde(default)]
    pub epoch: i64,
}

/// Zone → orchestrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SocialUp {
    /// The first frame of a link (and of every reconnect): who is online here now.
    Hello {
        zone_id: String,
        lease_generation: i64,
        online: Vec<OnlinePlayer>,
    },
    Online(OnlinePlayer),
    Offline {
        player: u64,
    },
    /// A party message or whisper, already checked and filtered by this zone.
    Chat {
        from: u64,
        from_name: String,
        channel: ChatChannel,
        text: String,
        /// When the speaker's zone accepted it (ms since the Unix epoch).
        sent_ms: u64,
    },
    Request {
        player: u64,
        name: String,
        request: SocialRequest,
    },
    /// HP and maximum HP of players whose HP changed, for their party.
    Vitals {
        players: Vec<(u64, u32, u32)>,
    },
    /// Something for the moderation audit (a filter hit).
    Audit {
        player: u64,
        action: String,
        detail: String,
    },
    /// A delivery for players who are not here (any more: a transfer in flight).
    Bounced {
        players: Vec<u64>,
        event: EventKind,
        /// The delivery's attempt (see `SocialDown::Deliver`).
        attempt: u8,
    },
}

/// Orchestrator → zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SocialDown {
    /// Reliable events for players in this zone (chat from elsewhere, social news).
    /// Those not here are bounced back with `attempt`; the orchestrator tries again
    /// where they are then, a few times.
    Deliver {
        players: Vec<u64>,
        event: EventKind,
        #[serde(default)]
        attempt: u8,
    },
    /// The players whose chat `player` does not want to see (blocked and muted).
    Hidden { player: u64, ids: Vec<u64> },
    /// A moderator muted `player` until `until_ms` (0 lifts the mute).
    Muted {
        player: u64,
        until_ms: u64,
        reason: String,
    },
    /// A moderator removes `player` from the game.
    Kick { player: u64, reason: String },
}

/// `POST /v1/moderation`: a moderator mutes or kicks a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModerationRequest {
    /// The moderator (recorded in the audit).
    pub actor: String,
    /// The player's name.
    pub player: String,
    pub action: ModerationAction,
    /// Why (recorded in the audit, shown to the player).
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModerationAction {
    /// No chat for `minutes` (0 lifts a mute).
    Mute {
        minutes: u32,
    },
    Kick,
}

/// One row of the moderation audit (`GET /v1/moderation/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub at_ms: i64,
    /// Who: a moderator's name, or `zone:<id>` for the word filter.
    pub actor: String,
    /// `mute`, `unmute`, `kick` or `filter`.
    pub action: String,
    pub player_id: u64,
    pub reason: String,
    pub detail: String,
}

/// `GET /v1/presence?names=a,b`: where each named player is (`zone` empty: offline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceEntry {
    pub name: String,
    pub zone: String,
}
