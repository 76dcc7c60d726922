//! `arcane demo`: the whole stack on loopback with embedded defaults. An orchestrator
//! (SQLite in a fresh temporary folder, in-memory registry) runs the zones as child
//! processes through its local supervisor (`arcane zone …`); bots log in through it,
//! and travellers walk across the meadow–forest border and back, so every run shows
//! zone transfers end to end.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arcane_control_api::{ZoneInfo, ZoneStatus};
use arcane_engine::content::ContentSources;
use arcane_loadtest::behaviour::BehaviourMix;
use arcane_loadtest::client::Transport;
use arcane_loadtest::report::Thresholds;
use arcane_loadtest::scrape::{histogram_quantile_ms, http_get, labelled, sum_of};
use arcane_loadtest::{SwarmConfig, run_swarm_blocking};
use arcane_orchestrator::supervisor::{LocalConfig, LocalSupervisor, Supervisor, ZoneSpec};
use arcane_orchestrator::{ApiConfig, MemoryRegistry, Orchestrator};
use arcane_protocol::ClientTier;
use arcane_service::RetryPolicy;
use arcane_store::Store;
use arcane_zone_server::config::DEV_TICKET_SECRET;

/// `arcane demo`'s options.
#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 50)]
    pub bots: usize,
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Content folder; defaults to the repository's `content/`.
    #[arg(long)]
    pub content: Option<PathBuf>,
    /// Zones to run (comma separated); bots start in the first.
    #[arg(long, value_delimiter = ',', default_value = "meadow,forest")]
    pub zones: Vec<String>,
    /// Where bots start (metres), near the meadow's border with the forest.
    #[arg(long, default_value = "960,520")]
    pub start: String,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// How bots connect to the zones.
    #[arg(long, value_enum, default_value = "ws")]
    pub transport: Transport,
    /// Where the zones journal what enters their simulation (`arcane replay` reads
    /// it); default: `arcane-journal` in the system's temporary folder. The last 8
    /// runs of each zone are kept.
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Run the zones without a journal.
    #[arg(long)]
    pub no_journal: bool,
    /// What the bots do (`mix`: fighters, healers, tamers, travellers and social bots
    /// that chat and form parties).
    #[arg(long, value_enum, default_value = "mix")]
    pub behaviour: BehaviourMix,
    /// How often each social bot says something.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub chat_every: Duration,
    /// Where the orchestrator's public API and the web client listen (port 0: any
    /// free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// The name that opens the zone viewer (`/viewer/`) with the admin role.
    #[arg(long, default_value = "designer")]
    pub admin: String,
}

/// `content/` of the checkout this was built from, else `./content`, else the
/// embedded copy written to a temporary folder, which goes when the guard is dropped.
fn default_content() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../content");
    for dir in [repo, PathBuf::from("content")] {
        if dir.join("netcode.ron").exists() {
            return Ok((dir, None));
        }
    }
    // The shipped content is compiled in, so the demo runs from anywhere.
    let scratch = tempfile::Builder::new()
        .prefix("arcane-demo-content-")
        .tempdir()
        .context("cannot create a folder for the embedded content")?;
    ContentSources::shipped().write_to(scratch.path())?;
    Ok((scratch.path().to_path_buf(), Some(scratch)))
}

/// Longest wait for the zone processes to start and register.
const ZONES_UP_WITHIN: Duration = Duration::from_secs(60);

async fn zones(base: &str) -> anyhow::Result<Vec<ZoneStatus>> {
    let text = http_get(&format!("{base}{}", arcane_control_api::paths::ZONES)).await?;
    Ok(serde_json::from_str(&text)?)
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    // A copy of the embedded content, when there is one, lives until the demo ends.
    let (content, _embedded) = match a.content.clone() {
        Some(c) => (c, None),
        None => default_content()?,
    };
    anyhow::ensure!(!a.zones.is_empty(), "--zones needs at least one zone");
    let (sx, sy) = a.start.split_once(',').context("--start is x,y")?;
    let start_position = (sx.trim().parse::<f64>()?, sy.trim().parse::<f64>()?);
    // The demo's database, removed however the demo ends (the guard drops last).
    let scratch = tempfile::Builder::new()
        .prefix("arcane-demo-")
        .tempdir()
        .context("cannot create a scratch folder for the demo's database")?;
    let database_url = format!("sqlite://{}", scratch.path().join("arcane.db").display());
    let journal_dir = (!a.no_journal).then(|| {
        a.journal_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("arcane-journal"))
    });
    // The orchestrator runs on a multi-threaded runtime of its own; the bots run on
    // one thread, as they would in `arcane-loadtest`; the zones are processes.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (base, internal, supervisor) = server_rt.block_on(async {
        let store = Store::connect(&database_url).await?;
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        let internal_listener = tokio::net::TcpListener::bind(loopback).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let internal = format!("http://{}", internal_listener.local_addr()?);
        let mut env = vec![
            ("DATABASE_URL".to_string(), database_url.clone()),
            (
                "ARCANE_TICKET_SECRET".to_string(),
                DEV_TICKET_SECRET.to_string(),
            ),
            ("ARCANE_IO_THREADS".to_string(), "1".to_string()),
        ];
        if let Some(dir) = &journal_dir {
            env.push(("ARCANE_JOURNAL_DIR".into(), dir.display().to_string()));
        }
        env.push((
            "RUST_LOG".into(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ));
        let supervisor = Arc::new(LocalSupervisor::new(LocalConfig {
            program: std::env::current_exe()?,
            args: vec!["zone".into()],
            orchestrator_url: internal.clone(),
            content: content.clone(),
            env,
            restart: RetryPolicy::new(Duration::from_millis(250), Duration::from_secs(5)),
            // Each demo has its own scratch database: a killed demo's zones (which
            // stop with it anyway, on their parent-death signal) are no one's concern.
            run_dir: None,
        }));
        let config = ApiConfig {
            ticket_secret: DEV_TICKET_SECRET.into(),
            ticket_ttl: Duration::from_secs(60),
            heartbeat_timeout: Duration::from_secs(3),
            placement_ttl: Duration::from_secs(30),
            start_zone: a.zones[0].clone(),
            start_position,
            start_vitals: (200, 100),
            registry_warmup: Duration::ZERO,
            cors_origins: Vec::new(),
            admins: vec![a.admin.clone()],
        };
        let o = Arc::new(
            Orchestrator::new(store, MemoryRegistry::default(), config)
                .with_supervisor(supervisor.clone()),
        );
        tokio::spawn(arcane_orchestrator::transfers::roll_forward(o.clone()));
        tokio::spawn(arcane_orchestrator::api::serve(
            listener,
            internal_listener,
            o,
        ));
        for z in &a.zones {
            supervisor.start(ZoneSpec {
                zone_id: z.clone(),
                template: z.clone(),
                close_after_empty: None,
                keep_running: true,
            })?;
        }
        let started = Instant::now();
        loop {
            let up = zones(&internal).await.unwrap_or_default();
            if a.zones
                .iter()
                .all(|z| up.iter().any(|s| &s.info.zone_id == z && s.up))
            {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < ZONES_UP_WITHIN,
                "the zones did not come up within {ZONES_UP_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok((base, internal, supervisor))
    })?;
    let up = server_rt.block_on(zones(&internal))?;
    let first = up
        .iter()
        .find(|z| z.info.zone_id == a.zones[0])
        .context("first zone vanished")?;
    // The endpoints the bots use: WebSocket or QUIC.
    let endpoint = |z: &ZoneInfo| match a.transport {
        Transport::Ws => z.endpoint.clone(),
        Transport::Quic => z.quic_endpoint.clone(),
    };
    println!(
        "arcane demo: orchestrator {base} (internal {internal}, metrics {internal}/metrics), zones {} as processes, {} bots for {}",
        up.iter()
            .map(|z| format!("{} {}", z.info.zone_id, endpoint(&z.info)))
            .collect::<Vec<_>>()
            .join(", "),
        a.bots,
        humantime::format_duration(a.duration)
    );
    println!(
        "arcane demo: play in a browser at {base}/play/ (the demo runs for {}; --duration 30m plays longer); zone viewer at {base}/viewer/ (as {})",
        humantime::format_duration(a.duration),
        a.admin
    );
    let swarm = SwarmConfig {
        chat_every: a.chat_every,
        ws_tasks: false,
        target: endpoint(&first.info),
        bots: a.bots,
        duration: a.duration,
        ramp: Duration::from_secs(2).min(a.duration / 4),
        metrics: Some(format!("{}/metrics", first.info.admin_endpoint)),
        zone: first.info.zone_id.clone(),
        ticket_secret: DEV_TICKET_SECRET.to_string(),
        first_player: 1,
        tier: ClientTier::Desktop,
        input_hz: 20,
        live: true,
        input_lead: Duration::from_millis(20),
        input_margin: Some(Duration::from_millis(5)),
        behaviour: a.behaviour,
        orchestrator: Some(base.clone()),
        transport: a.transport,
        impairment: None,
        idp_secret: None,
    };
    let report = run_swarm_blocking(swarm);
    // Per-zone figures before the zones stop.
    let per_zone = server_rt.block_on(async {
        let mut lines = Vec::new();
        for z in zones(&internal).await.unwrap_or_default() {
            let text = http_get(&format!("{}/metrics", z.info.admin_endpoint))
                .await
                .unwrap_or_default();
            let q = |q| histogram_quantile_ms(&text, "arcane_transfer_duration_seconds", q);
            lines.push(format!(
                "  {:<10} players {:>4}  transfers out {:>4} (freeze→commit p50 ≤{:.0}ms p99 ≤{:.0}ms)  checkpointed states {:>5}",
                z.info.zone_id,
                sum_of(&text, "arcane_players"),
                sum_of(&text, "arcane_transfers_total"),
                q(0.5),
                q(0.99),
                sum_of(&text, "arcane_checkpointed_players_total"),
            ));
            lines.push(format!(
                "  {:<10} casts {}  kills {}  player deaths {}  captures {}  breeds {}  hatches {}  wild births {}  wild deaths {}  wild population {}",
                "",
                sum_of(&text, "arcane_casts_total"),
                sum_of(&text, "arcane_kills_total"),
                sum_of(&text, "arcane_player_deaths_total"),
                sum_of(&text, "arcane_captures_total"),
                sum_of(&text, "arcane_breeds_total"),
                sum_of(&text, "arcane_hatches_total"),
                sum_of(&text, "arcane_creature_births_total"),
                sum_of(&text, "arcane_creature_deaths_total"),
                sum_of(&text, "arcane_creature_population"),
            ));
            let chat = |c| labelled(&text, "arcane_chat_messages_total", "channel", c) + 0.0;
            lines.push(format!(
                "  {:<10} chat: say {}  zone {}  party {}  whisper {}  refused {}  filtered {}",
                "",
                chat("say"),
                chat("zone"),
                chat("party"),
                chat("whisper"),
                sum_of(&text, "arcane_chat_refused_total") + 0.0,
                sum_of(&text, "arcane_chat_filtered_total") + 0.0,
            ));
        }
        let orch = http_get(&format!("{internal}/metrics"))
            .await
            .unwrap_or_default();
        lines.push(format!(
            "  orchestrator: logins {}  transfers committed {}  aborted {}",
            sum_of(&orch, "arcane_orchestrator_logins_total"),
            labelled(&orch, "arcane_orchestrator_transfers_total", "result", "committed"),
            labelled(&orch, "arcane_orchestrator_transfers_total", "result", "aborted"),
        ));
        let routed =
            |c| labelled(&orch, "arcane_orchestrator_chat_routed_total", "channel", c) + 0.0;
        lines.push(format!(
            "  orchestrator: whispers {}  party lines {}  refused {}  parties {}  presence updates {}",
            routed("whisper"),
            routed("party"),
            sum_of(&orch, "arcane_orchestrator_chat_refused_total") + 0.0,
            sum_of(&orch, "arcane_orchestrator_parties_created_total"),
            sum_of(&orch, "arcane_orchestrator_presence_updates_total"),
        ));
        lines
    });
    server_rt.block_on(supervisor.shutdown());
    let report = report?;
    print!("{}", report.summary());
    for l in per_zone {
        println!("{l}");
    }
    if let Some(path) = &a.report {
        std::fs::write(path, arcane_loadtest::report::to_json(&report)?)?;
    }
    if let Some(dir) = &journal_dir {
        println!(
            "  journals: {} (replay a zone's latest run: arcane replay --verify {})",
            dir.display(),
            dir.join(&a.zones[0]).display()
        );
    }
    let mut broken = report.check(&Thresholds {
        max_errors: Some(0),
        min_connected: Some(a.bots),
        ..Default::default()
    });
    if a.zones.len() > 1 && a.bots >= 8 && report.transfers.completed == 0 {
        broken.push("no bot crossed a zone border".into());
    }
    let social = (0..a.bots)
        .filter(|&i| a.behaviour.for_bot(i) == arcane_loadtest::behaviour::Behaviour::Social)
        .count();
    if social >= 2 && !a.chat_every.is_zero() && a.duration >= 3 * a.chat_every {
        let c = &report.social;
        if c.delivered.values().sum::<u64>() == 0 {
            broken.push("no chat message reached a bot".into());
        }
        if c.accepted == 0 {
            broken.push("no bot joined a party".into());
        }
    }
    if broken.is_empty() {
        println!(
            "demo ok: {} bots connected, {} zone transfers, {} chat copies delivered, {} joined parties, 0 errors",
            report.connected,
            report.transfers.completed,
            report.social.delivered.values().sum::<u64>(),
            report.social.accepted
        );
        Ok(())
    } else {
        anyhow::bail!("demo failed: {}", broken.join("; "))
    }
}
