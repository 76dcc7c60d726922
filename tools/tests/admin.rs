//! `arcane admin` against a running test-area zone: each command's answer is printed,
//! and a refused command exits non-zero with the zone's reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::process::Command;

use arcane_engine::content::ContentSources;
use arcane_zone_server::ZoneServerConfig;

fn arcane_admin(target: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arcane"))
        .args(["admin", "--target", target, "--zone", "test_area"])
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A test-area zone on `content`, its WebSocket URL, and the folder it reads (keep it
/// while the zone runs).
async fn test_area(
    content: &ContentSources,
) -> (arcane_zone_server::RunningZone, String, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("arcane-admin-")
        .tempdir()
        .unwrap();
    content.write_to(dir.path()).unwrap();
    let z = arcane_zone_server::start(ZoneServerConfig::local(
        dir.path().to_path_buf(),
        "test_area",
    ))
    .await
    .unwrap();
    let target = format!("ws://{}", z.ws_addr);
    (z, target, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_reach_the_zone_and_report_back() {
    let (z, target, _dir) = test_area(&ContentSources::shipped()).await;
    let run = |args: &'static [&'static str]| {
        let target = target.clone();
        tokio::task::spawn_blocking(move || arcane_admin(&target, args))
    };

    let (ok, out) = run(&["spawn", "golem", "30", "60"]).await.unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("test_area: spawned golem (id ") && out.contains("at (30, 60)"),
        "{out}"
    );

    let (ok, out) = run(&["teleport", "0", "12.5", "40"]).await.unwrap();
    assert!(ok && out.contains("moved to (12.5, 40)"), "{out}");
    let (ok, out) = run(&["invulnerable", "0", "true"]).await.unwrap();
    assert!(ok && out.contains("invulnerability on"), "{out}");
    let (ok, out) = run(&["set-hp", "0", "120"]).await.unwrap();
    assert!(ok && out.contains("now has 120/200 HP"), "{out}");
    let (ok, out) = run(&["reset"]).await.unwrap();
    assert!(ok && out.contains("reset: removed"), "{out}");

    let (ok, out) = run(&["spawn", "dragon", "30", "60"]).await.unwrap();
    assert!(!ok, "{out}");
    assert!(
        out.contains("refused: unknown enemy type \"dragon\""),
        "{out}"
    );
    let (ok, out) = run(&["teleport", "0", "50", "40"]).await.unwrap();
    assert!(!ok && out.contains("inside an obstacle"), "{out}");

    z.shutdown();
    z.wait().await;
}

/// `arcane play` with a script: spawn two creatures, weaken and capture them, breed
/// them, watch the egg hatch, and list the roster; and the creature admin commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designer_captures_and_breeds_by_hand_in_the_test_area() {
    let mut content = ContentSources::shipped();
    // Certain captures, adults from birth and a one-second egg, so the script is short
    // and has one outcome.
    let creatures = content
        .get("creatures.ron")
        .unwrap()
        .replace("base_chance: 0.6", "base_chance: 1.0")
        .replace("weakness_bonus: 0.4", "weakness_bonus: 1.0")
        .replace("adult_after_s: 20.0", "adult_after_s: 0.0")
        .replace("incubation_s: 20.0", "incubation_s: 1.0");
    content.set("creatures.ron", creatures);
    let (z, target, _dir) = test_area(&content).await;

    let admin = |args: &'static [&'static str]| {
        let target = target.clone();
        tokio::task::spawn_blocking(move || arcane_admin(&target, args))
    };
    // An empty cell to work in (the creatures' area is the east half).
    for species in [
        &["set-cell", "mossling", "60", "60", "0"][..],
        &["set-cell", "emberfox", "60", "60", "0"],
    ] {
        let (ok, out) = admin(species).await.unwrap();
        assert!(ok && out.contains("→ 0"), "{out}");
    }
    let (ok, out) = admin(&["cells", "60", "60", "5"]).await.unwrap();
    assert!(
        ok && out.contains("mossling 0/2") && out.contains("emberfox 0/1"),
        "{out}"
    );
    let (ok, out) = admin(&[
        "spawn-creature",
        "emberfox",
        "70",
        "60",
        "--gene",
        "temperament=docile",
    ])
    .await
    .unwrap();
    assert!(ok && out.contains("spawned emberfox"), "{out}");
    let (ok, out) = admin(&["spawn-creature", "emberfox", "71", "60"])
        .await
        .unwrap();
    assert!(!ok && out.contains("full for emberfox (1 of 1)"), "{out}");

    let script = "\
spawn mossling 57 58 temperament=docile speed=0.8
spawn mossling 58 58 temperament=docile speed=0.8
goto 56 56
wait 400
near
hp nearest 1
wait 200
capture nearest
wait 2200
hp nearest 1
wait 200
capture nearest
wait 400
breed #0 #1
wait 1800
roster
wait 300
quit
";
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_arcane"))
            .args([
                "play",
                "--admin",
                "--target",
                &target,
                "--zone",
                "test_area",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap();
    assert!(
        out.contains("creature ") && out.contains(" mossling hp 100%"),
        "{out}"
    );
    assert_eq!(out.matches(": Captured {").count(), 2, "{out}");
    assert!(out.contains("breed: EggLaid"), "{out}");
    assert!(out.contains("hatched:"), "{out}");
    assert!(out.contains("roster: 3 creatures of 12"), "{out}");
    assert!(out.contains("gen 1 parents Some("), "{out}");

    z.shutdown();
    z.wait().await;
}
