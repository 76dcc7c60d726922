//! Registers exits and checkpoints in `LifecycleSystems::Exits`, the drain and
//! transfer-outcome commands, and what persistence does when players come and go.

use bevy_ecs::prelude::*;

use super::systems::{
    add_player_inventory, checkpoint, evacuate, save_leaving_player, take_exits, transfer_failed,
};
use super::{Inventory, TransferRetryAt};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::components::{Replicated, Transferring};
use crate::common::schedule::{LifecycleSystems, ZonePlugin};
use crate::common::state_hash::{RowSink, StateParts};

pub struct PersistPlugin;

impl ZonePlugin for PersistPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        let mut handlers = world.resource_mut::<CommandHandlers>();
        handlers.on_zone_command(CommandKind::Evacuate, evacuate);
        handlers.on_player_command(CommandKind::TransferFailed, transfer_failed);
        StateParts::add(world, "inventories", inventory_rows);
        world.add_observer(add_player_inventory);
        world.add_observer(save_leaving_player);
        schedule.add_systems(
            (take_exits, checkpoint)
                .chain()
                .in_set(LifecycleSystems::Exits),
        );
    }
}

/// Every player's items, and whether they are being handed to another zone.
fn inventory_rows(world: &mut World, sink: &mut dyn RowSink) {
    let mut q = world.query::<(
        &Replicated,
        &Inventory,
        Has<Transferring>,
        Option<&TransferRetryAt>,
    )>();
    for (r, inv, moving, retry) in q.iter(world) {
        sink.row(u64::from(r.net_id.0), &(&inv.0, moving, retry.map(|t| t.0)));
    }
}
