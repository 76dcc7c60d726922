//! Persistence against SQLite (a fresh file) and a real PostgreSQL: login creates once,
//! ownership moves only by compare-and-set, checkpoints are fenced by ownership.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use arcane_orchestrator::store::{ItemStack, Ownership, Store};

async fn stores() -> Vec<(&'static str, Store)> {
    let mut out = Vec::new();
    let file = std::env::temp_dir().join(format!("{}.db", services::unique("arcane-store")));
    out.push((
        "sqlite",
        Store::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap(),
    ));
    if let Some(url) = services::url("ARCANE_TEST_DATABASE_URL") {
        out.push(("postgres", Store::connect(&url).await.unwrap()));
    }
    out
}

#[tokio::test]
async fn login_creates_a_player_once_and_keeps_it() {
    for (db, store) in stores().await {
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

#[tokio::test]
async fn ownership_moves_by_compare_and_set_and_fences_checkpoints() {
    for (db, store) in stores().await {
        let mut p = store
            .login(&services::unique("cy"), "meadow", (1.0, 1.0), (200, 100))
            .await
            .unwrap();
        let first = store.owner(p.id).await.unwrap().unwrap();
        // Two zones race to take the player from meadow at epoch 1: one wins.
        let a = store
            .transfer_ownership(p.id, &first, "forest")
            .await
            .unwrap();
        let b = store
            .transfer_ownership(p.id, &first, "caves")
            .await
            .unwrap();
        assert_eq!((a, b), (Some(2), None), "{db}");
        let now = store.owner(p.id).await.unwrap().unwrap();
        assert_eq!(
            now,
            Ownership {
                zone: "forest".into(),
                epoch: 2
            },
            "{db}"
        );

        // The old owner's late checkpoint is refused; the new owner's is written.
        p.x = 99.0;
        assert!(
            !store.checkpoint(&p, &first).await.unwrap(),
            "{db}: stale owner wrote"
        );
        p.zone = "forest".into();
        p.inventory = vec![ItemStack {
            item: "potion".into(),
            count: 3,
        }];
        assert!(store.checkpoint(&p, &now).await.unwrap(), "{db}");
        let saved = store.player(p.id).await.unwrap().unwrap();
        assert_eq!(saved, p, "{db}");
        assert!(store.player(u64::MAX / 4).await.unwrap().is_none(), "{db}");
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
