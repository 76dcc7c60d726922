//! Crash recovery across successors: a zone process killed after serving is recovered
//! from its journal even when a process that took the lease after it died before
//! serving (killed while starting, or ended as an orphan by a restarted
//! orchestrator), and is not recovered once a later process served the zone. A
//! player who left before the kill is recovered as it left.

use std::path::Path;

use arcane_engine::content::ContentSources;
use arcane_engine::{PlayerId, ZoneCommand};
use arcane_journal::{ContentFiles, Journal, JournalConfig, Record, Start};
use arcane_protocol::ClientTier;
use arcane_protocol::ticket::Role;
use arcane_store::{Store, ZoneLease};

const ZONE: &str = "meadow";
const TTL_MS: u64 = 60_000;

async fn take(store: &Store, holder: &str, dead: Option<&str>) -> ZoneLease {
    store
        .acquire_lease(ZONE, holder, dead, arcane_service::unix_ms(), TTL_MS)
        .await
        .unwrap()
        .expect("the lease is free")
}

/// What the killed process ran: `player` joined with a state the database does not
/// have yet (walked since its last checkpoint), left again if `leaves` (its logout
/// save only queued), then the process was killed (no end record).
fn killed_run(journal: &Path, lease: &ZoneLease, player: u64, epoch: i64, leaves: bool) {
    let sources = ContentSources::shipped();
    let start = Start {
        format: arcane_journal::FORMAT_VERSION,
        zone_id: ZONE.into(),
        template: ZONE.into(),
        seed: 3,
        content: ContentFiles {
            version: sources.version().0,
            files: sources.files().clone(),
        },
        creature_ids: None,
        lease_generation: Some(lease.generation),
        first_tick: 0,
        started_unix_ms: 0,
        writer: "test".into(),
        hash_every: 0,
        rows_every: 0,
    };
    let mut j = Journal::start(&JournalConfig::new(journal), start).unwrap();
    let mut saved = arcane_protocol::saved::SavedPlayer {
        x: 12.5,
        y: 14.0,
        hp: 77,
        mana: 40,
        inventory: Vec::new(),
        creatures: Vec::new(),
    };
    saved.inventory.push(arcane_protocol::saved::ItemStack {
        item: "moss".into(),
        count: 3,
    });
    j.record(Record::Tick {
        tick: 0,
        host_us: 0,
        commands: vec![ZoneCommand::Join {
            player: PlayerId(player),
            tier: ClientTier::Desktop,
            role: Role::Player,
            saved: Some(Box::new(saved)),
        }],
        epochs: vec![(player, epoch)],
    });
    if leaves {
        j.record(Record::Tick {
            tick: 1,
            host_us: 50_000,
            commands: vec![ZoneCommand::Leave {
                player: PlayerId(player),
            }],
            epochs: Vec::new(),
        });
    }
    // Dropped without `finish`: the writer stops with no end record, as on SIGKILL.
    drop(j);
}

async fn setup() -> (tempfile::TempDir, Store, u64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("arcane.db").display());
    let store = Store::connect(&url).await.unwrap();
    let p = store
        .login("ada", ZONE, (10.0, 10.0), (100, 50))
        .await
        .unwrap();
    let epoch = store.owner(p.id).await.unwrap().unwrap().epoch;
    (dir, store, p.id, epoch)
}

#[tokio::test]
async fn a_successor_that_died_before_serving_does_not_stop_the_recovery() {
    let (dir, store, player, epoch) = setup().await;
    let journal = dir.path().join("journal");
    let served = take(&store, "first", None).await;
    store.mark_serving(&served).await.unwrap();
    killed_run(&journal, &served, player, epoch, false);
    // The next process takes the lease and dies before it serves anyone.
    let _died = take(&store, "second", Some("first")).await;
    let third = take(&store, "third", Some("second")).await;
    let recovered = crate::recovery::recover(&journal, ZONE, &store, &third)
        .await
        .unwrap()
        .expect("the first process's run is recovered");
    assert_eq!((recovered.saved, recovered.fenced), (1, 0));
    let row = store.player(player).await.unwrap().unwrap();
    assert_eq!((row.x, row.y, row.hp), (12.5, 14.0, 77), "{row:?}");
    assert_eq!(row.inventory.len(), 1, "{row:?}");
    // The run is marked: the next start does not recover it again.
    let fourth = take(&store, "fourth", Some("third")).await;
    let again = crate::recovery::recover(&journal, ZONE, &store, &fourth).await;
    assert!(again.unwrap().is_none());
}

#[tokio::test]
async fn a_run_is_not_recovered_over_a_later_process_that_served() {
    let (dir, store, player, epoch) = setup().await;
    let journal = dir.path().join("journal");
    let first = take(&store, "first", None).await;
    store.mark_serving(&first).await.unwrap();
    killed_run(&journal, &first, player, epoch, false);
    // A process without a journal served the zone since: its checkpoints are newer.
    let second = take(&store, "second", Some("first")).await;
    store.mark_serving(&second).await.unwrap();
    let third = take(&store, "third", Some("second")).await;
    let recovered = crate::recovery::recover(&journal, ZONE, &store, &third)
        .await
        .unwrap();
    assert!(recovered.is_none());
    let row = store.player(player).await.unwrap().unwrap();
    assert_eq!(
        (row.x, row.y, row.hp),
        (10.0, 10.0, 100),
        "untouched: {row:?}"
    );
}

#[tokio::test]
async fn a_player_who_left_before_the_kill_is_saved_as_it_left() {
    let (dir, store, player, epoch) = setup().await;
    let journal = dir.path().join("journal");
    let first = take(&store, "first", None).await;
    store.mark_serving(&first).await.unwrap();
    // Its logout save was queued, never written: only the journal has its state.
    killed_run(&journal, &first, player, epoch, true);
    let second = take(&store, "second", Some("first")).await;
    let recovered = crate::recovery::recover(&journal, ZONE, &store, &second)
        .await
        .unwrap()
        .expect("the run is recovered");
    assert_eq!((recovered.saved, recovered.fenced), (1, 0));
    let row = store.player(player).await.unwrap().unwrap();
    assert_eq!((row.x, row.y, row.hp), (12.5, 14.0, 77), "{row:?}");
    assert_eq!(row.inventory.len(), 1, "{row:?}");
}

#[tokio::test]
async fn a_player_who_left_and_moved_on_is_not_written_back() {
    let (dir, store, player, epoch) = setup().await;
    let journal = dir.path().join("journal");
    let first = take(&store, "first", None).await;
    store.mark_serving(&first).await.unwrap();
    killed_run(&journal, &first, player, epoch, true);
    // Since it left, another zone took the player over (a new epoch).
    let owner = store.owner(player).await.unwrap().unwrap();
    store
        .move_owner(player, &owner, "elsewhere", None)
        .await
        .unwrap()
        .expect("moved");
    let second = take(&store, "second", Some("first")).await;
    let recovered = crate::recovery::recover(&journal, ZONE, &store, &second)
        .await
        .unwrap()
        .expect("the run is recovered");
    assert_eq!((recovered.saved, recovered.fenced), (0, 1));
    let row = store.player(player).await.unwrap().unwrap();
    assert_eq!((row.x, row.y, row.hp), (10.0, 10.0, 100), "{row:?}");
}
