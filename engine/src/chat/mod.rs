//! Chat in one zone: every message is checked and cleaned here (`rules.rs`); `say`
//! goes to the players whose view holds the speaker, `zone` to everyone in the zone,
//! and party messages and whispers are handed to the host (`ZoneOutput::Chat`), which
//! routes them through the orchestrator. Rate limits and moderator mutes are the
//! host's (wall-clock) business; recipients' block and mute lists too.

mod plugin;
pub mod rules;
mod systems;

pub use plugin::ChatPlugin;
