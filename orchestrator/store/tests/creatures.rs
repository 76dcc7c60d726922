//! Creatures as rows, on SQLite and PostgreSQL: written with their owner's
//! checkpoint, moved by a transfer commit in the same transaction as ownership, old
//! `creature:<id>` items migrated once, id blocks never shared.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use arcane_protocol::saved::{SavedCreature, SavedCreatureState, SavedGene};
use arcane_store::{Handoff, HandoffStatus, ItemStack, SavedPlayer, Store};

async fn stores() -> (Vec<(&'static str, String, Store)>, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("arcane-creatures-")
        .tempdir()
        .unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("arcane.db").display());
    let mut out = vec![(
        "sqlite",
        sqlite.clone(),
        Store::connect(&sqlite).await.unwrap(),
    )];
    if let Some(url) = services::url("ARCANE_TEST_DATABASE_URL") {
        out.push(("postgres", url.clone(), Store::connect(&url).await.unwrap()));
    }
    (out, dir)
}

fn creature(id: u64, species: &str, egg: bool) -> SavedCreature {
    SavedCreature {
        id,
        species: species.into(),
        gene_version: 1,
        genome: [
            ("size".to_string(), SavedGene::Numeric(1.25)),
            (
                "diet".to_string(),
                SavedGene::Alleles("herbivore".into(), "carnivore".into()),
            ),
        ]
        .into(),
        parents: egg.then_some((id - 2, id - 1)),
        generation: u16::from(egg),
        born_zone: "meadow".into(),
        born_tick: 40,
        state: if egg {
            SavedCreatureState::Egg { hatch_in_ticks: 90 }
        } else {
            SavedCreatureState::Active
        },
        breed_ready_in_ticks: 12,
    }
}

fn state(creatures: Vec<SavedCreature>) -> SavedPlayer {
    SavedPlayer {
        x: 5.0,
        y: 6.0,
        hp: 100,
        mana: 10,
        inventory: vec![ItemStack {
            item: "gem".into(),
            count: 1,
        }],
        creatures,
    }
}

#[tokio::test]
async fn creatures_are_saved_with_their_owner_and_move_with_a_transfer() {
    let (stores, _scratch) = stores().await;
    for (db, _, store) in stores {
        let base = store.reserve_creature_ids().await.unwrap();
        let (meadow, forest) = (services::unique("meadow"), services::unique("forest"));
        let now = arcane_service::unix_ms();
        let lease = store
            .acquire_lease(&meadow, "t", None, now, 60_000)
            .await
            .unwrap()
            .unwrap();
        let p = store
            .login(&services::unique("tamer"), &meadow, (1.0, 1.0), (100, 10))
            .await
            .unwrap();
        let owner = store.owner(p.id).await.unwrap().unwrap();
        let three = vec![
            creature(base + 1, "mossling", false),
            creature(base + 2, "emberfox", false),
            creature(base + 3, "thornback", true),
        ];
        let lost = store
            .checkpoint_batch(&lease, &[(p.id, owner.epoch, state(three.clone()))])
            .await
            .unwrap();
        assert!(lost.is_empty(), "{db}");
        assert_eq!(
            store.player(p.id).await.unwrap().unwrap().creatures,
            three,
            "{db}"
        );
        // A checkpoint without one (it was bred away, say) removes its row.
        let two = three[1..].to_vec();
        store
            .checkpoint_batch(&lease, &[(p.id, owner.epoch, state(two.clone()))])
            .await
            .unwrap();
        assert_eq!(
            store.player(p.id).await.unwrap().unwrap().creatures,
            two,
            "{db}"
        );

        // A transfer carries them; the commit writes them with the new owner.
        let mut moving = two.clone();
        moving.push(creature(base + 4, "mossling", false));
        let h = Handoff {
            transfer_id: services::unique("t"),
            player_id: p.id,
            from_zone: meadow.clone(),
            from_epoch: owner.epoch,
            target: format!("zone:{forest}"),
            state: state(moving.clone()),
        };
        store.begin_handoff(&lease, &h).await.unwrap();
        // Until the commit, the row still holds the old set.
        assert_eq!(
            store.player(p.id).await.unwrap().unwrap().creatures,
            two,
            "{db}"
        );
        let done = store.commit_handoff(&h.transfer_id, &forest).await.unwrap();
        assert!(matches!(done, HandoffStatus::Committed { .. }), "{db}");
        let after = store.player(p.id).await.unwrap().unwrap();
        assert_eq!(after.creatures, moving, "{db}");
        assert_eq!(after.zone, forest, "{db}");
        // The old owner's checkpoint is fenced: the creatures stay as committed.
        let lost = store
            .checkpoint_batch(&lease, &[(p.id, owner.epoch, state(Vec::new()))])
            .await
            .unwrap();
        assert_eq!(lost, [p.id], "{db}");
        assert_eq!(
            store.player(p.id).await.unwrap().unwrap().creatures,
            moving,
            "{db}"
        );
    }
}

#[tokio::test]
async fn old_creature_items_become_rows_once() {
    let (stores, _scratch) = stores().await;
    for (db, url, store) in stores {
        let zone = services::unique("meadow");
        let p = store
            .login(&services::unique("old"), &zone, (1.0, 1.0), (100, 10))
            .await
            .unwrap();
        let owner = store.owner(p.id).await.unwrap().unwrap();
        let mut legacy = state(Vec::new());
        legacy.inventory.push(ItemStack {
            item: "creature:fox-3".into(),
            count: 1,
        });
        legacy.inventory.push(ItemStack {
            item: "creature:wolfling-pup-9".into(),
            count: 2,
        });
        assert!(
            store
                .write_player_state(p.id, &owner, &legacy)
                .await
                .unwrap()
        );
        // The next process to connect migrates; a second connect changes nothing.
        for _ in 0..2 {
            let again = Store::connect(&url).await.unwrap();
            let r = again.player(p.id).await.unwrap().unwrap();
            assert_eq!(r.inventory, state(Vec::new()).inventory, "{db}");
            let species: Vec<&str> = r.creatures.iter().map(|c| c.species.as_str()).collect();
            assert_eq!(species, ["fox", "wolfling-pup", "wolfling-pup"], "{db}");
            assert!(
                r.creatures
                    .iter()
                    .all(|c| c.state == SavedCreatureState::Active)
            );
        }
    }
}

#[tokio::test]
async fn id_blocks_are_never_shared() {
    let (stores, _scratch) = stores().await;
    for (db, _, store) in stores {
        let blocks: Vec<u64> = futures_blocks(&store).await;
        let mut sorted = blocks.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), blocks.len(), "{db}: {blocks:?}");
        assert!(
            blocks
                .iter()
                .all(|b| b % arcane_store::CREATURE_ID_BLOCK == 0 && *b > 0)
        );
    }
}

async fn futures_blocks(store: &Store) -> Vec<u64> {
    let (a, b, c, d) = tokio::join!(
        store.reserve_creature_ids(),
        store.reserve_creature_ids(),
        store.reserve_creature_ids(),
        store.reserve_creature_ids()
    );
    [a, b, c, d].into_iter().map(Result::unwrap).collect()
}
