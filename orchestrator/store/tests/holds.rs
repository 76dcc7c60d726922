//! Holds, against SQLite and a real PostgreSQL: a player a live zone process loaded
//! cannot be moved without a handoff until that join's logout save is written (or the
//! zone's next process serves, or its process releases its lease); a later join's
//! hold outlives an earlier join's logout (and release); a hold of a process that
//! died long ago without a successor strands no one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use arcane_store::{STRANDED_AFTER_MS, Store, StoreError, ZoneLease, hold_token};

/// A lease on `zone` taken at `at_ms` for `ttl_ms`, from `dead` (its previous holder).
async fn lease(
    store: &Store,
    zone: &str,
    holder: &str,
    dead: Option<&str>,
    at_ms: u64,
) -> ZoneLease {
    store
        .acquire_lease(zone, holder, dead, at_ms, 10_000)
        .await
        .unwrap()
        .expect("the lease is free")
}

/// A player owned by a fresh zone, that zone's live lease, and the copy it may move to.
async fn player(store: &Store, name: &str) -> (u64, ZoneLease, String) {
    let zone = services::unique("meadow");
    let live = lease(store, &zone, "first", None, arcane_service::unix_ms()).await;
    let p = store
        .login(&services::unique(name), &zone, (1.0, 1.0), (100, 50))
        .await
        .unwrap();
    (p.id, live, format!("{zone}~2"))
}

fn held(r: Result<Option<i64>, StoreError>) -> bool {
    matches!(r, Err(StoreError::Held { .. }))
}

#[tokio::test]
async fn a_held_player_moves_only_after_the_logout_save_of_its_join() {
    let (stores, _scratch) = services::stores("arcane-holds-").await;
    for (db, store) in stores {
        let (id, live, copy) = player(&store, "ann").await;
        let (record, epoch) = store
            .hold_owned(id, &live, hold_token(&live, 1))
            .await
            .unwrap()
            .expect("owned");
        let owner = store.owner(id).await.unwrap().unwrap();
        assert_eq!(owner.epoch, epoch, "{db}");
        assert_eq!(
            store.holder(id).await.unwrap(),
            Some(owner.zone.clone()),
            "{db}"
        );
        assert!(
            held(store.move_owner(id, &owner, &copy, None).await),
            "{db}"
        );
        // It left and joined again before the first logout save was written: that
        // save does not clear the second join's hold.
        store
            .hold_owned(id, &live, hold_token(&live, 2))
            .await
            .unwrap()
            .unwrap();
        let mut state = record.saved();
        state.x = 9.0;
        let first = (id, epoch, state.clone());
        let lost = store
            .logout_save(&live, std::slice::from_ref(&first), hold_token(&live, 1))
            .await
            .unwrap();
        assert!(lost.is_empty(), "{db}");
        assert!(
            held(store.move_owner(id, &owner, &copy, None).await),
            "{db}"
        );
        assert_eq!(store.player(id).await.unwrap().unwrap().x, 9.0, "{db}");
        // Releasing a hold that is not the current one changes nothing.
        store
            .release_hold(&live, id, hold_token(&live, 1))
            .await
            .unwrap();
        assert!(
            held(store.move_owner(id, &owner, &copy, None).await),
            "{db}"
        );
        // The second join's logout save: nobody holds the player, it moves.
        let lost = store
            .logout_save(&live, std::slice::from_ref(&first), hold_token(&live, 2))
            .await
            .unwrap();
        assert!(lost.is_empty(), "{db}");
        assert_eq!(store.holder(id).await.unwrap(), None, "{db}");
        let moved = store.move_owner(id, &owner, &copy, None).await.unwrap();
        assert_eq!(moved, Some(epoch + 1), "{db}");
        // The old owner's logout save is refused now, and holds nothing.
        let lost = store
            .logout_save(&live, std::slice::from_ref(&first), hold_token(&live, 2))
            .await
            .unwrap();
        assert_eq!(lost, [id], "{db}");
        assert!(
            store
                .hold_owned(id, &live, hold_token(&live, 3))
                .await
                .unwrap()
                .is_none(),
            "{db}"
        );
    }
}

#[tokio::test]
async fn the_next_process_serving_or_a_release_clears_the_holds_of_its_zone() {
    let (stores, _scratch) = services::stores("arcane-holds-").await;
    for (db, store) in stores {
        // A process killed while holding the player: its successor recovers the
        // journal, then serves, and the hold goes.
        let (id, live, copy) = player(&store, "bo").await;
        store
            .hold_owned(id, &live, hold_token(&live, 1))
            .await
            .unwrap()
            .unwrap();
        let owner = store.owner(id).await.unwrap().unwrap();
        let next = lease(
            &store,
            &live.zone_id,
            "second",
            Some("first"),
            arcane_service::unix_ms(),
        )
        .await;
        assert!(
            held(store.move_owner(id, &owner, &copy, None).await),
            "{db}: recovering"
        );
        store.mark_serving(&next).await.unwrap();
        assert_eq!(store.holder(id).await.unwrap(), None, "{db}");
        // A hold released without a save (a player that left while frozen, whose
        // aborted handoff wrote its state back).
        store
            .hold_owned(id, &next, hold_token(&next, 7))
            .await
            .unwrap()
            .unwrap();
        store
            .release_hold(&next, id, hold_token(&next, 7))
            .await
            .unwrap();
        assert_eq!(store.holder(id).await.unwrap(), None, "{db}");
        // A process that stops clears its holds with its lease.
        store
            .hold_owned(id, &next, hold_token(&next, 1))
            .await
            .unwrap()
            .unwrap();
        assert!(
            held(store.move_owner(id, &owner, &copy, None).await),
            "{db}"
        );
        store.release_lease(&next).await.unwrap();
        assert!(
            store
                .move_owner(id, &owner, &copy, None)
                .await
                .unwrap()
                .is_some(),
            "{db}"
        );
    }
}

#[tokio::test]
async fn a_hold_of_a_process_that_died_long_ago_strands_no_one() {
    let (stores, _scratch) = services::stores("arcane-holds-").await;
    for (db, store) in stores {
        let zone = services::unique("meadow");
        let long_ago = arcane_service::unix_ms() - 2 * STRANDED_AFTER_MS as u64;
        let gone = lease(&store, &zone, "gone", None, long_ago).await;
        let p = store
            .login(&services::unique("cy"), &zone, (1.0, 1.0), (100, 50))
            .await
            .unwrap();
        store
            .hold_owned(p.id, &gone, hold_token(&gone, 1))
            .await
            .unwrap()
            .unwrap();
        // Its lease expired more than the stranded delay ago and nothing replaced it.
        assert_eq!(store.holder(p.id).await.unwrap(), None, "{db}");
        let owner = store.owner(p.id).await.unwrap().unwrap();
        let copy = format!("{zone}~2");
        assert!(
            store
                .move_owner(p.id, &owner, &copy, None)
                .await
                .unwrap()
                .is_some(),
            "{db}"
        );
    }
}
