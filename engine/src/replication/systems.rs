//! The snapshot encoding system.

use arcane_protocol::snapshot::SnapshotSender;
use bevy_ecs::prelude::*;

use crate::interest::InterestState;
use crate::movement::PlayerInput;
use crate::players::Player;
use crate::zone::{ZoneClock, ZoneCounters, ZoneOutbox, ZoneOutput};

/// Per-client snapshot history (sent ring and ack).
#[derive(Component, Default)]
pub struct SnapshotLink {
    pub sender: SnapshotSender,
}

/// This tick's encoded snapshots, back to back, and which player each range is for.
/// One buffer for all clients: one allocation per tick instead of one per client, and
/// each connection gets a reference-counted slice of it.
#[derive(Resource, Default)]
pub struct SnapshotScratch {
    buffer: Vec<u8>,
    ranges: Vec<(crate::zone::PlayerId, std::ops::Range<usize>)>,
}

pub fn encode_snapshots(
    mut clients: Query<(&Player, &PlayerInput, &InterestState, &mut SnapshotLink)>,
    clock: Res<ZoneClock>,
    mut outbox: ResMut<ZoneOutbox>,
    mut counters: ResMut<ZoneCounters>,
    mut scratch: ResMut<SnapshotScratch>,
) {
    let tick = clock.tick as u32;
    let SnapshotScratch { buffer, ranges } = &mut *scratch;
    ranges.clear();
    for (player, input, interest, mut link) in &mut clients {
        let start = buffer.len();
        match link
            .sender
            .encode_next(tick, input.last_applied_seq, &interest.view, buffer)
        {
            Ok(stats) => {
                counters.snapshots += 1;
                counters.full_snapshots += u64::from(stats.full);
                counters.snapshot_bytes += stats.bytes as u64;
                counters.entity_updates += stats.updates as u64;
                counters.entity_enters += stats.enters as u64;
                counters.entity_leaves += stats.leaves as u64;
                ranges.push((player.id, start..buffer.len()));
            }
            Err(e) => {
                buffer.truncate(start);
                tracing::error!(player = player.id.0, tick, "snapshot encode failed: {e}");
            }
        }
    }
    // Size the next tick's buffer like this one's, then hand this one out.
    let next = Vec::with_capacity(buffer.len());
    let shared = bytes::Bytes::from(std::mem::replace(buffer, next));
    for (player, range) in ranges.drain(..) {
        outbox.0.push(ZoneOutput::Snapshot {
            player,
            bytes: shared.slice(range),
        });
    }
}
