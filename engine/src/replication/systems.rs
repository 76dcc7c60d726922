//! The snapshot encoding system, and a client's snapshot link over its connection:
//! acks in, a fresh history on join and reconnect.

use arcane_protocol::sender::SnapshotSender;
use arcane_protocol::sent_views::SentViews;
use arcane_protocol::snapshot::{InputReceipt, InputWait};
use arcane_protocol::{KickReason, OwnState};
use bevy_ecs::prelude::*;

use crate::combat::{Health, Invulnerable};
use crate::common::commands::Rejection;
use crate::common::components::{Dead, Player};
use crate::common::events::{PlayerJoined, PlayerReconnected};
use crate::common::io::{PlayerId, ZoneCommand, ZoneOutbox, ZoneOutput};
use crate::common::state::{Headless, ZoneClock, ZoneCounters, ZoneSettings};
use crate::interest::InterestState;
use crate::movement::PlayerInput;
use crate::skills::{Caster, Mana};

/// Per-client snapshot history (sent ring and ack).
#[derive(Component, Default)]
pub struct SnapshotLink {
    pub sender: SnapshotSender,
    /// The client went `ack_timeout_ticks` without acknowledging a snapshot and its
    /// disconnect was asked for (once: the leave follows from the session).
    disconnect_asked: bool,
}

/// This tick's encoded snapshots, back to back, and which player each range is for.
/// One buffer for all clients: one allocation per tick instead of one per client, and
/// each connection gets a reference-counted slice of it.
#[derive(Resource, Default)]
pub struct SnapshotScratch {
    buffer: Vec<u8>,
    ranges: Vec<(PlayerId, std::ops::Range<usize>)>,
    /// Reused for each client's own state.
    own: OwnState,
    /// Every client's sent views, the baselines of their next snapshots.
    views: SentViews,
}

/// The snapshot's report on the player's inputs: the newest applied, and the wait of
/// the oldest applied this tick.
fn receipt(input: &PlayerInput) -> InputReceipt {
    let newest = input.last_applied_seq;
    InputReceipt {
        seq: newest,
        wait: input
            .tick_oldest_wait
            .and_then(|(seq, wait_us)| InputWait::new(newest, seq, wait_us)),
    }
}

/// Fills `own` with a player's vitals; times are absolute ticks so the state changes
/// only when something happens.
fn own_state(
    own: &mut OwnState,
    (health, mana, caster, dead, inv): (
        &Health,
        &Mana,
        &Caster,
        Option<&Dead>,
        Option<&Invulnerable>,
    ),
) {
    let t = |tick: u64| tick.min(u64::from(u32::MAX)) as u32;
    own.hp = health.hp;
    own.max_hp = health.max;
    own.mana = mana.current.max(0.0) as u32;
    own.max_mana = mana.max.max(0.0) as u32;
    own.ready_tick.clear();
    own.ready_tick
        .extend(caster.ready_tick.iter().map(|&r| t(r)));
    own.gcd_ready_tick = t(caster.gcd_ready_tick);
    own.casting = caster.casting.map(|c| (c.slot, t(c.completes_tick)));
    own.respawn_tick = dead.map(|d| t(d.respawn_tick));
    own.invulnerable_until = inv.map_or(0, |i| t(i.until_tick));
}

#[allow(clippy::type_complexity)]
pub fn encode_snapshots(
    mut clients: Query<(
        &Player,
        &PlayerInput,
        &InterestState,
        &mut SnapshotLink,
        Option<(
            &Health,
            &Mana,
            &Caster,
            Option<&Dead>,
            Option<&Invulnerable>,
        )>,
    )>,
    clock: Res<ZoneClock>,
    settings: Res<ZoneSettings>,
    mut outbox: ResMut<ZoneOutbox>,
    mut counters: ResMut<ZoneCounters>,
    mut scratch: ResMut<SnapshotScratch>,
    headless: Res<Headless>,
) {
    if headless.0 {
        return;
    }
    let tick = clock.tick as u32;
    let ack_timeout = settings.0.netcode.ack_timeout_ticks;
    let SnapshotScratch {
        buffer,
        ranges,
        own,
        views,
    } = &mut *scratch;
    ranges.clear();
    for (player, input, interest, mut link, vitals) in &mut clients {
        let start = buffer.len();
        let own = vitals.map(|v| {
            own_state(own, v);
            &*own
        });
        match link.sender.encode_next(
            views,
            tick,
            clock.time_rate,
            receipt(input),
            &interest.view,
            own,
            buffer,
        ) {
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
        // Whatever the transport: a client whose snapshots stopped reaching it (or
        // that stopped reading them) acknowledges none, and is let go.
        let unacknowledged = link.sender.unacknowledged();
        if unacknowledged >= ack_timeout && !link.disconnect_asked {
            link.disconnect_asked = true;
            let seconds = unacknowledged as f32 * clock.dt;
            outbox.0.push(ZoneOutput::Disconnect {
                player: player.id,
                reason: KickReason::SlowClient,
                detail: format!(
                    "no snapshot acknowledged in {seconds:.1} s ({unacknowledged} sent)"
                ),
            });
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

/// `ZoneCommand::Ack` (ingest's handler): the client decoded this snapshot, so the
/// next is a delta against it.
pub(super) fn take_ack(
    entity: &mut EntityWorldMut<'_>,
    command: &ZoneCommand,
) -> Option<Rejection> {
    let &ZoneCommand::Ack { snapshot_id, .. } = command else {
        return None;
    };
    if let Some(mut link) = entity.get_mut::<SnapshotLink>() {
        link.sender.ack(snapshot_id);
    }
    None
}

/// A joining client has no snapshot history: its first snapshot is full.
pub(super) fn add_snapshot_link(joined: On<PlayerJoined>, mut commands: Commands) {
    commands
        .entity(joined.entity)
        .insert(SnapshotLink::default());
}

/// A reconnected client has lost its baseline.
pub(super) fn restart_snapshot_link(back: On<PlayerReconnected>, mut commands: Commands) {
    commands.entity(back.entity).insert(SnapshotLink::default());
}
