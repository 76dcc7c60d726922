//! Enemy types (`content/enemies.ron`): stats, attacks with their telegraphs, target
//! rules and idle behaviour.

use serde::Deserialize;

/// The area an enemy attack covers, announced during the wind-up (the telegraph).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TelegraphShape {
    /// Centred on the enemy.
    Circle { radius: f32 },
    /// From the enemy toward its target; `angle_deg` is the full opening angle.
    Cone { length: f32, angle_deg: f32 },
    /// A rectangle from the enemy toward its target.
    Line { length: f32, width: f32 },
}

/// How an enemy picks whom to chase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TargetRule {
    /// The nearest eligible player inside the aggro radius.
    Nearest,
    /// The player who dealt it the most damage and is still eligible; the nearest
    /// until someone has.
    Threat,
}

/// What an enemy does when nobody is in reach.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum IdleBehaviour {
    Guard,
    /// Walks to random points within `radius` of its spawn.
    Wander {
        radius: f32,
    },
}

/// An enemy's attack: wind-up with a telegraph, then the hit, then a recovery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnemyAttack {
    /// The wind-up starts when the target is this close (metres).
    pub range: f32,
    pub shape: TelegraphShape,
    pub windup_s: f32,
    pub damage: u32,
    /// Seconds the enemy stands still after the hit (a window to punish it).
    pub recover_s: f32,
}

/// An enemy type (`content/enemies.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnemyDef {
    pub id: String,
    pub max_hp: u32,
    /// Metres per second while pursuing or returning home.
    pub speed: f32,
    pub aggro_radius: f32,
    /// Farther than this from its spawn, the enemy gives up, walks home and resets.
    pub leash_radius: f32,
    pub idle: IdleBehaviour,
    pub target_rule: TargetRule,
    pub attack: EnemyAttack,
}
