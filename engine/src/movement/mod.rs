//! Server-validated, input-driven movement: clients send directions with sequence
//! numbers, the zone queues, rate-limits and integrates them against bounds and
//! obstacles. Owns [`PlayerInput`] and a player's `MoveSpeed`.

mod plugin;
pub mod rules;
mod systems;

pub use plugin::MovementPlugin;
pub use rules::PlayerInput;
