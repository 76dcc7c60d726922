//! A player who leaves and comes straight back keeps what it did. Its logout save is
//! written behind the tick, so the session of its next login may have loaded the
//! checkpoint before that save landed: the zone then starts it from the state it
//! left with, for a minute of the zone's clock. A leave and a join in one tick are a
//! reconnect (the player never left).

use arcane_engine::content::ContentSources;
use arcane_protocol::saved::{ItemStack, SavedPlayer};
use tokio::sync::mpsc::UnboundedReceiver;

use super::input;
use super::pair::{Pair, Peer};
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

fn walk(pair: &mut Pair, peer: &mut Peer, ticks: u32) {
    for seq in 1..=ticks {
        pair.send(peer, &[input(seq)]);
        pair.tick();
    }
}

fn place(s: &SavedPlayer) -> (i32, i32) {
    ((s.x * 100.0).round() as i32, (s.y * 100.0).round() as i32)
}

#[tokio::test]
async fn a_player_who_logs_in_again_before_its_logout_save_keeps_what_it_did() {
    let (mut pair, mut jobs) = pair();
    let mut first = pair.join_saved(1, checkpoint(), EPOCH).await;
    walk(&mut pair, &mut first, 10);
    pair.leave(&first).await;
    pair.tick();
    let [(1, EPOCH, left)] = &logouts(&mut jobs)[..] else {
        panic!("one logout save")
    };
    assert_ne!(place(left), place(&checkpoint()), "it walked");
    // The next session read the database before that save was written.
    let second = pair.join_saved(1, checkpoint(), EPOCH).await;
    pair.tick();
    pair.leave(&second).await;
    pair.tick();
    let [(1, EPOCH, again)] = &logouts(&mut jobs)[..] else {
        panic!("one logout save")
    };
    assert_eq!(place(again), place(left), "the walk is kept");
    assert_eq!(again.inventory, checkpoint().inventory);
}

#[tokio::test]
async fn a_player_owned_at_a_new_epoch_starts_from_what_the_database_holds() {
    let (mut pair, mut jobs) = pair();
    let mut first = pair.join_saved(1, checkpoint(), EPOCH).await;
    walk(&mut pair, &mut first, 10);
    pair.leave(&first).await;
    pair.tick();
    assert_eq!(logouts(&mut jobs).len(), 1);
    // Another zone owned the player since (and moved it): its state is newer.
    let mut elsewhere = checkpoint();
    elsewhere.x = 30.0;
    let second = pair.join_saved(1, elsewhere.clone(), EPOCH + 2).await;
    pair.tick();
    pair.leave(&second).await;
    pair.tick();
    let [(1, epoch, again)] = &logouts(&mut jobs)[..] else {
        panic!("one logout save")
    };
    assert_eq!((*epoch, place(again)), (EPOCH + 2, place(&elsewhere)));
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
    let [(1, EPOCH, left)] = &logouts(&mut jobs)[..] else {
        panic!("one logout save")
    };
    assert_eq!(place(left), place(&here));
}

#[tokio::test]
async fn the_state_a_player_left_with_is_forgotten_after_a_minute() {
    let (mut pair, mut jobs) = pair();
    let mut first = pair.join_saved(1, checkpoint(), EPOCH).await;
    walk(&mut pair, &mut first, 10);
    pair.leave(&first).await;
    pair.tick();
    assert_eq!(logouts(&mut jobs).len(), 1);
    // A minute on the zone's clock: the save has long been written (or given up),
    // so the database is the truth again.
    for _ in 0..1_201 {
        pair.tick();
    }
    let second = pair.join_saved(1, checkpoint(), EPOCH).await;
    pair.tick();
    pair.leave(&second).await;
    pair.tick();
    let [(1, EPOCH, again)] = &logouts(&mut jobs)[..] else {
        panic!("one logout save")
    };
    assert_eq!(place(again), place(&checkpoint()));
}
