//! The JavaScript SDK and the web client: the SDK's unit and conformance tests under
//! node's test runner, its type check (`tsc --checkJs`), and the end-to-end run in
//! headless Chromium against a real `arcane demo` (the web client logs in, walks,
//! casts, sees a bot and crosses into the forest; the zone viewer shows the meadow to
//! an admin). Node, the npm packages (`npm ci` in `shared-protocol/js`) and Debian's
//! Chromium are installed by `.ci/run`; without them these tests say they skipped,
//! unless `ARCANE_REQUIRE_SERVICES` is set, when they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared-protocol/js")
}

/// Whether `what` is here; when not, the test skips, or fails under
/// `ARCANE_REQUIRE_SERVICES`.
fn available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var_os("ARCANE_REQUIRE_SERVICES").is_none(),
            "{what} is missing but ARCANE_REQUIRE_SERVICES is set: .ci/run installs it"
        );
        eprintln!("skipped: {what} is missing (.ci/run installs it)");
    }
    present
}

fn node_here() -> bool {
    available(
        "node",
        Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
    )
}

fn packages_here() -> bool {
    available(
        "the SDK's npm packages (npm ci in shared-protocol/js)",
        sdk().join("node_modules/playwright-core").exists()
            && sdk().join("node_modules/typescript").exists(),
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.current_dir(sdk()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn the_sdk_passes_its_unit_and_conformance_tests_under_node() {
    if !node_here() {
        return;
    }
    let out = run(Command::new("node").args(["--test", "test/"]));
    assert!(out.contains("# fail 0"), "{out}");
}

#[test]
fn the_sdk_and_the_web_client_type_check() {
    if !node_here() || !packages_here() {
        return;
    }
    run(Command::new("node").args(["node_modules/typescript/bin/tsc", "-p", "jsconfig.json"]));
    // index.d.ts, as a TypeScript user compiles against it (strict).
    run(Command::new("node").args(["node_modules/typescript/bin/tsc", "-p", "types-test"]));
}

/// A running `arcane demo`, killed (with its zones, on their parent-death signal) when
/// dropped; everything it writes is under its own temporary folder.
struct Demo {
    child: std::process::Child,
    base: String,
    _tmp: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo() -> Demo {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arcane"))
        .args(["demo", "--bots", "12", "--duration", "240s", "--no-journal"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split_once("play in a browser at ").map(|(_, r)| r) {
                let url = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(url);
            }
        }
    });
    let play = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the demo printed no web client URL");
    let base = play.trim_end_matches("/play/").to_string();
    Demo {
        child,
        base,
        _tmp: tmp,
    }
}

#[test]
fn the_web_client_and_the_viewer_work_in_headless_chromium() {
    if !node_here()
        || !packages_here()
        || !available(
            "Chromium (/usr/bin/chromium)",
            Path::new("/usr/bin/chromium").exists(),
        )
    {
        return;
    }
    let demo = start_demo();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let started = Instant::now();
    let play = run(Command::new("node").args([
        "e2e/play.mjs",
        &format!("{}/play/", demo.base),
        &shots.join("play.png").display().to_string(),
    ]));
    assert!(play.contains("crossed into the forest"), "{play}");
    let viewer = run(Command::new("node").args([
        "e2e/viewer.mjs",
        &demo.base,
        "designer",
        &shots.join("viewer.png").display().to_string(),
    ]));
    assert!(viewer.contains("focuses a player"), "{viewer}");
    assert!(shots.join("play.png").exists() && shots.join("viewer.png").exists());
    eprintln!(
        "browser runs took {:?}:\n{play}\n{viewer}",
        started.elapsed()
    );
}
