//! Zone ↔ client tests in one process over [`pair::Pair`]: no socket, no clock, every
//! frame moved by the test, loss and ack delay chosen by it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod journal;
mod pair;
mod recovery;
mod rejoin;
mod social;

use std::time::Duration;

use arcane_protocol::snapshot::VEL_SLACK;
use arcane_protocol::{ClientMessage, KickReason, MoveInput, ServerMessage};

use pair::{Pair, Peer};

/// A walk that turns every few ticks, the same for every run.
fn input(seq: u32) -> ClientMessage {
    let (dir_x, dir_y) = match (seq / 15) % 4 {
        0 => (127, 0),
        1 => (0, 127),
        2 => (-127, 0),
        _ => (0, -127),
    };
    ClientMessage::Input(MoveInput { seq, dir_x, dir_y })
}

/// Plays `ticks` ticks of one client walking, with its snapshots lost where `lose`
/// says and its acks `ack_delay` ticks late; the view it ends with (the last
/// snapshot always arrives).
async fn walk(ticks: u32, lose: fn(u32) -> bool, ack_delay: u64) -> Peer {
    let mut pair = Pair::shipped("meadow");
    let mut me = pair.join(1).await;
    for seq in 1..=ticks {
        pair.send(&mut me, &[input(seq)]);
        pair.tick();
        let last = seq == ticks;
        pair.deliver(&mut me, |id| !last && lose(id), ack_delay);
    }
    me
}

#[tokio::test]
async fn a_client_losing_snapshots_and_acking_late_sees_what_a_perfect_one_sees() {
    // The zone is deterministic (same content, seed and inputs): the lossless run is
    // the truth the lossy one's deltas must rebuild.
    let perfect = walk(200, |_| false, 0).await;
    let lossy = walk(200, |id| id % 3 != 0 || id % 7 == 0, 4).await;
    assert!(lossy.lost > 100, "only {} lost", lossy.lost);
    assert!(perfect.view.entities().len() > 3, "a view worth comparing");
    // Positions, kinds and hp exactly; velocities (the client's dead reckoning) to
    // within the slack the server allows before restating one.
    let states = |p: &Peer| -> Vec<_> {
        p.view
            .entities()
            .iter()
            .map(|e| (e.local, e.net_id, e.state))
            .collect()
    };
    assert_eq!(states(&lossy), states(&perfect));
    for (l, p) in lossy.view.entities().iter().zip(perfect.view.entities()) {
        let off = (l.vel.0.abs_diff(p.vel.0)).max(l.vel.1.abs_diff(p.vel.1));
        assert!(off <= 2 * VEL_SLACK, "{l:?} against {p:?}");
    }
    assert_eq!(lossy.view.own(), perfect.view.own());
    // The snapshots echo the inputs applied, for the client's reconciliation.
    let last_input = |p: &Peer| {
        p.received.iter().rev().find_map(|m| match m {
            ServerMessage::Snapshot(s) => Some(s.last_input_seq),
            _ => None,
        })
    };
    assert_eq!(last_input(&perfect), Some(200));
    assert_eq!(last_input(&lossy), Some(200));
}

#[tokio::test]
async fn the_frame_rate_limit_counts_on_the_pair_clock() {
    let mut pair = Pair::shipped("meadow");
    let mut me = pair.join(1).await;
    // 200 frames in one instant: one second of burst (120) gets through.
    for _ in 0..200 {
        pair.send(&mut me, &[ClientMessage::Ping { nonce: 1 }]);
    }
    assert_eq!(pair.ctx.metrics.rate_limited_frames.get(), 80);
    // Ten 50 ms ticks later the bucket holds half a second's worth (60) again,
    // whatever time passed on the machine.
    let before = pair.now();
    for _ in 0..10 {
        pair.tick();
    }
    assert_eq!(pair.now() - before, Duration::from_millis(500));
    for _ in 0..200 {
        pair.send(&mut me, &[ClientMessage::Ping { nonce: 2 }]);
    }
    assert_eq!(pair.ctx.metrics.rate_limited_frames.get(), 80 + 140);
}

#[tokio::test]
async fn a_client_replaying_its_inputs_is_kicked_and_a_second_login_replaces_the_first() {
    let mut pair = Pair::shipped("meadow");
    let mut cheat = pair.join(1).await;
    for _ in 0..40 {
        // The same input over and over: each copy after the first is a replay.
        pair.send(&mut cheat, &[input(1), input(1), input(1), input(1)]);
        pair.tick();
        pair.deliver(&mut cheat, |_| false, 0);
        if cheat.kicked.is_some() {
            break;
        }
    }
    assert_eq!(cheat.kicked, Some(KickReason::TooManyViolations));

    let mut first = pair.join(2).await;
    pair.tick();
    pair.deliver(&mut first, |_| false, 0);
    assert!(
        first
            .received
            .iter()
            .any(|m| matches!(m, ServerMessage::Welcome(_)))
    );
    let mut second = pair.join(2).await;
    pair.tick();
    pair.deliver(&mut first, |_| false, 0);
    pair.deliver(&mut second, |_| false, 0);
    assert_eq!(first.kicked, Some(KickReason::DuplicateLogin));
    // The new connection starts from a full snapshot: it has no baseline.
    let full = second.received.iter().find_map(|m| match m {
        ServerMessage::Snapshot(s) => Some(s.baseline),
        _ => None,
    });
    assert_eq!(full, Some(0));
    pair.leave(&second).await;
    pair.tick();
    assert_eq!(
        pair.ctx
            .status
            .players
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
