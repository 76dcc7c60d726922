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

/// Snapshot buffers start at this size; most snapshots fit without growing.
const SNAPSHOT_BUFFER: usize = 256;

pub fn encode_snapshots(
    mut clients: Query<(&Player, &PlayerInput, &InterestState, &mut SnapshotLink)>,
    clock: Res<ZoneClock>,
    mut outbox: ResMut<ZoneOutbox>,
    mut counters: ResMut<ZoneCounters>,
) {
    let tick = clock.tick as u32;
    for (player, input, interest, mut link) in &mut clients {
        let mut bytes = Vec::with_capacity(SNAPSHOT_BUFFER);
        match link
            .sender
            .encode_next(tick, input.last_applied_seq, &interest.view, &mut bytes)
        {
            Ok(stats) => {
                counters.snapshots += 1;
                counters.full_snapshots += u64::from(stats.full);
                counters.snapshot_bytes += stats.bytes as u64;
                counters.entity_updates += stats.updates as u64;
                counters.entity_enters += stats.enters as u64;
                counters.entity_leaves += stats.leaves as u64;
                outbox.0.push(ZoneOutput::Snapshot {
                    player: player.id,
                    bytes,
                });
            }
            Err(e) => tracing::error!(player = player.id.0, tick, "snapshot encode failed: {e}"),
        }
    }
}
