//! Designer content: typed RON definitions (netcode tuning, classes, skills, enemies,
//! zones) loaded with `deny_unknown_fields` and then checked semantically. Every problem
//! is reported at once, each as `file:line:col: message`.

mod check;
pub mod locate;
mod sources;

pub use sources::{ContentSources, ContentVersion};

use std::fmt;
use std::path::PathBuf;

use glam::Vec2;
use serde::Deserialize;

/// One problem found in a content file.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentError {
    pub file: PathBuf,
    /// 1-based line and column when the problem has a position in the text.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// All problems of one load, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ContentErrors(pub Vec<ContentError>);

impl fmt::Display for ContentErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// An axis-aligned rectangle in metres.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min: Vec2,
    pub max: Vec2,
}

impl Bounds {
    pub fn contains(&self, p: Vec2) -> bool {
        p.x >= self.min.x && p.y >= self.min.y && p.x <= self.max.x && p.y <= self.max.y
    }
}

/// A static obstacle that blocks movement.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Obstacle {
    Circle { center: Vec2, radius: f32 },
    Box { min: Vec2, max: Vec2 },
}

impl Obstacle {
    pub fn contains(&self, p: Vec2) -> bool {
        match *self {
            Obstacle::Circle { center, radius } => p.distance_squared(center) < radius * radius,
            Obstacle::Box { min, max } => p.x > min.x && p.y > min.y && p.x < max.x && p.y < max.y,
        }
    }

    /// True when the segment `a`–`b` passes through the obstacle's interior.
    pub fn blocks_segment(&self, a: Vec2, b: Vec2) -> bool {
        match *self {
            Obstacle::Circle { center, radius } => {
                let ab = b - a;
                let len2 = ab.length_squared();
                let t = if len2 > 0.0 {
                    ((center - a).dot(ab) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                (a + ab * t).distance_squared(center) < radius * radius
            }
            Obstacle::Box { min, max } => {
                // Slab test on the open box, clipped to the segment's [0, 1].
                let d = b - a;
                let (mut t0, mut t1) = (0.0f32, 1.0f32);
                for (p, dv, lo, hi) in [(a.x, d.x, min.x, max.x), (a.y, d.y, min.y, max.y)] {
                    if dv.abs() < f32::EPSILON {
                        if p <= lo || p >= hi {
                            return false;
                        }
                    } else {
                        let (mut ta, mut tb) = ((lo - p) / dv, (hi - p) / dv);
                        if ta > tb {
                            std::mem::swap(&mut ta, &mut tb);
                        }
                        t0 = t0.max(ta);
                        t1 = t1.min(tb);
                    }
                }
                t0 < t1
            }
        }
    }
}

/// A population of wandering NPCs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcGroup {
    pub count: u32,
    /// Metres per second.
    pub speed: f32,
    /// A wander leg lasts a random number of ticks in this range.
    pub min_leg_ticks: u32,
    pub max_leg_ticks: u32,
    /// Chance that a leg is spent standing still.
    pub idle_chance: f32,
}

/// A zone: bounds, obstacles, spawns and population.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneDef {
    pub id: String,
    pub bounds: Bounds,
    /// Player movement speed in metres per second.
    pub player_speed: f32,
    pub max_players: u32,
    /// Players appear within `spawn_radius` of a randomly chosen spawn point.
    pub spawn_points: Vec<Vec2>,
    pub spawn_radius: f32,
    #[serde(default)]
    pub obstacles: Vec<Obstacle>,
    #[serde(default)]
    pub npcs: Vec<NpcGroup>,
    /// The class every player of this zone plays (an id from `classes.ron`).
    #[serde(default = "default_class")]
    pub player_class: String,
    /// Where dead players reappear (the nearest to where they died); when empty,
    /// the spawn points are used.
    #[serde(default)]
    pub respawn_points: Vec<Vec2>,
    #[serde(default)]
    pub spawners: Vec<Spawner>,
    /// Borders and portals to other zones and instances.
    #[serde(default)]
    pub exits: Vec<Exit>,
    /// Set for instance templates (dungeons, boss arenas): the orchestrator opens a
    /// copy per party and closes it after it has been empty for a while.
    #[serde(default)]
    pub instance: Option<InstanceDef>,
    /// Players at which the orchestrator places new arrivals in an overflow copy of
    /// this zone instead (default: `max_players`, i.e. only when full).
    #[serde(default)]
    pub overflow_at: Option<u32>,
}

/// An area that hands a player who walks into it to another zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exit {
    pub area: Bounds,
    pub to: ExitTarget,
    pub arrive: Arrival,
}

/// Where an exit leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum ExitTarget {
    /// A shared zone, by id (a border or a portal).
    Zone(String),
    /// A new or the party's existing instance of a template (a zone with `instance`).
    Instance(String),
}

/// Where in the target zone the player appears.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum Arrival {
    /// At this point.
    At(Vec2),
    /// At this x, keeping the player's y (an east or west border).
    KeepY(f32),
    /// At this y, keeping the player's x (a north or south border).
    KeepX(f32),
}

impl Arrival {
    /// The arrival point for a player who left from `from`.
    pub fn point(self, from: Vec2) -> Vec2 {
        match self {
            Arrival::At(p) => p,
            Arrival::KeepY(x) => Vec2::new(x, from.y),
            Arrival::KeepX(y) => Vec2::new(from.x, y),
        }
    }
}

/// How an instance template behaves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceDef {
    /// Seconds an open instance may stay empty before it is closed.
    pub close_after_empty_s: f32,
}

fn default_class() -> String {
    "mage".to_string()
}

/// Keeps `count` enemies of one type alive around a point.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spawner {
    /// An id from `enemies.ron`.
    pub enemy: String,
    pub at: Vec2,
    /// Enemies appear within this many metres of `at`.
    pub radius: f32,
    pub count: u32,
    /// Seconds from an enemy's death until the spawner brings a new one.
    pub respawn_s: f32,
}

impl ZoneDef {
    /// True when `p` is inside the bounds and outside every obstacle.
    pub fn is_walkable(&self, p: Vec2) -> bool {
        self.bounds.contains(p) && !self.obstacles.iter().any(|o| o.contains(p))
    }

    /// True when the segment `a`–`b` crosses no obstacle (obstacles block sight as
    /// well as movement).
    pub fn line_of_sight(&self, a: Vec2, b: Vec2) -> bool {
        !self.obstacles.iter().any(|o| o.blocks_segment(a, b))
    }

    /// Where a player who died at `at` reappears: the nearest respawn point, or the
    /// nearest spawn point when the zone names none.
    pub fn respawn_point(&self, at: Vec2) -> Vec2 {
        let points = if self.respawn_points.is_empty() {
            &self.spawn_points
        } else {
            &self.respawn_points
        };
        points
            .iter()
            .copied()
            .min_by(|a, b| a.distance_squared(at).total_cmp(&b.distance_squared(at)))
            .unwrap_or(at)
    }
}

/// Limits on client input (anti-flood, anti-replay, kick threshold).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLimits {
    /// Inputs held per player waiting to be applied; more are dropped as a flood.
    pub max_queued: u8,
    /// Most inputs applied for one player in one tick.
    pub max_per_tick: u8,
    /// One credit accrues per tick up to this cap; each applied input spends one, so a
    /// client can never move faster than one input per tick on average.
    pub credit_cap: u8,
    /// Each rejected input adds 1 to a player's violation score...
    pub kick_score: f32,
    /// ...which decays by this much per tick; over `kick_score` the player is kicked.
    pub score_decay_per_tick: f32,
}

/// What one client tier may see.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestTier {
    /// Entities enter the view within this radius (metres)...
    pub radius: f32,
    /// ...and leave it only beyond `radius + margin`, so they do not flicker at the edge.
    pub margin: f32,
    /// Most entities a client tracks at once, nearest first (at most 250).
    pub tracked_cap: u16,
    /// Most entities refreshed in one snapshot, by accumulated priority; the rest keep
    /// their last sent state and gain priority, so far ones refresh at a lower rate.
    pub snapshot_cap: u16,
    /// Priority per tick is `1 / (1 + distance / falloff)`.
    pub priority_falloff: f32,
    /// Ticks between a client's spatial queries (newcomers appear at most this late;
    /// tracked entities are refreshed every tick regardless).
    pub query_interval_ticks: u8,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    pub mobile: InterestTier,
    pub desktop: InterestTier,
}

/// Netcode tuning shared by all zones (`content/netcode.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetcodeDef {
    pub tick_rate_hz: u16,
    /// Ticks between R-tree rebuilds. In between, queries are widened by how far the
    /// fastest entity can have moved, and entities spawned since are checked
    /// linearly until the next rebuild takes them in.
    pub index_rebuild_interval_ticks: u8,
    pub input: InputLimits,
    pub tiers: Tiers,
    /// Ticks between write-behind checkpoints of every player (100 = 5 s at 20 Hz):
    /// the most movement a killed zone can lose.
    #[serde(default = "default_checkpoint_ticks")]
    pub checkpoint_interval_ticks: u32,
    /// Ticks a player waits, after a transfer failed, before an exit tries again.
    #[serde(default = "default_transfer_retry_ticks")]
    pub transfer_retry_ticks: u32,
    /// Snapshots a client may go without acknowledging any before it is disconnected
    /// as `SlowClient` (200 = 10 s at 20 Hz): a client that stopped reading, or whose
    /// snapshots no longer reach it, is let go cleanly (its state saved) instead of
    /// being sent full snapshots for ever. At least `SENT_RING` (16), the ticks a
    /// client may lag before its baseline is lost.
    #[serde(default = "default_ack_timeout_ticks")]
    pub ack_timeout_ticks: u32,
}

fn default_ack_timeout_ticks() -> u32 {
    200
}

fn default_checkpoint_ticks() -> u32 {
    100
}

fn default_transfer_retry_ticks() -> u32 {
    100
}

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

/// A player class (`content/classes.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassDef {
    pub id: String,
    pub max_hp: u32,
    pub max_mana: f32,
    pub mana_regen_per_s: f32,
    /// Seconds after any cast before the next one may start.
    pub global_cooldown_s: f32,
    /// Skill ids, in the order of the client's skill slots.
    pub skills: Vec<String>,
    /// Seconds after death before a respawn request is honoured.
    pub respawn_delay_s: f32,
    /// Seconds of invulnerability after respawning.
    pub respawn_invulnerable_s: f32,
}

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

/// Everything a zone needs from `content/`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneContent {
    pub zone: ZoneDef,
    pub netcode: NetcodeDef,
    pub skills: Vec<SkillDef>,
    pub classes: Vec<ClassDef>,
    pub enemies: Vec<EnemyDef>,
    /// Identifies the content files this was loaded from.
    pub version: ContentVersion,
}

impl ZoneContent {
    /// Loads the zone `zone_id` from the content folder `dir`, reporting every problem.
    pub fn load(dir: &std::path::Path, zone_id: &str) -> Result<ZoneContent, ContentErrors> {
        ContentSources::read_dir(dir)?.zone(zone_id)
    }

    /// Loads the map `template` to run as zone `run_as` (an overflow copy or an
    /// instance has its own id but its template's content).
    pub fn load_as(
        dir: &std::path::Path,
        template: &str,
        run_as: &str,
    ) -> Result<ZoneContent, ContentErrors> {
        let mut content = Self::load(dir, template)?;
        content.zone.id = run_as.to_string();
        Ok(content)
    }

    pub fn skill_index(&self, id: &str) -> Option<usize> {
        self.skills.iter().position(|s| s.id == id)
    }

    pub fn enemy_index(&self, id: &str) -> Option<usize> {
        self.enemies.iter().position(|e| e.id == id)
    }

    /// The class players of this zone play (validated to exist).
    pub fn player_class(&self) -> Option<&ClassDef> {
        self.classes.iter().find(|c| c.id == self.zone.player_class)
    }

    /// Skill indices (into `skills`) of the player class's slots.
    pub fn class_skill_indices(&self) -> Vec<usize> {
        self.player_class()
            .map(|c| {
                c.skills
                    .iter()
                    .filter_map(|s| self.skill_index(s))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The fastest anything walks here (metres per second); projectiles excluded.
    pub fn fastest_speed(&self) -> f32 {
        let npcs = self.zone.npcs.iter().map(|g| g.speed);
        let enemies = self.enemies.iter().map(|e| e.speed);
        npcs.chain(enemies).fold(self.zone.player_speed, f32::max)
    }

    /// Seconds to whole ticks at this zone's tick rate (at least `min`).
    pub fn ticks(&self, seconds: f32, min: u64) -> u64 {
        let hz = f32::from(self.netcode.tick_rate_hz.max(1));
        ((seconds * hz).round().max(0.0) as u64).max(min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_error(sources: &ContentSources, zone: &str) -> ContentError {
        let errs = sources.zone(zone).unwrap_err();
        assert_eq!(errs.0.len(), 1, "{errs}");
        errs.0[0].clone()
    }

    #[test]
    fn exits_must_lead_somewhere_from_inside_the_bounds() {
        let mut s = ContentSources::shipped();
        let meadow = s.get("zones/meadow.ron").unwrap().to_string();
        s.set(
            "zones/meadow.ron",
            meadow.replace("to: Zone(\"forest\")", "to: Zone(\"swamp\")"),
        );
        let e = one_error(&s, "meadow");
        assert!(e.message.contains("unknown zone \"swamp\""), "{e}");
        let mut s = ContentSources::shipped();
        s.set(
            "zones/meadow.ron",
            meadow.replace(
                "min: (995.0, 0.0), max: (1000.0, 1000.0)",
                "min: (995.0, 0.0), max: (1010.0, 1000.0)",
            ),
        );
        let e = one_error(&s, "meadow");
        assert!(e.message.contains("not inside the zone bounds"), "{e}");
        assert!(e.position.is_some(), "{e}");
    }

    #[test]
    fn shipped_content_validates() {
        let ids = ContentSources::shipped().validate().unwrap();
        assert_eq!(ids, ["crypt", "forest", "meadow", "test_area"]);
        let crypt = ContentSources::shipped().zone("crypt").unwrap();
        assert!(crypt.zone.instance.is_some());
        assert_eq!(crypt.zone.exits[0].to, ExitTarget::Zone("meadow".into()));
        let c = ContentSources::shipped().zone("meadow").unwrap();
        assert_eq!(c.player_class().unwrap().id, "mage");
        assert_eq!(c.class_skill_indices().len(), 3);
    }

    #[test]
    fn unknown_field_reports_line_and_column() {
        let mut s = ContentSources::shipped();
        let text = s
            .get("zones/meadow.ron")
            .unwrap()
            .replacen("player_speed", "player_sped", 1);
        s.set("zones/meadow.ron", text);
        let e = one_error(&s, "meadow");
        assert_eq!(e.position, Some((5, 5)), "{e}");
        assert!(e.to_string().contains("player_sped"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_value_and_all_are_reported() {
        let mut s = ContentSources::shipped();
        let skills =
            s.get("skills.ron")
                .unwrap()
                .replacen("cooldown_s: 6.0", "cooldown_s: -6.0", 1);
        s.set("skills.ron", skills);
        let classes = s
            .get("classes.ron")
            .unwrap()
            .replacen("\"heal\"]", "\"fireball\"]", 1);
        s.set("classes.ron", classes);
        let errs = s.validate().unwrap_err();
        let text = errs.to_string();
        assert_eq!(errs.0.len(), 2, "{text}");
        assert!(
            text.contains(
                "content/skills.ron:16:9: arcane_nova: cooldown_s must be positive, got -6"
            ),
            "{text}"
        );
        assert!(
            text.contains("content/classes.ron:9:50: mage: unknown skill \"fireball\""),
            "{text}"
        );
    }

    #[test]
    fn an_ack_timeout_shorter_than_the_baseline_ring_is_refused() {
        let mut s = ContentSources::shipped();
        let netcode = s.get("netcode.ron").unwrap().replacen(
            "ack_timeout_ticks: 200",
            "ack_timeout_ticks: 5",
            1,
        );
        s.set("netcode.ron", netcode);
        let text = s.validate().unwrap_err().to_string();
        assert!(
            text.contains("ack_timeout_ticks must be at least 16") && text.contains("got 5"),
            "{text}"
        );
    }

    #[test]
    fn segment_blocking_matches_the_obstacle_shapes() {
        let circle = Obstacle::Circle {
            center: Vec2::new(0.0, 0.0),
            radius: 1.0,
        };
        assert!(circle.blocks_segment(Vec2::new(-5.0, 0.0), Vec2::new(5.0, 0.0)));
        assert!(!circle.blocks_segment(Vec2::new(-5.0, 2.0), Vec2::new(5.0, 2.0)));
        assert!(!circle.blocks_segment(Vec2::new(-5.0, 0.0), Vec2::new(-2.0, 0.0)));
        let boxed = Obstacle::Box {
            min: Vec2::new(0.0, 0.0),
            max: Vec2::new(2.0, 2.0),
        };
        assert!(boxed.blocks_segment(Vec2::new(-1.0, 1.0), Vec2::new(3.0, 1.0)));
        assert!(boxed.blocks_segment(Vec2::new(1.0, -1.0), Vec2::new(1.0, 3.0)));
        assert!(!boxed.blocks_segment(Vec2::new(-1.0, 3.0), Vec2::new(3.0, 3.0)));
        assert!(!boxed.blocks_segment(Vec2::new(-1.0, -1.0), Vec2::new(-0.5, 3.0)));
        // Touching an edge is not entering the box.
        assert!(!boxed.blocks_segment(Vec2::new(-1.0, 0.0), Vec2::new(3.0, 0.0)));
    }
}
