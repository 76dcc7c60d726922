//! Registers the spatial index rebuild and the per-client interest update.

use bevy_ecs::prelude::*;

use super::systems::{SpatialIndex, rebuild_spatial_index, update_interest};
use crate::ZonePlugin;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterestSystems {
    RebuildIndex,
    UpdateViews,
}

pub struct InterestPlugin;

impl ZonePlugin for InterestPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<SpatialIndex>();
        schedule.configure_sets(
            (InterestSystems::RebuildIndex, InterestSystems::UpdateViews)
                .chain()
                .in_set(ZoneSystems::Interest),
        );
        schedule.add_systems((
            rebuild_spatial_index.in_set(InterestSystems::RebuildIndex),
            update_interest.in_set(InterestSystems::UpdateViews),
        ));
    }
}
