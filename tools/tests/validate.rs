//! `arcane validate` on the shipped content and on broken copies of it: every problem
//! is printed as `file:line:col: message`, all at once, and the exit code says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::path::Path;
use std::process::Command;

use arcane_engine::content::ContentSources;

fn arcane(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arcane"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shipped content in a scratch folder (removed when the guard is dropped).
fn copy_of_shipped(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("arcane-validate-{name}-"))
        .tempdir()
        .unwrap();
    ContentSources::shipped().write_to(dir.path()).unwrap();
    dir
}

fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_shipped_content_passes() {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../content");
    let (ok, out, err) = arcane(&["validate", repo]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ok (4 zones: crypt, forest, meadow, test_area)"),
        "{out}"
    );
}

#[test]
fn syntax_errors_are_located_and_reported_per_file() {
    let scratch = copy_of_shipped("syntax");
    let dir = scratch.path();
    // An unknown field in one file and a wrong type in another: both reported.
    edit(
        dir,
        "enemies.ron",
        "aggro_radius: 12.0",
        "aggro_radios: 12.0",
    );
    edit(dir, "classes.ron", "max_hp: 200", "max_hp: \"lots\"");
    let (ok, _, err) = arcane(&["validate", dir.to_str().unwrap()]);
    assert!(!ok);
    let d = dir.display();
    assert!(
        err.contains(&format!(
            "{d}/enemies.ron:7:9: unexpected field named `aggro_radios`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{d}/classes.ron:5:16: max_hp: expected integer")),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn semantic_errors_are_located_and_all_reported() {
    let scratch = copy_of_shipped("semantic");
    let dir = scratch.path();
    // A dangling reference, a spawn point inside an obstacle (the test area's wall is
    // x 48..52, y 30..45), a spawner of an unknown enemy and a negative cooldown.
    edit(dir, "classes.ron", "\"heal\"]", "\"fireball\"]");
    edit(
        dir,
        "zones/test_area.ron",
        "spawn_points: [(20.0, 50.0)]",
        "spawn_points: [(50.0, 40.0)]",
    );
    edit(
        dir,
        "zones/test_area.ron",
        "enemy: \"golem\"",
        "enemy: \"dragon\"",
    );
    edit(dir, "skills.ron", "cooldown_s: 3.0", "cooldown_s: -3.0");
    let (ok, _, err) = arcane(&["validate", dir.to_str().unwrap()]);
    assert!(!ok);
    let d = dir.display();
    for expected in [
        format!("{d}/skills.ron:25:9: heal: cooldown_s must be positive, got -3"),
        format!("{d}/classes.ron:9:50: mage: unknown skill \"fireball\" (not in skills.ron)"),
        format!("{d}/zones/test_area.ron:8:20: spawn_points[0] (50, 40) is inside an obstacle"),
        format!(
            "{d}/zones/test_area.ron:17:17: spawners[1]: unknown enemy \"dragon\" (not in enemies.ron)"
        ),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("4 problem(s)"), "{err}");
}

/// Seven mistakes across seven files, three of which do not parse: every problem
/// (eight: one mistake breaks two rules) is reported in one run, with its field (a
/// designer used to see the parse errors first and the rest only once those were
/// fixed).
#[test]
fn every_problem_is_reported_at_once_even_while_files_do_not_parse() {
    let scratch = copy_of_shipped("all-at-once");
    let dir = scratch.path();
    // Three files that do not parse.
    edit(
        dir,
        "enemies.ron",
        "aggro_radius: 12.0",
        "aggro_radios: 12.0",
    );
    edit(dir, "classes.ron", "max_hp: 200", "max_hp: \"lots\"");
    edit(
        dir,
        "zones/meadow.ron",
        "max_players: 2500",
        "max_players: \"many\"",
    );
    // Four that do, each with a problem of its own.
    edit(dir, "skills.ron", "cooldown_s: 3.0", "cooldown_s: -3.0");
    edit(dir, "netcode.ron", "tick_rate_hz: 20", "tick_rate_hz: 0");
    edit(
        dir,
        "zones/test_area.ron",
        "spawn_points: [(20.0, 50.0)]",
        "spawn_points: [(50.0, 40.0)]",
    );
    edit(
        dir,
        "zones/forest.ron",
        "max_players: 2000",
        "max_players: 0",
    );
    let (ok, _, err) = arcane(&["validate", dir.to_str().unwrap()]);
    assert!(!ok);
    let d = dir.display();
    for expected in [
        format!("{d}/enemies.ron:7:9: unexpected field named `aggro_radios`"),
        format!("{d}/classes.ron:5:16: max_hp: expected integer"),
        format!("{d}/zones/meadow.ron:6:17: max_players: expected integer"),
        format!("{d}/skills.ron:25:9: heal: cooldown_s must be positive, got -3"),
        format!("{d}/netcode.ron:3:5: tick_rate_hz must be between 1 and 128, got 0"),
        format!("{d}/zones/test_area.ron:8:20: spawn_points[0] (50, 40) is inside an obstacle"),
        format!("{d}/zones/forest.ron:7:5: max_players must be at least 1"),
        format!("{d}/zones/forest.ron:8:5: overflow_at must be between 1 and max_players (0)"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("8 problem(s)"), "{err}");
}
