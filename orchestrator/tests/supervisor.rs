//! The local supervisor with a stand-in zone program (a shell script): a zone that
//! crashes is restarted with growing waits, one that exits cleanly (a closed
//! instance) is not, and shutdown stops the children.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design
#![cfg(unix)]

use std::time::{Duration, Instant};

use arcane_orchestrator::supervisor::{LocalConfig, LocalSupervisor, Supervisor, ZoneSpec};
use arcane_service::RetryPolicy;

/// A script that appends one line per start to `starts` and exits with the code in
/// the file `code` (default 1). It is run by `/bin/sh`, not executed itself: a file
/// just written cannot be executed while a child another test forks meanwhile still
/// holds the writer's descriptor (`ETXTBSY`, until that child's own `exec`).
fn script(dir: &std::path::Path) -> String {
    let path = dir.join("fake-zone.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$@\" >> {starts}\ncode=$(cat {code} 2>/dev/null || echo 1)\nexit $code\n",
            starts = dir.join("starts").display(),
            code = dir.join("code").display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn starts(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("starts"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn crashed_zones_restart_with_backoff_and_closed_ones_stay_closed() {
    let scratch = tempfile::Builder::new()
        .prefix("arcane-supervisor-")
        .tempdir()
        .unwrap();
    let dir = scratch.path().to_path_buf();
    let sup = LocalSupervisor::new(LocalConfig {
        program: "/bin/sh".into(),
        args: vec![script(&dir), "zone".into()],
        orchestrator_url: "http://127.0.0.1:1".into(),
        content: dir.join("content"),
        env: vec![],
        restart: RetryPolicy::new(Duration::from_millis(50), Duration::from_millis(400)),
        run_dir: None,
    });
    let spec = ZoneSpec {
        zone_id: "crypt~party-red".into(),
        template: "crypt".into(),
        close_after_empty: None,
        keep_running: false,
    };
    sup.start(spec.clone()).unwrap();
    // Starting it again while it runs is a no-op.
    sup.start(spec.clone()).unwrap();
    assert_eq!(sup.running(), ["crypt~party-red"]);
    let t0 = Instant::now();
    while starts(&dir).len() < 5 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "not restarted: {:?}",
            starts(&dir)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sup.restarts("crypt~party-red").unwrap() >= 4);
    let first = &starts(&dir)[0];
    assert!(
        first.starts_with("zone --zone crypt --zone-id crypt~party-red --content"),
        "{first}"
    );

    // Now it exits cleanly: not restarted, and no longer running.
    std::fs::write(dir.join("code"), "0").unwrap();
    let t1 = Instant::now();
    while !sup.running().is_empty() {
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "a clean exit was restarted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its watcher is gone (it only leaves the list once it decided not to restart), so
    // nothing starts it again.
    assert_eq!(sup.restarts("crypt~party-red"), None);
    sup.shutdown().await;
}

#[tokio::test]
async fn a_configured_map_is_started_again_after_a_clean_exit() {
    let scratch = tempfile::Builder::new()
        .prefix("arcane-supervisor-")
        .tempdir()
        .unwrap();
    let dir = scratch.path().to_path_buf();
    std::fs::write(dir.join("code"), "0").unwrap();
    let sup = LocalSupervisor::new(LocalConfig {
        program: "/bin/sh".into(),
        args: vec![script(&dir), "zone".into()],
        orchestrator_url: "http://127.0.0.1:1".into(),
        content: dir.join("content"),
        env: vec![],
        restart: RetryPolicy::new(Duration::from_millis(50), Duration::from_millis(400)),
        run_dir: None,
    });
    // A drained meadow exits cleanly with nobody online; logins still need a meadow.
    sup.start(ZoneSpec {
        zone_id: "meadow".into(),
        template: "meadow".into(),
        close_after_empty: None,
        keep_running: true,
    })
    .unwrap();
    let t0 = Instant::now();
    while starts(&dir).len() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "a configured map stayed stopped: {:?}",
            starts(&dir)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sup.running(), ["meadow"]);
    sup.shutdown().await;
    assert!(sup.running().is_empty());
}

/// A live process recorded in the run folder, as a killed orchestrator leaves its
/// zones: a new supervisor on that folder ends it, and forgets a record of a process
/// that is gone (or whose pid was reused).
#[tokio::test]
async fn a_new_supervisor_ends_the_zones_its_killed_predecessor_left() {
    use arcane_service::ProcessIdentity;
    let scratch = tempfile::Builder::new()
        .prefix("arcane-supervisor-")
        .tempdir()
        .unwrap();
    let dir = scratch.path().to_path_buf();
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let mut orphan = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let id = ProcessIdentity::of(orphan.id()).unwrap();
    std::fs::write(run.join("meadow.pid"), id.to_string()).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_id = ProcessIdentity::of(gone.id()).unwrap();
    gone.wait().unwrap();
    std::fs::write(run.join("forest.pid"), gone_id.to_string()).unwrap();
    let reused = ProcessIdentity {
        start_ticks: id.start_ticks + 1,
        ..id
    };
    std::fs::write(run.join("crypt~party-red.pid"), reused.to_string()).unwrap();

    let sup = LocalSupervisor::new(LocalConfig {
        program: "/bin/sh".into(),
        args: vec![script(&dir)],
        orchestrator_url: "http://127.0.0.1:1".into(),
        content: dir.join("content"),
        env: vec![],
        restart: RetryPolicy::new(Duration::from_millis(50), Duration::from_millis(400)),
        run_dir: Some(run.clone()),
    });
    assert_eq!(sup.end_orphans().await, 1);
    let status = orphan.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "ended with SIGTERM (a drain)");
    assert_eq!(
        std::fs::read_dir(&run).unwrap().count(),
        0,
        "records forgotten"
    );

    // Its own children are recorded while they run and forgotten after.
    std::fs::write(dir.join("code"), "0").unwrap();
    sup.start(ZoneSpec {
        zone_id: "crypt~party-red".into(),
        template: "crypt".into(),
        close_after_empty: None,
        keep_running: false,
    })
    .unwrap();
    let t0 = Instant::now();
    while !sup.running().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(starts(&dir).len(), 1);
    assert_eq!(std::fs::read_dir(&run).unwrap().count(), 0);
}
