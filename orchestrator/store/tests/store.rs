//! Persistence against SQLite (a fresh file) and a real PostgreSQL: login creates once,
//! ownership moves only by compare-and-set, checkpoints are fenced by ownership, and a
//! transfer's handoff commits exactly once (with the items) or aborts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use arcane_store::{
    Handoff, HandoffStatus, ItemStack, LeaseHeld, Ownership, PlayerRecord, SavedPlayer, Store,
    StoreError, ZoneLease,
};

/// Every store to test against, and the scratch folder of the SQLite file (removed
/// when the guard is dropped, so keep it while the stores are used).
async fn stores() -> (Vec<(&'static str, Store)>, tempfile::TempDir) {
    let mut out = Vec::new();
    let dir = tempfile::Builder::new()
        .prefix("arcane-store-")
        .tempdir()
        .unwrap();
    let file = dir.path().join("arcane.db");
    out.push((
        "sqlite",
        Store::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap(),
    ));
    if let Some(url) = services::url("ARCANE_TEST_DATABASE_URL") {
        out.push(("postgres", Store::connect(&url).await.unwrap()));
    }
    (out, dir)
}

#[tokio::test]
async fn login_creates_a_player_once_and_keeps_it() {
    let (stores, _scratch) = stores().await;
    for (db, store) in stores {
        let name = services::unique("ada").replace('.', "");
        let a = store
            .login(&name, "meadow", (10.0, 20.0), (200, 100))
            .await
            .unwrap();
        let b = store
            .login(&name, "elsewhere", (0.0, 0.0), (1, 1))
            .await
            .unwrap();
        assert_eq!(a, b, "{db}: the second login finds the first");
        assert_eq!((a.zone.as_str(), a.x, a.hp), ("meadow", 10.0, 200), "{db}");
        let owner = store.owner(a.id).await.unwrap().unwrap();
        assert_eq!(
            owner,
            Ownership {
                zone: "meadow".into(),
                epoch: 1
            },
            "{db}"
        );
        // Concurrent first logins of one name make one player.
        let name = services::unique("bob");
        let results = futures_join(&store, &name).await;
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "{db}: {results:?}"
        );
    }
}

async fn futures_join(store: &Store, name: &str) -> Vec<u64> {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, name) = (store.clone(), name.to_string());
        tasks.push(tokio::spawn(async move {
            store
                .login(&name, "meadow", (0.0, 0.0), (1, 1))
                .await
                .unwrap()
                .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids
}

/// Zone names of one test (leases are per zone, and the PostgreSQL database outlives
/// test runs), each with its lease taken.
async fn zones(store: &Store) -> [(String, ZoneLease); 3] {
    let mut out = Vec::new();
    for z in ["meadow", "forest", "caves"] {
        let zone = services::unique(z);
        let lease = take(store, &zone).await;
        out.push((zone, lease));
    }
    out.try_into().unwrap()
}

async fn take(store: &Store, zone: &str) -> ZoneLease {
    store
        .acquire_lease(zone, "test", None, arcane_service::unix_ms(), 60_000)
        .await
        .unwrap()
        .unwrap()
}

/// A checkpoint of `p` by `owner` under `lease`; true when it was written.
async fn written(store: &Store, lease: &ZoneLease, p: &PlayerRecord, owner: &Ownership) -> bool {
    let lost = store
        .checkpoint_batch(lease, &[(p.id, owner.epoch, p.saved())])
        .await
        .unwrap();
    lost.is_empty()
}

#[tokio::test]
async fn ownership_moves_by_compare_and_set_and_fences_checkpoints() {
    let (stores, _scratch) = stores().await;
    for (db, store) in stores {
        let [(meadow, meadow_lease), (forest, forest_lease), (caves, _)] = zones(&store).await;
        let mut p = store
            .login(&services::unique("cy"), &meadow, (1.0, 1.0), (200, 100))
            .await
            .unwrap();
        let first = store.owner(p.id).await.unwrap().unwrap();
        // Two zones race to take the player from meadow at epoch 1: one wins.
        let a = store.move_owner(p.id, &first, &forest, None).await.unwrap();
        let b = store.move_owner(p.id, &first, &caves, None).await.unwrap();
        assert_eq!((a, b), (Some(2), None), "{db}");
        let now = store.owner(p.id).await.unwrap().unwrap();
        assert_eq!(
            now,
            Ownership {
                zone: forest.clone(),
                epoch: 2
            },
            "{db}"
        );

        // The old owner's late checkpoint is refused; the new owner's is written.
        p.x = 99.0;
        assert!(
            !written(&store, &meadow_lease, &p, &first).await,
            "{db}: stale owner wrote"
        );
        p.zone = forest.clone();
        p.inventory = vec![ItemStack {
            item: "potion".into(),
            count: 3,
        }];
        assert!(written(&store, &forest_lease, &p, &now).await, "{db}");
        let saved = store.player(p.id).await.unwrap().unwrap();
        assert_eq!(saved, p, "{db}");
        assert!(store.player(u64::MAX / 4).await.unwrap().is_none(), "{db}");
    }
}

fn fenced<T>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Fenced { .. }))
}

fn state(x: f32, items: &[(&str, u32)]) -> SavedPlayer {
    SavedPlayer {
        x,
        y: 7.0,
        hp: 120,
        mana: 40,
        inventory: items
            .iter()
            .map(|(i, n)| ItemStack {
                item: (*i).into(),
                count: *n,
            })
            .collect(),
        creatures: Vec::new(),
    }
}

#[tokio::test]
async fn handoffs_commit_once_with_the_items_and_fence_the_old_owner() {
    let (stores, _scratch) = stores().await;
    for (db, store) in stores {
        let [(meadow, meadow_lease), (forest, forest_lease), (caves, _)] = zones(&store).await;
        let p = store
            .login(&services::unique("dee"), &meadow, (1.0, 1.0), (200, 100))
            .await
            .unwrap();
        let owner = store.owner(p.id).await.unwrap().unwrap();
        // A batch checkpoint by the owner is written; by anyone else it is refused.
        let lost = store
            .checkpoint_batch(
                &meadow_lease,
                &[(p.id, owner.epoch, state(3.0, &[("gem", 2)]))],
            )
            .await
            .unwrap();
        assert!(lost.is_empty(), "{db}");
        let lost = store
            .checkpoint_batch(&forest_lease, &[(p.id, owner.epoch, state(4.0, &[]))])
            .await
            .unwrap();
        assert_eq!(lost, [p.id], "{db}");
        assert_eq!(store.player(p.id).await.unwrap().unwrap().x, 3.0, "{db}");

        let tid = services::unique("t");
        let h = Handoff {
            transfer_id: tid.clone(),
            player_id: p.id,
            from_zone: meadow.clone(),
            from_epoch: owner.epoch,
            target: format!("zone:{forest}"),
            state: state(8.0, &[("gem", 2), ("sword", 1)]),
        };
        assert_eq!(
            store.begin_handoff(&meadow_lease, &h).await.unwrap(),
            HandoffStatus::Pending,
            "{db}"
        );
        // Recording it again (a retry) changes nothing.
        assert_eq!(
            store.begin_handoff(&meadow_lease, &h).await.unwrap(),
            HandoffStatus::Pending,
            "{db}"
        );
        assert_eq!(
            store.pending_handoffs(Some(p.id), u64::MAX).await.unwrap(),
            std::slice::from_ref(&h),
            "{db}"
        );
        // Two commits race (an orchestrator retry and a roll-forward): one outcome.
        let (a, b) = tokio::join!(
            store.commit_handoff(&tid, &forest),
            store.commit_handoff(&tid, &forest)
        );
        let committed = HandoffStatus::Committed {
            to_zone: forest.clone(),
            epoch: owner.epoch + 1,
        };
        assert_eq!(
            (a.unwrap(), b.unwrap()),
            (committed.clone(), committed.clone()),
            "{db}"
        );
        assert_eq!(store.abort_handoff(&tid).await.unwrap(), committed, "{db}");
        assert!(
            store
                .pending_handoffs(Some(p.id), u64::MAX)
                .await
                .unwrap()
                .is_empty(),
            "{db}"
        );
        let now = store.player(p.id).await.unwrap().unwrap();
        assert_eq!((now.zone.as_str(), now.x), (forest.as_str(), 8.0), "{db}");
        assert_eq!(now.inventory, h.state.inventory, "{db}");
        // The old owner's late checkpoint (taken before the freeze) cannot undo it.
        let lost = store
            .checkpoint_batch(
                &meadow_lease,
                &[(p.id, owner.epoch, state(3.0, &[("gem", 2)]))],
            )
            .await
            .unwrap();
        assert_eq!(lost, [p.id], "{db}");
        assert_eq!(
            store.player(p.id).await.unwrap().unwrap().inventory,
            h.state.inventory,
            "{db}"
        );

        // A second handoff from the stale epoch aborts and moves nothing.
        let stale = Handoff {
            transfer_id: services::unique("t"),
            ..h.clone()
        };
        store.begin_handoff(&meadow_lease, &stale).await.unwrap();
        assert_eq!(
            store
                .commit_handoff(&stale.transfer_id, &caves)
                .await
                .unwrap(),
            HandoffStatus::Aborted,
            "{db}"
        );
        assert_eq!(
            store.owner(p.id).await.unwrap().unwrap().zone,
            forest,
            "{db}"
        );
        // Moving a player out of a closed instance relocates it in the same step.
        let o = store.owner(p.id).await.unwrap().unwrap();
        assert_eq!(
            store
                .move_owner(p.id, &o, &meadow, Some((5.0, 6.0)))
                .await
                .unwrap(),
            Some(o.epoch + 1),
            "{db}"
        );
        assert_eq!(
            store.move_owner(p.id, &o, &caves, None).await.unwrap(),
            None,
            "{db}"
        );
        let moved = store.player(p.id).await.unwrap().unwrap();
        assert_eq!(
            (moved.zone.as_str(), moved.x, moved.y),
            (meadow.as_str(), 5.0, 6.0),
            "{db}"
        );
        assert_eq!(moved.inventory, h.state.inventory, "{db}");
    }
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let err = Store::connect("mysql://nope")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[tokio::test]
async fn a_zone_lease_is_taken_once_and_fences_every_write_of_a_replaced_holder() {
    let (stores, _scratch) = stores().await;
    for (db, store) in stores {
        let zone = services::unique("meadow");
        let t0 = arcane_service::unix_ms();
        let old = store
            .acquire_lease(&zone, "old", None, t0, 3_000)
            .await
            .unwrap()
            .unwrap();
        // While it lives, nobody else takes it.
        let held = store
            .acquire_lease(&zone, "new", None, t0 + 1_000, 3_000)
            .await
            .unwrap();
        assert_eq!(
            held,
            Err(LeaseHeld {
                holder: "old".into(),
                expires_ms: (t0 + 3_000) as i64
            }),
            "{db}"
        );
        assert!(
            store.renew_lease(&old, t0 + 2_000, 3_000).await.unwrap(),
            "{db}"
        );
        assert!(
            store
                .acquire_lease(&zone, "new", None, t0 + 4_000, 3_000)
                .await
                .unwrap()
                .is_err(),
            "{db}: renewed until t0 + 5 s"
        );
        let p = store
            .login(&services::unique("eve"), &zone, (1.0, 1.0), (200, 100))
            .await
            .unwrap();
        let owner = store.owner(p.id).await.unwrap().unwrap();
        assert!(
            store.load_owned(p.id, &old).await.unwrap().is_some(),
            "{db}"
        );

        // The old holder stalls past its expiry; a new process takes the zone over.
        let new = store
            .acquire_lease(&zone, "new", None, t0 + 5_001, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(new.generation, old.generation + 1, "{db}");
        assert_eq!(
            store.lease_generation(&zone).await.unwrap(),
            Some(new.generation)
        );
        // Everything the old one tries now is refused and changes nothing.
        assert!(
            !store.renew_lease(&old, t0 + 5_002, 3_000).await.unwrap(),
            "{db}"
        );
        assert!(fenced(store.load_owned(p.id, &old).await), "{db}");
        let stale_save = store
            .checkpoint_batch(&old, &[(p.id, owner.epoch, state(50.0, &[("gem", 9)]))])
            .await;
        assert!(fenced(stale_save), "{db}");
        let h = Handoff {
            transfer_id: services::unique("t"),
            player_id: p.id,
            from_zone: zone.clone(),
            from_epoch: owner.epoch,
            target: "zone:forest".into(),
            state: state(60.0, &[("gem", 9)]),
        };
        assert!(fenced(store.begin_handoff(&old, &h).await), "{db}");
        assert!(
            store.handoff(&h.transfer_id).await.unwrap().is_none(),
            "{db}"
        );
        assert_eq!(
            store.player(p.id).await.unwrap().unwrap(),
            p,
            "{db}: untouched"
        );
        // The new holder writes; released, the lease is free at once.
        let lost = store
            .checkpoint_batch(&new, &[(p.id, owner.epoch, state(2.0, &[]))])
            .await
            .unwrap();
        assert!(lost.is_empty(), "{db}");
        store.release_lease(&old).await.unwrap();
        assert!(
            store
                .acquire_lease(&zone, "third", None, t0 + 5_003, 3_000)
                .await
                .unwrap()
                .is_err(),
            "{db}: a superseded holder cannot release the new one's lease"
        );
        store.release_lease(&new).await.unwrap();
        let third = store
            .acquire_lease(&zone, "third", None, t0 + 5_003, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.generation, new.generation + 1, "{db}");
        // A holder known dead is replaced before its lease expires.
        let fourth = store
            .acquire_lease(&zone, "fourth", Some("third"), t0 + 5_004, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fourth.generation, third.generation + 1, "{db}");
        assert!(
            store
                .acquire_lease(&zone, "fifth", Some("third"), t0 + 5_005, 3_000)
                .await
                .unwrap()
                .is_err(),
            "{db}: only the named dead holder"
        );
    }
}

#[tokio::test]
async fn the_served_generation_is_the_last_holder_that_marked_itself_serving() {
    let (stores, _scratch) = stores().await;
    for (db, store) in stores {
        let zone = services::unique("meadow");
        let t0 = arcane_service::unix_ms();
        assert_eq!(store.served_generation(&zone).await.unwrap(), None, "{db}");
        let first = store
            .acquire_lease(&zone, "first", None, t0, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.served_generation(&zone).await.unwrap(), None, "{db}");
        store.mark_serving(&first).await.unwrap();
        assert_eq!(
            store.served_generation(&zone).await.unwrap(),
            Some(first.generation),
            "{db}"
        );
        // A successor that never serves (it died starting) leaves the mark alone.
        let second = store
            .acquire_lease(&zone, "second", Some("first"), t0 + 1, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.served_generation(&zone).await.unwrap(),
            Some(first.generation),
            "{db}"
        );
        // A superseded holder cannot mark itself.
        let third = store
            .acquire_lease(&zone, "third", Some("second"), t0 + 2, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert!(fenced(store.mark_serving(&second).await), "{db}");
        store.mark_serving(&third).await.unwrap();
        assert_eq!(
            store.served_generation(&zone).await.unwrap(),
            Some(third.generation),
            "{db}"
        );
    }
}

#[tokio::test]
async fn an_aborted_handoff_leaves_the_player_with_its_source_as_it_was_frozen() {
    let (stores, _scratch) = stores().await;
    for (db, store) in stores {
        let [(meadow, meadow_lease), (forest, _), _] = zones(&store).await;
        let p = store
            .login(&services::unique("eve"), &meadow, (1.0, 1.0), (200, 100))
            .await
            .unwrap();
        let owner = store.owner(p.id).await.unwrap().unwrap();
        let checkpoint = state(3.0, &[("gem", 2)]);
        let lost = store
            .checkpoint_batch(&meadow_lease, &[(p.id, owner.epoch, checkpoint)])
            .await
            .unwrap();
        assert!(lost.is_empty(), "{db}");
        // Frozen with a sword found since the checkpoint; its connection may close
        // while frozen, leaving the handoff as the only record of the sword.
        let h = Handoff {
            transfer_id: services::unique("t"),
            player_id: p.id,
            from_zone: meadow.clone(),
            from_epoch: owner.epoch,
            target: format!("zone:{forest}"),
            state: state(8.0, &[("gem", 2), ("sword", 1)]),
        };
        store.begin_handoff(&meadow_lease, &h).await.unwrap();
        let (a, b) = tokio::join!(
            store.abort_handoff(&h.transfer_id),
            store.abort_handoff(&h.transfer_id)
        );
        let aborted = HandoffStatus::Aborted;
        assert_eq!((a.unwrap(), b.unwrap()), (aborted.clone(), aborted), "{db}");
        let now = store.player(p.id).await.unwrap().unwrap();
        assert_eq!((now.zone.as_str(), now.x), (meadow.as_str(), 8.0), "{db}");
        assert_eq!(now.inventory, h.state.inventory, "{db}");
        assert_eq!(store.owner(p.id).await.unwrap().unwrap(), owner, "{db}");
        // The source plays on from there; an abort read again writes nothing.
        let later = state(9.0, &[("gem", 1), ("sword", 1)]);
        store
            .checkpoint_batch(&meadow_lease, &[(p.id, owner.epoch, later)])
            .await
            .unwrap();
        store.abort_handoff(&h.transfer_id).await.unwrap();
        assert_eq!(store.player(p.id).await.unwrap().unwrap().x, 9.0, "{db}");
    }
}
