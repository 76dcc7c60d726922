//! Places the starting populations and registers behaviour, wild breeding and
//! hatching (`SimulateSystems::Creatures`), removing the slain
//! (`LifecycleSystems::Spawn`), the capture, breed and roster commands, and the
//! observers for joining players and new content.

use bevy_ecs::prelude::*;

use super::breeding::breed_wild_cells;
use super::intents::{breed, capture};
use super::roster::{
    CreatureIds, add_player_roster, hatch_eggs, restart_intent_stream, send_roster,
};
use super::wild::{
    WildIds, adapt_wild_to_content, creature_behaviour, remove_slain_creatures, spawn_initial,
};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::{LifecycleSystems, SimulateSystems, ZonePlugin};
use crate::rng::ZoneRng;

pub struct CreaturesPlugin;

impl ZonePlugin for CreaturesPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        let seed = world.resource::<ZoneRng>().seed;
        world.insert_resource(CreatureIds::from_seed(seed));
        world.init_resource::<WildIds>();
        spawn_initial(world);
        super::state::register(world);
        let mut handlers = world.resource_mut::<CommandHandlers>();
        handlers.on_player_command(CommandKind::Capture, capture);
        handlers.on_player_command(CommandKind::Breed, breed);
        handlers.on_player_command(CommandKind::RosterRequest, send_roster);
        world.add_observer(add_player_roster);
        world.add_observer(restart_intent_stream);
        world.add_observer(adapt_wild_to_content);
        schedule.add_systems((
            (creature_behaviour, breed_wild_cells, hatch_eggs)
                .chain()
                .in_set(SimulateSystems::Creatures),
            remove_slain_creatures.in_set(LifecycleSystems::Spawn),
        ));
    }
}
