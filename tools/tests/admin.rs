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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_reach_the_zone_and_report_back() {
    let dir = tempfile::Builder::new()
        .prefix("arcane-admin-")
        .tempdir()
        .unwrap();
    ContentSources::shipped().write_to(dir.path()).unwrap();
    let z = arcane_zone_server::start(ZoneServerConfig::local(
        dir.path().to_path_buf(),
        "test_area",
    ))
    .await
    .unwrap();
    let target = format!("ws://{}", z.ws_addr);
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
