//! Fault injection for the fault tests (`tools/tests/transfers.rs`). When
//! `ARCANE_FAILPOINT_FILE` names a file holding `<name> <pause_ms>`, the first
//! process to reach the failpoint `<name>` renames the file to `<file>.fired` (atomic,
//! so exactly one process fires), writes its pid into it, logs it and pauses for
//! `pause_ms`, during which the test (or `arcane chaos`) kills whichever process it
//! means to. Without the variable, failpoints cost one
//! environment lookup.

use std::time::Duration;

/// The environment variable naming the failpoint file.
pub const FAILPOINT_ENV: &str = "ARCANE_FAILPOINT_FILE";

/// Pauses here if the armed failpoint is `name`.
pub async fn failpoint(name: &str) {
    let Some(path) = std::env::var_os(FAILPOINT_ENV) else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    let Ok(text) = tokio::fs::read_to_string(&path).await else {
        return;
    };
    let mut words = text.split_whitespace();
    if words.next() != Some(name) {
        return;
    }
    let pause_ms: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let mut fired = path.clone().into_os_string();
    fired.push(".fired");
    if tokio::fs::rename(&path, &fired).await.is_err() {
        // Another process (or task) fired it first.
        return;
    }
    // Who fired it: the fault runner decides from this which process is the source
    // and which the target of the transfer in flight.
    let _ = tokio::fs::write(&fired, std::process::id().to_string()).await;
    tracing::warn!(failpoint = name, pause_ms, "failpoint reached; pausing");
    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
}
