//! A player's skills over its life in the zone: cast intents in, the class's mana and
//! slots on join, a fresh stream on reconnect, full mana after a respawn, new numbers
//! after a content reload.

use arcane_protocol::messages::RejectReason;
use arcane_protocol::{CastRejectReason, EventKind};
use bevy_ecs::prelude::*;

use super::{Caster, Mana};
use crate::common::commands::Rejection;
use crate::common::components::Player;
use crate::common::events::{ContentReloaded, PlayerJoined, PlayerReconnected, PlayerRespawned};
use crate::common::io::ZoneCommand;
use crate::common::state::{ZoneCounters, ZoneSettings};

/// Queues one `ZoneCommand::Cast` for the next cast pass (ingest's handler). Replays
/// and floods count toward a kick, like those of move inputs.
pub(super) fn accept_cast(
    entity: &mut EntityWorldMut<'_>,
    command: &ZoneCommand,
) -> Option<Rejection> {
    let &ZoneCommand::Cast { intent, .. } = command else {
        return None;
    };
    let Err(reason) = entity.get_mut::<Caster>()?.accept(intent) else {
        return None;
    };
    entity.resource_mut::<ZoneCounters>().cast_rejected[reason as usize] += 1;
    let counts_as = match reason {
        CastRejectReason::StaleSequence => RejectReason::StaleSequence,
        _ => RejectReason::Flood,
    };
    Some(Rejection {
        reason: counts_as,
        event: EventKind::CastRejected {
            seq: intent.seq,
            slot: intent.slot,
            reason,
        },
    })
}

/// A joining player gets the class's slots and mana (what it was saved with, capped).
pub(super) fn add_player_skills(
    joined: On<PlayerJoined>,
    settings: Res<ZoneSettings>,
    mut commands: Commands,
) {
    let content = &settings.0;
    let mut mana = Mana::of_player_class(content);
    if let Some(saved) = &joined.saved {
        mana.current = (saved.mana as f32).min(mana.max);
    }
    commands
        .entity(joined.entity)
        .insert((mana, Caster::of_player_class(content)));
}

/// A reconnected player's cast sequence starts over.
pub(super) fn restart_cast_stream(back: On<PlayerReconnected>, mut casters: Query<&mut Caster>) {
    if let Ok(mut c) = casters.get_mut(back.entity) {
        c.reset_stream();
    }
}

/// A respawned player has full mana.
pub(super) fn refill_mana_on_respawn(back: On<PlayerRespawned>, mut mana: Query<&mut Mana>) {
    if let Ok(mut m) = mana.get_mut(back.entity) {
        m.current = m.max;
    }
}

/// New content: the class's mana maximum and regeneration, and its skill slots (a
/// changed set of slots resets cooldowns and any cast under way).
pub(super) fn retune_player_skills(
    _: On<ContentReloaded>,
    settings: Res<ZoneSettings>,
    mut players: Query<(&mut Mana, &mut Caster), With<Player>>,
) {
    let content = &settings.0;
    let (mana, caster) = (
        Mana::of_player_class(content),
        Caster::of_player_class(content),
    );
    for (mut m, mut c) in &mut players {
        m.max = mana.max;
        m.regen_per_tick = mana.regen_per_tick;
        m.current = m.current.min(m.max);
        if c.slots != caster.slots {
            let n = caster.slots.len();
            c.slots.clone_from(&caster.slots);
            c.ready_tick.resize(n, 0);
            c.casting = None;
        }
    }
}
