//! Skills (`content/skills.ron`): who they target, what they cost and do.

use serde::Deserialize;

/// Who a skill may target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SkillTarget {
    /// A living enemy within range and in line of sight.
    Enemy,
    /// The caster or a living player within range and in line of sight.
    AllyOrSelf,
    /// Centred on the caster; no target is sent.
    Caster,
}

/// What a skill does when its cast completes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SkillEffect {
    /// A projectile entity that flies toward the target and damages the first valid
    /// target it touches, or expires after `max_range` metres.
    Projectile {
        /// Metres per second.
        speed: f32,
        max_range: f32,
        damage: u32,
        /// Follows the target entity (true) or flies straight at where it was (false).
        homing: bool,
        /// How close the projectile must come to a target to hit it (metres).
        hit_radius: f32,
    },
    /// Damages every valid target within `radius` of the caster, at once.
    Nova {
        radius: f32,
        damage: u32,
        /// Metres every hit target is pushed away from the caster (0 for none).
        #[serde(default)]
        knockback: f32,
    },
    /// Restores HP to the target, never above its maximum.
    Heal { amount: u32 },
}

/// A skill (`content/skills.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillDef {
    pub id: String,
    pub mana_cost: f32,
    /// Seconds before this skill can be cast again.
    pub cooldown_s: f32,
    /// Seconds between the cast starting and the effect; 0 is instant.
    #[serde(default)]
    pub cast_time_s: f32,
    /// Whether moving during the cast time interrupts it.
    #[serde(default)]
    pub interrupted_by_movement: bool,
    /// Farthest target distance in metres (unused for `Caster` skills).
    pub range: f32,
    pub target: SkillTarget,
    pub effect: SkillEffect,
}
