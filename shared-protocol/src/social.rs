//! Chat, presence, friends and parties on the wire. A client sends `ClientMessage::Chat`
//! and `ClientMessage::Social`; the zone answers with `EventKind::Chat`,
//! `EventKind::ChatRefused` and `EventKind::Social`. Whispers and party messages cross
//! zones through the orchestrator; the zone of the sender checks and filters every
//! message first, so nothing a client sends reaches another client unchecked.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Longest chat text the protocol carries (bytes of UTF-8). Longer is refused as
/// `TooLong` before anything else is looked at; content may set a lower cap in
/// characters (`chat.ron`).
pub const MAX_CHAT_BYTES: usize = 512;

/// Where a chat message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum ChatChannel {
    /// Players whose view holds the speaker (and the speaker).
    Say,
    /// Every player in the zone.
    Zone,
    /// The speaker's party, in whatever zone each member is.
    Party,
    /// One named player, in any zone. On a received whisper `to` is the recipient's
    /// own name.
    Whisper { to: String },
}

impl ChatChannel {
    /// Stable lower-case name used in metrics labels, logs and bot reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChatChannel::Say => "say",
            ChatChannel::Zone => "zone",
            ChatChannel::Party => "party",
            ChatChannel::Whisper { .. } => "whisper",
        }
    }
}

/// Why a chat message was not delivered. Sent back to the speaker in `ChatRefused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum ChatRefusal {
    /// Nothing left after control characters and surrounding spaces were removed.
    Empty,
    /// Longer than the content's cap (or `MAX_CHAT_BYTES`).
    TooLong,
    /// More messages than the per-player rate allows; wait and send again.
    RateLimited,
    /// A moderator muted the speaker (the detail says until when).
    Muted,
    /// No player of that name exists.
    UnknownPlayer,
    /// The recipient blocks the speaker.
    Blocked,
    /// `Party` chat without a party.
    NoParty,
    /// The message could not be routed to another zone right now.
    Unavailable,
    /// The frame's text was not valid UTF-8 (the frame counts as malformed too).
    InvalidText,
}

impl ChatRefusal {
    pub const ALL: [ChatRefusal; 9] = [
        ChatRefusal::Empty,
        ChatRefusal::TooLong,
        ChatRefusal::RateLimited,
        ChatRefusal::Muted,
        ChatRefusal::UnknownPlayer,
        ChatRefusal::Blocked,
        ChatRefusal::NoParty,
        ChatRefusal::Unavailable,
        ChatRefusal::InvalidText,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChatRefusal::Empty => "empty",
            ChatRefusal::TooLong => "too_long",
            ChatRefusal::RateLimited => "rate_limited",
            ChatRefusal::Muted => "muted",
            ChatRefusal::UnknownPlayer => "unknown_player",
            ChatRefusal::Blocked => "blocked",
            ChatRefusal::NoParty => "no_party",
            ChatRefusal::Unavailable => "unavailable",
            ChatRefusal::InvalidText => "invalid_text",
        }
    }
}

/// A friend, party or block-list request. Names are player names. Answered by
/// `SocialEvent::Done` or `SocialEvent::Refused`, plus the changed state.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum SocialRequest {
    /// Ask for one's lists, friends' presence and party (`Lists` and `Party` events).
    Status,
    PartyCreate,
    PartyInvite {
        name: String,
    },
    PartyAccept {
        party: String,
    },
    PartyDecline {
        party: String,
    },
    PartyLeave,
    /// Leader only.
    PartyKick {
        name: String,
    },
    /// Leader only: make `name` the leader.
    PartyPromote {
        name: String,
    },
    FriendAdd {
        name: String,
    },
    FriendRemove {
        name: String,
    },
    /// Hide all of a player's chat, and refuse their whispers and invites.
    Block {
        name: String,
    },
    Unblock {
        name: String,
    },
    /// Hide a player's chat only.
    Mute {
        name: String,
    },
    Unmute {
        name: String,
    },
}

impl SocialRequest {
    pub fn as_str(&self) -> &'static str {
        match self {
            SocialRequest::Status => "status",
            SocialRequest::PartyCreate => "party_create",
            SocialRequest::PartyInvite { .. } => "party_invite",
            SocialRequest::PartyAccept { .. } => "party_accept",
            SocialRequest::PartyDecline { .. } => "party_decline",
            SocialRequest::PartyLeave => "party_leave",
            SocialRequest::PartyKick { .. } => "party_kick",
            SocialRequest::PartyPromote { .. } => "party_promote",
            SocialRequest::FriendAdd { .. } => "friend_add",
            SocialRequest::FriendRemove { .. } => "friend_remove",
            SocialRequest::Block { .. } => "block",
            SocialRequest::Unblock { .. } => "unblock",
            SocialRequest::Mute { .. } => "mute",
            SocialRequest::Unmute { .. } => "unmute",
        }
    }
}

/// Why a social request changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum SocialRefusal {
    UnknownPlayer,
    /// Inviting, befriending or blocking oneself.
    Yourself,
    /// The other player blocks you.
    Blocked,
    PartyFull,
    NotInParty,
    AlreadyInParty,
    NotLeader,
    /// No live invitation to that party.
    NoInvite,
    /// The named player is not in your party.
    NotMember,
    /// A friend, block or mute list is at its limit.
    ListFull,
    /// The orchestrator could not be reached; try again.
    Unavailable,
    /// More requests than the per-player rate allows; wait and send again.
    RateLimited,
}

impl SocialRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            SocialRefusal::UnknownPlayer => "unknown_player",
            SocialRefusal::Yourself => "yourself",
            SocialRefusal::Blocked => "blocked",
            SocialRefusal::PartyFull => "party_full",
            SocialRefusal::NotInParty => "not_in_party",
            SocialRefusal::AlreadyInParty => "already_in_party",
            SocialRefusal::NotLeader => "not_leader",
            SocialRefusal::NoInvite => "no_invite",
            SocialRefusal::NotMember => "not_member",
            SocialRefusal::ListFull => "list_full",
            SocialRefusal::Unavailable => "unavailable",
            SocialRefusal::RateLimited => "rate_limited",
        }
    }
}

/// One member of a party as its members see it. `zone` is empty while offline; HP is
/// the last the member's zone reported.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PartyMember {
    pub player_id: u64,
    pub name: String,
    pub leader: bool,
    pub zone: String,
    pub hp: u32,
    pub max_hp: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PartyView {
    pub id: String,
    pub members: Vec<PartyMember>,
}

/// A friend and where they are (`zone` empty: offline).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct FriendView {
    pub name: String,
    pub zone: String,
}

/// Social news for one player.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum SocialEvent {
    /// A request was carried out.
    Done { request: String, detail: String },
    Refused {
        request: String,
        reason: SocialRefusal,
        detail: String,
    },
    /// `from` invites you to `party` (answer with `PartyAccept`/`PartyDecline`).
    Invited { party: String, from: String },
    /// Your party as it is now; `None` when you are in none.
    Party(Option<PartyView>),
    /// A friend or party member came online, went offline or changed zone.
    Presence { name: String, zone: String },
    /// Your lists, with each friend's presence.
    Lists {
        friends: Vec<FriendView>,
        blocked: Vec<String>,
        muted: Vec<String>,
    },
}
