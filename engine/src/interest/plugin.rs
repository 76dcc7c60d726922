//! Registers the frame refresh and the per-client views in `ZoneSystems::Interest`,
//! and what interest gives a joining client.

use bevy_ecs::prelude::*;

use super::frame::rebuild_spatial_index;
use super::view::{add_player_view, restart_player_view, update_interest};
use crate::common::schedule::{ZonePlugin, ZoneSystems};
use crate::common::spatial::SpatialIndex;

pub struct InterestPlugin;

impl ZonePlugin for InterestPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<SpatialIndex>();
        world.add_observer(add_player_view);
        world.add_observer(restart_player_view);
        schedule.add_systems(
            (rebuild_spatial_index, update_interest)
                .chain()
                .in_set(ZoneSystems::Interest),
        );
    }
}
