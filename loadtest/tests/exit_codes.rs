//! The exit codes CI reads from `arcane-loadtest` (the real binary): a run where no bot
//! could connect breaks the `--min-connected` threshold (99, as k6 does), and a tool
//! failure (the report cannot be written) is 1, apart from a broken threshold.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::process::Command;

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn loadtest(extra: &[&str]) -> (Option<i32>, String) {
    let target = format!("ws://127.0.0.1:{}", closed_port());
    let out = Command::new(env!("CARGO_BIN_EXE_arcane-loadtest"))
        .args([
            "--target",
            &target,
            "--bots",
            "3",
            "--duration",
            "1s",
            "--ramp",
            "100ms",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_bot_connected_is_a_broken_threshold_and_a_tool_failure_is_not() {
    let (code, stderr) = loadtest(&[]);
    assert_eq!(code, Some(99), "{stderr}");
    assert!(stderr.contains("connected 0 < 3"), "{stderr}");
    // Asked for none: the same run passes.
    let (code, stderr) = loadtest(&["--min-connected", "0", "--max-errors", "1000000"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = loadtest(&[
        "--min-connected",
        "0",
        "--max-errors",
        "1000000",
        "--report",
        "/nonexistent-dir/report.json",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot write the report"), "{stderr}");
}
