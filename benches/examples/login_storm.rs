//! Logins per second through the orchestrator: an in-process orchestrator (SQLite in a
//! temporary file and the in-memory registry by default; `DATABASE_URL` and
//! `REDIS_URL` select PostgreSQL and Redis) with two registered copies of a zone, and
//! `CONCURRENCY` clients logging in `LOGINS` distinct players over HTTP — first logins
//! (which create the player) and then the same players again (sticky placement).
//!
//! `cargo run --release -p arcane-benches --example login_storm [LOGINS] [CONCURRENCY]`

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark driver fails loudly

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arcane_control_api::ZoneInfo;
use arcane_orchestrator::api;
use arcane_orchestrator::{ApiConfig, MemoryRegistry, Orchestrator, RedisRegistry, ZoneRegistry};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};
use arcane_store::Store;
use hdrhistogram::Histogram;

/// The public and the internal API's base URLs.
async fn serve<R: ZoneRegistry>(o: Orchestrator<R>) -> (String, String) {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let (bound, _) = api::spawn(loopback, loopback, Arc::new(o)).await.unwrap();
    (
        format!("http://{}", bound.public),
        format!("http://{}", bound.internal),
    )
}

async fn storm(base: &str, names: Arc<Vec<String>>, concurrency: usize) -> (f64, Histogram<u64>) {
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, next, names, base) =
            (http.clone(), next.clone(), names.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).unwrap();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/v1/login"))
                    .json(&serde_json::json!({ "name": name }))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
            h
        }));
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        all.add(t.await.unwrap()).unwrap();
    }
    (names.len() as f64 / start.elapsed().as_secs_f64(), all)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let logins: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    // The SQLite file lives in a folder removed when the storm ends.
    let scratch = tempfile::Builder::new()
        .prefix("arcane-login-storm-")
        .tempdir()
        .expect("cannot create a temporary folder");
    let db = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", scratch.path().join("logins.db").display()));
    let store = Store::connect(&db).await.unwrap();
    let config = ApiConfig {
        ticket_secret: "bench".into(),
        ticket_ttl: Duration::from_secs(60),
        heartbeat_timeout: Duration::from_secs(60),
        placement_ttl: Duration::from_secs(30),
        start_zone: "meadow".into(),
        start_position: (125.0, 125.0),
        start_vitals: (200, 100),
        registry_warmup: Duration::ZERO,
        cors_origins: Vec::new(),
        admins: Vec::new(),
    };
    let tag = format!("{}", std::process::id());
    let ((base, internal), shared) = match std::env::var("REDIS_URL") {
        Ok(url) => {
            let s = RedisRegistry::connect(&url, &format!("bench-{tag}"))
                .await
                .unwrap();
            (serve(Orchestrator::new(store, s, config)).await, "redis")
        }
        Err(_) => (
            serve(Orchestrator::new(store, MemoryRegistry::default(), config)).await,
            "memory",
        ),
    };
    let http = reqwest::Client::new();
    for id in ["meadow", "meadow~2"] {
        let info = ZoneInfo {
            zone_id: id.into(),
            endpoint: format!("ws://127.0.0.1:1/{id}"),
            capacity: 1_000_000,
            template: "meadow".into(),
            ..ZoneInfo::default()
        };
        let body = serde_json::to_vec(&info).unwrap();
        let key = ControlKey::new(DEV_CONTROL_SECRET);
        let mut request = http
            .post(format!("{internal}/v1/zones/register"))
            .header("content-type", "application/json");
        for (name, value) in key.headers(
            "POST",
            "/v1/zones/register",
            &body,
            arcane_service::unix_ms(),
        ) {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap();
    }
    let names: Arc<Vec<String>> = Arc::new((0..logins).map(|i| format!("p{tag}x{i}")).collect());
    let db_kind = db.split(':').next().unwrap_or("?");
    for (what, pass) in [
        ("first login (creates the player)", 0),
        ("returning login", 1),
    ] {
        let _ = pass;
        let (rate, h) = storm(&base, names.clone(), concurrency).await;
        println!(
            "{what:<34} {db_kind}+{shared}: {logins} logins, {concurrency} concurrent: {rate:>7.0} logins/s, latency p50 {:.2} ms p99 {:.2} ms",
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
        );
    }
}
