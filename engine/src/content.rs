//! Designer content: typed RON definitions for zones and netcode tuning, loaded with
//! `deny_unknown_fields` and then checked semantically. Every problem is reported, not
//! just the first; parse errors carry `file:line:col`.

use std::fmt;
use std::path::{Path, PathBuf};

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

impl ContentError {
    /// A problem found after parsing, which has no text position.
    fn semantic(file: &Path, message: String) -> Self {
        ContentError {
            file: file.to_path_buf(),
            position: None,
            message,
        }
    }
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
}

impl ZoneDef {
    /// True when `p` is inside the bounds and outside every obstacle.
    pub fn is_walkable(&self, p: Vec2) -> bool {
        self.bounds.contains(p) && !self.obstacles.iter().any(|o| o.contains(p))
    }
}

/// Limits on client input (anti-flood, anti-replay, kick threshold).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// fastest entity can have moved, and entities spawned since appear at the next
    /// rebuild.
    pub index_rebuild_interval_ticks: u8,
    pub input: InputLimits,
    pub tiers: Tiers,
}

/// Everything a zone needs from `content/`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneContent {
    pub zone: ZoneDef,
    pub netcode: NetcodeDef,
}

fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, ContentError> {
    ron::from_str(text).map_err(|e| ContentError {
        file: file.to_path_buf(),
        position: Some((e.span.start.line, e.span.start.col)),
        message: e.code.to_string(),
    })
}

fn read(file: &Path) -> Result<String, ContentError> {
    std::fs::read_to_string(file).map_err(|e| ContentError {
        file: file.to_path_buf(),
        position: None,
        message: format!("cannot read file: {e}"),
    })
}

impl ZoneContent {
    /// Loads `netcode.ron` and `zones/<zone_id>.ron` from `dir`, reporting every problem.
    pub fn load(dir: &Path, zone_id: &str) -> Result<ZoneContent, ContentErrors> {
        let netcode_file = dir.join("netcode.ron");
        let zone_file = dir.join("zones").join(format!("{zone_id}.ron"));
        let mut errors = Vec::new();
        let netcode = read(&netcode_file).and_then(|t| parse::<NetcodeDef>(&netcode_file, &t));
        let zone = read(&zone_file).and_then(|t| parse::<ZoneDef>(&zone_file, &t));
        let (netcode, zone) = match (netcode, zone) {
            (Ok(n), Ok(z)) => (n, z),
            (n, z) => {
                errors.extend(n.err());
                errors.extend(z.err());
                return Err(ContentErrors(errors));
            }
        };
        errors.extend(check_netcode(&netcode_file, &netcode));
        errors.extend(check_zone(&zone_file, &zone, zone_id));
        if errors.is_empty() {
            Ok(ZoneContent { zone, netcode })
        } else {
            Err(ContentErrors(errors))
        }
    }

    /// Parses content from strings (tests, embedded defaults); names are for messages.
    pub fn from_strs(netcode: &str, zone: &str) -> Result<ZoneContent, ContentErrors> {
        let nf = Path::new("netcode.ron");
        let zf = Path::new("zone.ron");
        let n = parse::<NetcodeDef>(nf, netcode);
        let z = parse::<ZoneDef>(zf, zone);
        match (n, z) {
            (Ok(netcode), Ok(zone)) => {
                let mut errors = check_netcode(nf, &netcode);
                errors.extend(check_zone(zf, &zone, &zone.id.clone()));
                if errors.is_empty() {
                    Ok(ZoneContent { zone, netcode })
                } else {
                    Err(ContentErrors(errors))
                }
            }
            (n, z) => Err(ContentErrors(n.err().into_iter().chain(z.err()).collect())),
        }
    }
}

/// Finite and greater than zero (NaN fails).
fn positive(x: f32) -> bool {
    x.is_finite() && x > 0.0
}

/// Finite and not negative (NaN fails).
fn non_negative(x: f32) -> bool {
    x.is_finite() && x >= 0.0
}

fn check_netcode(file: &Path, n: &NetcodeDef) -> Vec<ContentError> {
    let mut errs = Vec::new();
    let mut bad = |m: String| errs.push(ContentError::semantic(file, m));
    if !(1..=128).contains(&n.tick_rate_hz) {
        bad(format!(
            "tick_rate_hz must be between 1 and 128, got {}",
            n.tick_rate_hz
        ));
    }
    if n.index_rebuild_interval_ticks == 0 {
        bad("index_rebuild_interval_ticks must be at least 1".into());
    }
    let i = &n.input;
    if i.max_queued == 0 || i.max_per_tick == 0 || i.credit_cap == 0 {
        bad("input.max_queued, input.max_per_tick and input.credit_cap must be at least 1".into());
    }
    if !positive(i.kick_score) || !non_negative(i.score_decay_per_tick) {
        bad("input.kick_score must be positive and input.score_decay_per_tick not negative".into());
    }
    for (name, t) in [("mobile", &n.tiers.mobile), ("desktop", &n.tiers.desktop)] {
        if !positive(t.radius) || !non_negative(t.margin) || !positive(t.priority_falloff) {
            bad(format!(
                "tiers.{name}: radius and priority_falloff must be positive, margin not negative"
            ));
        }
        if t.tracked_cap == 0 || t.tracked_cap > 250 {
            bad(format!(
                "tiers.{name}.tracked_cap must be between 1 and 250 (one-byte local ids), got {}",
                t.tracked_cap
            ));
        }
        if t.query_interval_ticks == 0 {
            bad(format!(
                "tiers.{name}.query_interval_ticks must be at least 1"
            ));
        }
        if t.snapshot_cap == 0 || t.snapshot_cap > t.tracked_cap {
            bad(format!(
                "tiers.{name}.snapshot_cap must be between 1 and tracked_cap, got {}",
                t.snapshot_cap
            ));
        }
    }
    errs
}

fn check_zone(file: &Path, z: &ZoneDef, expected_id: &str) -> Vec<ContentError> {
    let mut errs = Vec::new();
    let mut bad = |m: String| errs.push(ContentError::semantic(file, m));
    if z.id != expected_id {
        bad(format!(
            "id {:?} does not match the file name {expected_id:?}",
            z.id
        ));
    }
    let b = z.bounds;
    if !(b.min.is_finite() && b.max.is_finite() && b.max.x > b.min.x && b.max.y > b.min.y) {
        bad("bounds: max must be greater than min on both axes".into());
    }
    if !positive(z.player_speed) {
        bad(format!(
            "player_speed must be positive, got {}",
            z.player_speed
        ));
    }
    if z.max_players == 0 {
        bad("max_players must be at least 1".into());
    }
    if z.spawn_points.is_empty() {
        bad("spawn_points: at least one spawn point is needed".into());
    }
    if !non_negative(z.spawn_radius) {
        bad("spawn_radius must not be negative".into());
    }
    for (i, p) in z.spawn_points.iter().enumerate() {
        if !b.contains(*p) {
            bad(format!(
                "spawn_points[{i}] ({}, {}) is outside the zone bounds",
                p.x, p.y
            ));
        } else if z.obstacles.iter().any(|o| o.contains(*p)) {
            bad(format!(
                "spawn_points[{i}] ({}, {}) is inside an obstacle",
                p.x, p.y
            ));
        }
    }
    for (i, o) in z.obstacles.iter().enumerate() {
        let ok = match *o {
            Obstacle::Circle { center, radius } => center.is_finite() && radius > 0.0,
            Obstacle::Box { min, max } => {
                min.is_finite() && max.is_finite() && max.x > min.x && max.y > min.y
            }
        };
        if !ok {
            bad(format!("obstacles[{i}] has a non-positive size"));
        }
    }
    for (i, g) in z.npcs.iter().enumerate() {
        if !non_negative(g.speed) {
            bad(format!("npcs[{i}].speed must not be negative"));
        }
        if g.min_leg_ticks == 0 || g.max_leg_ticks < g.min_leg_ticks {
            bad(format!(
                "npcs[{i}]: need 1 <= min_leg_ticks <= max_leg_ticks"
            ));
        }
        if !(0.0..=1.0).contains(&g.idle_chance) {
            bad(format!("npcs[{i}].idle_chance must be between 0 and 1"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const NETCODE: &str = include_str!("../../content/netcode.ron");
    const ZONE: &str = include_str!("../../content/zones/meadow.ron");

    #[test]
    fn shipped_content_loads() {
        let c = ZoneContent::from_strs(NETCODE, ZONE).unwrap();
        assert_eq!(c.zone.id, "meadow");
    }

    #[test]
    fn unknown_field_reports_line_and_column() {
        let broken = ZONE.replacen("player_speed", "player_sped", 1);
        let errs = ZoneContent::from_strs(NETCODE, &broken).unwrap_err();
        let e = &errs.0[0];
        assert!(e.position.is_some());
        assert!(e.to_string().contains("player_sped"), "{e}");
    }

    #[test]
    fn every_semantic_problem_is_reported() {
        let broken = ZONE
            .replacen("player_speed: 5.0", "player_speed: -1.0", 1)
            .replacen("max_players: 2500", "max_players: 0", 1);
        let errs = ZoneContent::from_strs(NETCODE, &broken).unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs}");
    }
}
