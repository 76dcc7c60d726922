//! Players: joining and leaving, routing session commands (inputs, acks) to the right
//! entity, violation scoring and kicks.

mod plugin;
pub mod rules;
mod systems;

pub use plugin::{PlayersPlugin, PlayersSystems};
pub use rules::Violations;
pub use systems::{Player, PlayerIndex, class_components, pick_spawn};
