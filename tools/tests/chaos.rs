//! The short fault suite, as CI runs it: `arcane chaos all` with a fixed seed, every
//! kind of fault at least once, and an audit that must find nothing (no item lost or
//! duplicated, one owner each, nothing pending, everyone can play again, no zone in
//! two processes, no panic). The full run (≥ 5,000 transfers, release binaries) is in
//! `docs/reliability.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::process::Command;

#[test]
fn a_short_fault_run_loses_and_duplicates_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_arcane"))
        .args(["chaos", "all", "--seed", "7", "--players", "8"])
        .args(["--transfers", "150", "--min-faults", "7", "--calm", "2s"])
        .args(["--max-duration", "6m"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 pending; 0 problems"), "{stdout}");
    // Seed 7 starts the cycle at the orchestrator's kill at `zone.load`; seven faults
    // reach every kind.
    for what in [
        "SIGKILL orchestrator",
        "SIGSTOP",
        "with players online",
        "with nobody online",
        "Source zone",
        "Target zone",
    ] {
        assert!(stdout.contains(what), "no {what:?} fault:\n{stdout}");
    }
}
