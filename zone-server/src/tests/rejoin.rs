//! A player who leaves and comes straight back keeps what it did. Its logout save is
//! written behind the tick, so the session of its next login may have loaded the
//! checkpoint before that save landed: the zone then starts it from the state it
//! left with, for a minute of the zone's clock. A leave and a join in one tick are a
//! reconnect (the player never left). A player that leaves while frozen in a transfer
//! is not saved; when the transfer is aborted its hold is released.

use arcane_engine::PlayerId;
use arcane_engine::content::ContentSources;
use arcane_protocol::saved::{ItemStack, SavedPlayer};
use arcane_protocol::{ClientMessage, MoveInput};
use tokio::sync::mpsc::UnboundedReceiver;

use super::input;
use super::pair::{Pair, Peer};
use crate::net::inbound::Inbound;
use crate::persist::PersistJob;

const EPOCH: i64 = 5;

/// What the database held when each session loaded the player: its last checkpoint.
fn checkpoint() -> SavedPlayer {
    SavedPlayer {
        x: 12.0,
        y: 14.0,
        hp: 77,
        mana: 40,
        inventory: vec![ItemStack {
            item: "moss".into(),
            count: 3,
        }],
        creatures: Vec::new(),
    }
}

fn pair() -> (Pair, UnboundedReceiver<PersistJob>) {
    Pair::persisted(ContentSources::shipped().zone("meadow").expect("meadow"))
}

/// The logout saves handed to the persistence task since the last call.
fn logouts(jobs: &mut UnboundedReceiver<PersistJob>) -> Vec<(u64, i64, SavedPlayer)> {
    std::iter::from_fn(|| jobs.try_recv().ok())
        .filter_map(|j| match j {
            PersistJob::Logout(player, epoch, state, _) => Some((player, epoch, state)),
            _ => None,
        })
        .collect()
}

/// The one logout save since the last call (player 1's): its epoch and state.
fn one_logout(jobs: &mut UnboundedReceiver<PersistJob>) -> (i64, SavedPlayer) {
    match logouts(jobs).as_slice() {
        [(1, epoch, state)] => (*epoch, state.clone()),
        other => panic!("one logout save of player 1, not {other:?}"),
    }
}

fn walk(pair: &mut Pair, peer: &mut Peer, ticks: u32) {
    for seq in 1..=ticks {
        pair.send(peer, &[input(seq)]);
        pair.tick();
    }
}

/// Player 1 joins from the checkpoint, walks and leaves: the state it left with.
async fn walked_and_left(pair: &mut Pair, jobs: &mut UnboundedReceiver<PersistJob>) -> SavedPlayer {
    let mut first = pair.join_saved(1, checkpoint(), EPOCH).await;
    walk(pair, &mut first, 10);
    pair.leave(&first).await;
    pair.tick();
    let (epoch, left) = one_logout(jobs);
    assert_eq!(epoch, EPOCH);
    assert_ne!(place(&left), place(&checkpoint()), "it walked");
    left
}

/// Player 1 joins with `loaded` at `epoch` and leaves at once: its logout save.
async fn visit(
    pair: &mut Pair,
    jobs: &mut UnboundedReceiver<PersistJob>,
    loaded: SavedPlayer,
    epoch: i64,
) -> (i64, SavedPlayer) {
    let peer = pair.join_saved(1, loaded, epoch).await;
    pair.tick();
    pair.leave(&peer).await;
    pair.tick();
    one_logout(jobs)
}

fn place(s: &SavedPlayer) -> (i32, i32) {
    ((s.x * 100.0).round() as i32, (s.y * 100.0).round() as i32)
}

#[tokio::test]
async fn a_player_who_logs_in_again_before_its_logout_save_keeps_what_it_did() {
    let (mut pair, mut jobs) = pair();
    let left = walked_and_left(&mut pair, &mut jobs).await;
    // The next session read the database before that save was written.
    let (epoch, again) = visit(&mut pair, &mut jobs, checkpoint(), EPOCH).await;
    assert_eq!(
        (epoch, place(&again)),
        (EPOCH, place(&left)),
        "the walk is kept"
    );
    assert_eq!(again.inventory, checkpoint().inventory);
}

#[tokio::test]
async fn a_player_owned_at_a_new_epoch_starts_from_what_the_database_holds() {
    let (mut pair, mut jobs) = pair();
    walked_and_left(&mut pair, &mut jobs).await;
    // Another zone owned the player since (and moved it): its state is newer.
    let mut elsewhere = checkpoint();
    elsewhere.x = 30.0;
    let (epoch, again) = visit(&mut pair, &mut jobs, elsewhere.clone(), EPOCH + 2).await;
    assert_eq!((epoch, place(&again)), (EPOCH + 2, place(&elsewhere)));
}

#[tokio::test]
async fn a_leave_and_a_join_in_one_tick_are_a_reconnect() {
    let (mut pair, mut jobs) = pair();
    let mut first = pair.join_saved(1, checkpoint(), EPOCH).await;
    walk(&mut pair, &mut first, 10);
    pair.tick();
    let here = pair.player_state(1).expect("in the zone");
    // The old connection's close and the new login reach the tick together.
    pair.leave(&first).await;
    let second = pair.join_saved(1, checkpoint(), EPOCH).await;
    pair.tick();
    assert!(logouts(&mut jobs).is_empty(), "it never left");
    let now = pair.player_state(1).expect("still in the zone");
    assert_eq!(place(&now), place(&here));
    pair.leave(&second).await;
    pair.tick();
    let (_, left) = one_logout(&mut jobs);
    assert_eq!(place(&left), place(&here));
}

#[tokio::test]
async fn the_state_a_player_left_with_is_forgotten_after_a_minute() {
    let (mut pair, mut jobs) = pair();
    walked_and_left(&mut pair, &mut jobs).await;
    // A minute on the zone's clock: the save has long been written (or given up),
    // so the database is the truth again.
    for _ in 0..1_201 {
        pair.tick();
    }
    let (_, again) = visit(&mut pair, &mut jobs, checkpoint(), EPOCH).await;
    assert_eq!(place(&again), place(&checkpoint()));
}

#[tokio::test]
async fn a_player_that_left_while_frozen_is_released_when_its_transfer_is_aborted() {
    let (mut pair, mut jobs) = pair();
    // By the border with the forest, walking east into it.
    let mut at_border = checkpoint();
    (at_border.x, at_border.y) = (993.0, 500.0);
    let mut peer = pair.join_saved(1, at_border, EPOCH).await;
    let mut frozen = false;
    for seq in 1..=40 {
        pair.send(
            &mut peer,
            &[ClientMessage::Input(MoveInput {
                seq,
                dir_x: 127,
                dir_y: 0,
            })],
        );
        pair.tick();
        let jobs: Vec<_> = std::iter::from_fn(|| jobs.try_recv().ok()).collect();
        if jobs
            .iter()
            .any(|j| matches!(j, PersistJob::Transfer { player: 1, .. }))
        {
            frozen = true;
            break;
        }
    }
    assert!(frozen, "the player reached the exit");
    // Its connection closes while frozen: no logout save (the handoff holds it).
    pair.leave(&peer).await;
    pair.tick();
    assert!(logouts(&mut jobs).is_empty());
    // The orchestrator aborted the transfer, and wrote the frozen state back.
    let failed = Inbound::TransferFailed {
        player: PlayerId(1),
        detail: "the forest is down".into(),
    };
    pair.ctx.inbox.send(failed).await.unwrap();
    pair.tick();
    let released: Vec<_> = std::iter::from_fn(|| jobs.try_recv().ok())
        .filter_map(|j| match j {
            PersistJob::Release(player, conn) => Some((player, conn)),
            _ => None,
        })
        .collect();
    assert_eq!(released, [(1, peer.conn())]);
}
