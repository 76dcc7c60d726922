//! The chat command: clean the text, deliver `say` and `zone` here, hand everything
//! accepted to the host.

use arcane_protocol::{ChatChannel, EventKind, ReliableEvent};
use bevy_ecs::prelude::*;

use super::rules::clean;
use crate::common::commands::Rejection;
use crate::common::components::{Player, Position, Replicated};
use crate::common::io::{ChatOut, PlayerId, ZoneCommand, ZoneOutbox, ZoneOutput};
use crate::common::spatial::SpatialIndex;
use crate::common::state::{ZoneClock, ZoneSettings};
use crate::interest::InterestState;

/// Handles `ZoneCommand::Chat`. A refused message is answered with `ChatRefused` and
/// is no violation: chat never gets a player kicked by the zone.
pub(super) fn speak(entity: &mut EntityWorldMut<'_>, command: &ZoneCommand) -> Option<Rejection> {
    let ZoneCommand::Chat {
        player,
        name,
        channel,
        text,
    } = command
    else {
        return None;
    };
    let speaker = entity.get::<Replicated>().map(|r| r.net_id);
    let at = entity.get::<Position>().map(|p| p.0);
    entity.world_scope(|world| {
        let tick = world.resource::<ZoneClock>().tick as u32;
        let cleaned = match clean(text, &world.resource::<ZoneSettings>().0.chat) {
            Ok(c) => c,
            Err(reason) => {
                world.resource_mut::<ZoneOutbox>().event(
                    *player,
                    tick,
                    EventKind::ChatRefused {
                        reason,
                        detail: format!("not sent: {}", reason.as_str()),
                    },
                );
                return;
            }
        };
        let recipients = match channel {
            ChatChannel::Say => match (speaker, at) {
                (Some(speaker), Some(at)) => hearers(world, *player, speaker, at),
                _ => vec![*player],
            },
            ChatChannel::Zone => {
                let mut q = world.query::<&Player>();
                q.iter(world).map(|p| p.id).collect()
            }
            ChatChannel::Party | ChatChannel::Whisper { .. } => Vec::new(),
        };
        let mut outbox = world.resource_mut::<ZoneOutbox>();
        let delivered = recipients.len() as u32;
        if !recipients.is_empty() {
            let kind = EventKind::Chat {
                channel: channel.clone(),
                from_id: player.0,
                from: name.clone(),
                text: cleaned.text.clone(),
            };
            outbox.0.push(ZoneOutput::Broadcast {
                players: recipients,
                event: ReliableEvent { tick, kind },
            });
        }
        outbox.0.push(ZoneOutput::Chat(Box::new(ChatOut {
            player: *player,
            name: name.clone(),
            channel: channel.clone(),
            text: cleaned.text,
            filtered: cleaned.filtered,
            delivered,
        })));
    });
    None
}

/// The speaker and every player whose view holds the speaker: candidates come from
/// the spatial index within the widest view radius, and each one's own view decides.
fn hearers(
    world: &mut World,
    player: PlayerId,
    speaker: arcane_protocol::NetId,
    at: glam::Vec2,
) -> Vec<PlayerId> {
    let tiers = &world.resource::<ZoneSettings>().0.netcode.tiers;
    let reach = [&tiers.mobile, &tiers.desktop]
        .iter()
        .map(|t| t.radius + t.margin)
        .fold(0.0f32, f32::max);
    let index = world.resource::<SpatialIndex>();
    let mut near = Vec::new();
    index.for_each_within(at, reach, |idx, _| {
        near.push(index.frame[idx as usize].entity)
    });
    let mut out = vec![player];
    for e in near {
        let Ok(e) = world.get_entity(e) else { continue };
        if let (Some(p), Some(view)) = (e.get::<Player>(), e.get::<InterestState>())
            && p.id != player
            && view.tracks(speaker)
        {
            out.push(p.id);
        }
    }
    out
}
