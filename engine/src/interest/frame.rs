//! This tick's frame: every replicated entity's position and quantized state, mapped
//! from the components of whichever concern owns them, and the spatial index over it.

use arcane_protocol::EntityState;
use arcane_protocol::quant::metres_to_cm;
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::combat::{Health, Invulnerable};
use crate::common::components::{Dead, Position, Replicated};
use crate::common::spatial::{FrameEntity, SpatialIndex};
use crate::common::state::{ZoneClock, ZoneSettings};
use crate::enemy_ai::Enemy;
use crate::skills::Caster;

/// Quantizes an entity for the wire.
pub fn frame_state(replicated: &Replicated, pos: Vec2, hp_pct: u8, flags: u8) -> EntityState {
    EntityState {
        kind: replicated.kind,
        variant: replicated.variant,
        x_cm: metres_to_cm(pos.x),
        y_cm: metres_to_cm(pos.y),
        hp_pct,
        flags,
    }
}

/// The replicated status bits of an entity (`arcane_protocol::snapshot::flags`).
fn status_flags(
    dead: bool,
    invulnerable: bool,
    caster: Option<&Caster>,
    enemy: Option<&Enemy>,
) -> u8 {
    use arcane_protocol::snapshot::flags;
    let mut f = 0;
    if dead {
        f |= flags::DEAD;
    }
    if invulnerable {
        f |= flags::INVULNERABLE;
    }
    if caster.is_some_and(|c| c.casting.is_some()) {
        f |= flags::CASTING;
    }
    if let Some(e) = enemy {
        f |= e.state.flags();
    }
    f
}

#[allow(clippy::type_complexity)]
pub fn rebuild_spatial_index(
    mut index: ResMut<SpatialIndex>,
    entities: Query<(
        Entity,
        &Replicated,
        &Position,
        Option<&Health>,
        Has<Dead>,
        Has<Invulnerable>,
        Option<&Caster>,
        Option<&Enemy>,
    )>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let interval = u64::from(content.netcode.index_rebuild_interval_ticks.max(1));
    let frame =
        entities.iter().map(
            |(entity, r, p, health, dead, inv, caster, enemy)| FrameEntity {
                entity,
                net_id: r.net_id,
                pos: p.0,
                state: frame_state(
                    r,
                    p.0,
                    health.map_or(100, Health::percent),
                    status_flags(dead, inv, caster, enemy),
                ),
            },
        );
    index.refresh(
        frame,
        clock.tick.is_multiple_of(interval),
        content.fastest_speed() * clock.dt,
    );
}
