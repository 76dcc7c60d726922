//! A zone (`content/zones/<id>.ron`): its bounds and obstacles, spawns and respawns,
//! its NPCs, enemy spawners, exits to other zones and instances.

use glam::Vec2;
use serde::Deserialize;

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
    /// Wild creatures: populations, breeding cells and their caps.
    #[serde(default)]
    pub wild: Option<super::creatures::WildDef>,
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
