//! `arcane replay` on the journal of a real zone that served a bot swarm: it replays
//! with every digest equal, dumps a tick as JSON, reports a torn tail, and exits 2
//! naming the tick and the entity when one input in the journal was changed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arcane_journal::Record;
use arcane_journal::segment::{MAGIC, encode, segment_name, segments};
use arcane_loadtest::{SwarmConfig, run_swarm_blocking};
use arcane_zone_server::ZoneServerConfig;

fn arcane_replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arcane"))
        .arg("replay")
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A meadow zone journaled under `journal`, served to 16 mixed bots for 4 s, then
/// stopped; the run folder, and the journal a QA run saved (a threshold broke) while
/// the zone still ran.
async fn journaled_run(journal: &Path) -> (PathBuf, PathBuf) {
    let content = tempfile::tempdir().unwrap();
    arcane_engine::content::ContentSources::shipped()
        .write_to(content.path())
        .unwrap();
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "meadow");
    config.watch_content = false;
    config.journal_dir = Some(journal.to_path_buf());
    config.state_rows_every = 1;
    let zone = arcane_zone_server::start(config).await.unwrap();
    let swarm = SwarmConfig {
        chat_every: Duration::from_secs(5),
        ws_tasks: false,
        target: format!("ws://{}", zone.ws_addr),
        bots: 16,
        duration: Duration::from_secs(4),
        ramp: Duration::from_millis(300),
        metrics: None,
        zone: "meadow".into(),
        ticket_secret: arcane_zone_server::config::DEV_TICKET_SECRET.into(),
        first_player: 1,
        tier: arcane_protocol::ClientTier::Desktop,
        input_hz: 20,
        live: false,
        input_lead: Duration::from_millis(20),
        input_margin: Some(Duration::from_millis(5)),
        behaviour: arcane_loadtest::behaviour::BehaviourMix::Mix,
        orchestrator: None,
        transport: arcane_loadtest::client::Transport::Ws,
        impairment: None,
        idp_secret: None,
    };
    let report = tokio::task::spawn_blocking(move || run_swarm_blocking(swarm))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.connected, 16, "{report:?}");
    // A latency threshold no run meets: the evidence is saved.
    let broken = report.check(&arcane_loadtest::report::Thresholds {
        max_p99_ms: Some(0.0),
        ..Default::default()
    });
    assert_eq!(broken.len(), 1, "{broken:?}");
    let evidence = arcane_loadtest::evidence::save(
        &journal.join("evidence"),
        "meadow",
        &format!("http://{}/metrics", zone.admin_addr),
        &report,
        &broken,
    )
    .await
    .unwrap();
    assert!(evidence.report.exists());
    zone.shutdown();
    zone.wait().await;
    let zone_dir = journal.join("meadow");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&zone_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.retain(|r| r.is_dir());
    assert_eq!(runs.len(), 1);
    (runs.pop().unwrap(), evidence.journal)
}

/// Copies `run` into `to` as one segment, with the first input of the first tick
/// after `after` that has one turned around; returns that tick.
fn with_one_input_changed(run: &Path, to: &Path, after: u64) -> u64 {
    std::fs::create_dir_all(to).unwrap();
    let mut reader = arcane_journal::JournalReader::open(run).unwrap();
    let mut out = MAGIC.to_vec();
    let mut changed = None;
    while let Some(r) = reader.next() {
        let mut r = r.unwrap();
        if let Record::Tick { tick, commands, .. } = &mut r
            && *tick > after
            && changed.is_none()
            && let Some(input) = commands.iter_mut().find_map(|c| match c {
                arcane_engine::ZoneCommand::Input { input, .. } if input.dir_x != 0 => Some(input),
                _ => None,
            })
        {
            input.dir_x = -input.dir_x;
            changed = Some(*tick);
        }
        encode(&mut out, &r).unwrap();
    }
    std::fs::write(to.join(segment_name(1)), out).unwrap();
    changed.expect("a moving input after that tick")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_zone_replays_from_its_journal_and_a_changed_input_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (run, saved) = journaled_run(&dir.path().join("journal")).await;

    // The journal a QA run saved mid-run replays as far as it goes.
    let (code, out, err) = arcane_replay(&["--verify", saved.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: every digest matches"), "{out}");

    // The zone folder names its newest run.
    let zone_dir = dir.path().join("journal").join("meadow");
    let (code, out, err) = arcane_replay(&["--verify", zone_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: every digest matches"), "{out}");
    assert!(out.contains("the run ended: the zone stopped"), "{out}");
    let ticks: u64 = out
        .split(" ticks replayed")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(ticks >= 60, "{out}");

    // A dump of tick 40 as JSON: players with positions, skills with mana.
    let dump = dir.path().join("t40.json");
    let (code, out, err) = arcane_replay(&[
        run.to_str().unwrap(),
        "--dump",
        "40",
        "--out",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&dump).unwrap()).unwrap();
    assert_eq!(doc["tick"], 40);
    let entities = doc["parts"]["entities"].as_object().unwrap();
    assert!(
        entities.values().filter(|e| !e["player"].is_null()).count() >= 8,
        "{doc}"
    );
    assert!(!doc["parts"]["skills"].as_object().unwrap().is_empty());

    // A writer killed mid-record: the tail is reported and what precedes replays.
    let torn = dir.path().join("torn");
    std::fs::create_dir_all(&torn).unwrap();
    for s in segments(&run).unwrap() {
        std::fs::copy(&s, torn.join(s.file_name().unwrap())).unwrap();
    }
    let last = segments(&torn).unwrap().pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (code, out, err) = arcane_replay(&["--verify", torn.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("torn tail"), "{out}");
    assert!(out.contains("ok: every digest matches"), "{out}");

    // One input turned around: exit 2, at the tick after it, on a player.
    let edited = dir.path().join("edited");
    let tick = with_one_input_changed(&run, &edited, 30);
    let (code, out, err) = arcane_replay(&["--verify", edited.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    // The changed input is queued in its tick (the `inputs` part differs at once) and
    // moves the player when it is applied: that tick, or a few later when the bot's
    // inputs queued up.
    let at: u64 = out
        .split("DIVERGED at tick ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((tick + 1..=tick + 5).contains(&at), "changed {tick}: {out}");
    assert!(
        out.contains("part inputs: 1 differ") || out.contains("part entities: "),
        "{out}"
    );
}
