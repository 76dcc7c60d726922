//! The zone viewer's picture of a whole zone, for designers and QA (`/world` on the
//! zone's ops listener, `/viewer/` on the orchestrator): every replicated entity with
//! its state, enemy state machines and telegraphs, spawners, obstacles, exits, the
//! wild creatures per breeding cell, and one chosen player's interest radius and view.
//! A read of the world between ticks; it changes nothing.

use bevy_ecs::prelude::*;
use serde::Serialize;

use crate::combat::Health;
use crate::common::components::{Dead, Player, Position, Replicated};
use crate::common::io::PlayerId;
use crate::common::state::ZoneSettings;
use crate::content::{ExitTarget, Obstacle};
use crate::creatures::BreedingCells;
use crate::enemy_ai::{Enemy, Spawners};
use crate::interest::InterestState;

/// The whole zone at one tick. Positions in metres.
#[derive(Debug, Clone, Serialize)]
pub struct WorldView {
    pub zone_id: String,
    pub tick: u64,
    pub tick_rate_hz: u32,
    pub players: usize,
    /// min x, min y, max x, max y.
    pub bounds: [f32; 4],
    pub obstacles: Vec<ObstacleView>,
    pub exits: Vec<ExitView>,
    pub spawners: Vec<SpawnerView>,
    pub cells: Option<CellsView>,
    pub entities: Vec<EntityView>,
    /// The chosen player's interest: where it is, its radius and what it sees.
    pub focus: Option<FocusView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObstacleView {
    Circle { x: f32, y: f32, r: f32 },
    Box { min: [f32; 2], max: [f32; 2] },
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitView {
    pub min: [f32; 2],
    pub max: [f32; 2],
    pub to: String,
    pub instance: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpawnerView {
    pub enemy: String,
    pub x: f32,
    pub y: f32,
    pub radius: f32,
    pub count: u32,
    pub alive: u32,
    /// Replacements waiting for their respawn tick.
    pub pending: usize,
}

/// The breeding grid: `counts[cell][species]` creatures live in each cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellsView {
    pub cols: u32,
    pub rows: u32,
    pub cell_size: f32,
    pub species: Vec<String>,
    pub counts: Vec<Vec<u32>>,
    pub caps: Vec<Vec<u32>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntityView {
    pub id: u32,
    pub kind: &'static str,
    pub variant: u16,
    pub x: f32,
    pub y: f32,
    pub hp: Option<[u32; 2]>,
    pub dead: bool,
    /// Players: the player id. Enemies: the enemy type.
    pub label: String,
    /// Enemies: the state machine's state (`Idle`, `Pursue`, `WindUp`…).
    pub state: Option<String>,
    /// Enemies winding up: where the telegraph points (origin and facing).
    pub telegraph: Option<[f32; 4]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FocusView {
    pub player: u64,
    pub id: u32,
    pub x: f32,
    pub y: f32,
    pub radius: f32,
    pub margin: f32,
    /// Net ids in its view this tick.
    pub view: Vec<u32>,
}

/// Builds the picture of `world` (a zone between ticks); `focus` picks a player.
pub fn world_view(world: &mut World, tick: u64, focus: Option<PlayerId>) -> WorldView {
    let settings = &world.resource::<ZoneSettings>().0;
    let zone = &settings.zone;
    let obstacles = zone
        .obstacles
        .iter()
        .map(|o| match *o {
            Obstacle::Circle { center, radius } => ObstacleView::Circle {
                x: center.x,
                y: center.y,
                r: radius,
            },
            Obstacle::Box { min, max } => ObstacleView::Box {
                min: min.into(),
                max: max.into(),
            },
        })
        .collect();
    let exits = zone
        .exits
        .iter()
        .map(|e| {
            let (to, instance) = match &e.to {
                ExitTarget::Zone(z) => (z.clone(), false),
                ExitTarget::Instance(z) => (z.clone(), true),
            };
            ExitView {
                min: e.area.min.into(),
                max: e.area.max.into(),
                to,
                instance,
            }
        })
        .collect();
    let slots = world.get_resource::<Spawners>().map(|s| s.slots.clone());
    let spawners = zone
        .spawners
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let slot = slots.as_ref().and_then(|v| v.get(i));
            SpawnerView {
                enemy: s.enemy.clone(),
                x: s.at.x,
                y: s.at.y,
                radius: s.radius,
                count: s.count,
                alive: slot.map_or(0, |s| s.alive),
                pending: slot.map_or(0, |s| s.pending.len()),
            }
        })
        .collect();
    let species: Vec<String> = settings
        .creatures
        .species
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let cells = world
        .get_resource::<BreedingCells>()
        .and_then(|c| c.grid_occupancy(zone.bounds))
        .map(|o| CellsView {
            cols: o.cols,
            rows: o.rows,
            cell_size: o.cell_size,
            counts: o
                .counts
                .chunks(species.len().max(1))
                .map(<[u32]>::to_vec)
                .collect(),
            caps: o
                .caps
                .chunks(species.len().max(1))
                .map(<[u32]>::to_vec)
                .collect(),
            species: species.clone(),
        });
    let enemy_ids: Vec<String> = settings.enemies.iter().map(|e| e.id.clone()).collect();
    let (bounds, zone_id) = (
        [
            zone.bounds.min.x,
            zone.bounds.min.y,
            zone.bounds.max.x,
            zone.bounds.max.y,
        ],
        zone.id.clone(),
    );
    let tick_rate_hz = u32::from(settings.netcode.tick_rate_hz);
    let tiers = settings.netcode.tiers.clone();
    let mut entities = Vec::new();
    let mut players = 0;
    let mut focused = None;
    let mut q = world.query::<(
        &Replicated,
        &Position,
        Option<&Health>,
        Has<Dead>,
        Option<&Player>,
        Option<&Enemy>,
        Option<&InterestState>,
    )>();
    for (r, pos, health, dead, player, enemy, interest) in q.iter(world) {
        let label = match (player, enemy) {
            (Some(p), _) => {
                players += 1;
                format!("player {}", p.id.0)
            }
            (_, Some(e)) => enemy_ids
                .get(usize::from(e.def))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        };
        if let (Some(p), Some(i)) = (player, interest)
            && Some(p.id) == focus
        {
            let t = match p.tier {
                arcane_protocol::ClientTier::Desktop => &tiers.desktop,
                arcane_protocol::ClientTier::Mobile => &tiers.mobile,
            };
            focused = Some(FocusView {
                player: p.id.0,
                id: r.net_id.0,
                x: pos.0.x,
                y: pos.0.y,
                radius: t.radius,
                margin: t.margin,
                view: i.view.iter().map(|v| v.net_id.0).collect(),
            });
        }
        entities.push(EntityView {
            id: r.net_id.0,
            kind: kind_name(r.kind),
            variant: r.variant,
            x: pos.0.x,
            y: pos.0.y,
            hp: health.map(|h| [h.hp, h.max]),
            dead,
            label,
            state: enemy.map(|e| format!("{:?}", e.state)),
            telegraph: enemy
                .and_then(|e| e.telegraph)
                .map(|t| [t.origin.x, t.origin.y, t.facing.x, t.facing.y]),
        });
    }
    entities.sort_unstable_by_key(|e| e.id);
    WorldView {
        zone_id,
        tick,
        tick_rate_hz,
        players,
        bounds,
        obstacles,
        exits,
        spawners,
        cells,
        entities,
        focus: focused,
    }
}

fn kind_name(kind: arcane_protocol::EntityKind) -> &'static str {
    use arcane_protocol::EntityKind as K;
    match kind {
        K::Player => "Player",
        K::Npc => "Npc",
        K::Enemy => "Enemy",
        K::Projectile => "Projectile",
        K::Creature => "Creature",
    }
}
