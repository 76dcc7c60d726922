//! What happens to a zone that several concerns act on, as bevy events: a player
//! joins, comes back, leaves or respawns, the content changes. The plugin that causes
//! one triggers it; each concern observes it and looks after its own components, so no
//! plugin touches another's.

use arcane_protocol::ClientTier;
use arcane_protocol::saved::SavedPlayer;
use bevy_ecs::prelude::{Entity, Event};

use super::io::PlayerId;
use crate::content::ZoneContent;

/// A player entered the zone: `entity` has its `Player`, `Replicated` and `Position`;
/// each concern adds its own components (from `saved` when the player was saved).
#[derive(Event, Debug, Clone)]
pub struct PlayerJoined {
    pub entity: Entity,
    pub player: PlayerId,
    pub tier: ClientTier,
    /// The saved state it came with; `None` for a fresh player.
    pub saved: Option<SavedPlayer>,
}

/// A player in the zone connected again: its streams start over (new sequence
/// numbers, a fresh view and snapshot history).
#[derive(Event, Debug, Clone)]
pub struct PlayerReconnected {
    pub entity: Entity,
    pub tier: ClientTier,
}

/// A player is leaving (logout, disconnect, kick): its entity is still whole, and is
/// despawned once every observer ran.
#[derive(Event, Debug, Clone)]
pub struct PlayerLeaving {
    pub entity: Entity,
    pub player: PlayerId,
}

/// A dead player came back (full HP at a respawn point): concerns restore theirs.
#[derive(Event, Debug, Clone)]
pub struct PlayerRespawned {
    pub entity: Entity,
}

/// New content was applied between two ticks (`ZoneSettings` holds it now): each
/// concern adapts its live entities. `old` is what ran before (to map indices by id).
#[derive(Event, Debug, Clone)]
pub struct ContentReloaded {
    pub old: Box<ZoneContent>,
}
