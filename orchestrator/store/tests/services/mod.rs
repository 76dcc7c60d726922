//! Where the real Redis and PostgreSQL for tests are, if any.
//!
//! `ARCANE_TEST_REDIS_URL` and `ARCANE_TEST_DATABASE_URL` name them. Without them the
//! tests that need them print that they were skipped, unless `ARCANE_REQUIRE_SERVICES`
//! is set (as `.ci/run` does), which turns a missing service into a failure.

#![allow(dead_code, clippy::unwrap_used)]

pub fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("ARCANE_REQUIRE_SERVICES").is_none(),
                "{var} is not set but ARCANE_REQUIRE_SERVICES is: this test path must run"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// A key prefix / database name no other test run uses.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}-{}-{nanos}", std::process::id())
}

/// Every store to test against: a fresh SQLite file (in the returned folder, removed
/// when it is dropped: keep it while the stores are used) and, when there is one,
/// the real PostgreSQL.
pub async fn stores(prefix: &str) -> (Vec<(&'static str, arcane_store::Store)>, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("arcane.db").display());
    let connect = |url: String| async move { arcane_store::Store::connect(&url).await.unwrap() };
    let mut out = vec![("sqlite", connect(sqlite).await)];
    if let Some(url) = url("ARCANE_TEST_DATABASE_URL") {
        out.push(("postgres", connect(url).await));
    }
    (out, dir)
}
