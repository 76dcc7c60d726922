//! Players: joining and leaving, routing the host's commands to the concern that
//! handles each (through `CommandHandlers`), violation scoring and kicks. Owns
//! `Violations` and the `PlayerIndex`; spawns the shared `Player`, `Replicated` and
//! `Position` of a joining player and lets every other concern add its own (the
//! `PlayerJoined` event).

mod plugin;
pub mod rules;
mod systems;

pub use plugin::PlayersPlugin;
pub use rules::Violations;
pub use systems::PlayerIndex;
