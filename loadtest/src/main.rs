//! `arcane-loadtest`: drives a bot swarm against one zone and reports.
//!
//! Exit codes, for CI: 0 when every threshold held, [`THRESHOLDS_BROKEN`] (99, as k6)
//! when the run completed but a threshold broke (too few bots connected included),
//! [`TOOL_FAILED`] (1) when the tool itself failed (bad arguments are clap's 2).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use arcane_loadtest::report::Thresholds;
use arcane_loadtest::{SwarmConfig, run_swarm};
use arcane_protocol::ClientTier;
use clap::Parser;

/// The run completed and a threshold broke.
const THRESHOLDS_BROKEN: u8 = 99;
/// The tool could not run (or write its report).
const TOOL_FAILED: u8 = 1;

#[derive(Parser)]
#[command(
    name = "arcane-loadtest",
    about = "Headless bot swarm for Arcane Realms zones",
    version,
    after_help = "Exit codes: 0 every threshold held; 99 a threshold broke (fewer bots \
                  connected than --min-connected included); 1 the tool failed; 2 bad arguments."
)]
struct Cli {
    /// Zone WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:7777")]
    target: String,
    #[arg(long, default_value_t = 100)]
    bots: usize,
    /// Measured duration after the ramp.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Time over which bots connect.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    ramp: Duration,
    /// The zone's metrics URL, e.g. http://127.0.0.1:9100/metrics.
    #[arg(long)]
    metrics: Option<String>,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// When a threshold breaks, save the report and the zone's journal (fetched from
    /// the `--metrics` listener's `/journal`) in a new folder under this one, ready
    /// to attach to a bug report and replay with `arcane replay --verify`.
    #[arg(long, requires = "metrics")]
    save_journal: Option<PathBuf>,
    /// Fail when input→observed p99 exceeds this many milliseconds.
    #[arg(long)]
    max_p99_ms: Option<f64>,
    /// Fail when errors exceed this.
    #[arg(long)]
    max_errors: Option<u64>,
    /// Fail when disconnects exceed this.
    #[arg(long)]
    max_disconnects: Option<u64>,
    /// Fail when fewer bots than this connected (default: every bot, `--bots`).
    #[arg(long)]
    min_connected: Option<usize>,
    /// Zone id the tickets are minted for.
    #[arg(long, default_value = "meadow")]
    zone: String,
    /// Secret to mint tickets with (must match the zone's).
    #[arg(
        long,
        env = "ARCANE_TICKET_SECRET",
        default_value = "arcane-dev-secret-change-me",
        hide_env_values = true
    )]
    ticket_secret: String,
    #[arg(long, default_value_t = 1_000_000)]
    first_player: u64,
    /// Declare the mobile tier instead of desktop.
    #[arg(long)]
    mobile: bool,
    #[arg(long, default_value_t = 20)]
    input_hz: u32,
    /// Send each input this many ms before the zone's next tick (0 = right after a
    /// snapshot arrives, the worst phase).
    #[arg(long, default_value_t = 20)]
    input_lead_ms: u64,
    /// Tune each bot's lead from the zone's input receipts so inputs arrive about this
    /// many ms before their tick, starting from `--input-lead-ms`; 0 keeps the lead
    /// fixed.
    #[arg(long, default_value_t = 5.0)]
    input_margin_ms: f64,
    /// What bots do besides walking: wanderer, caster, healer, or a mix.
    #[arg(long, value_enum, default_value = "wanderer")]
    behaviour: arcane_loadtest::behaviour::BehaviourMix,
    /// How often each social bot sends a chat message (0: social bots walk but say
    /// nothing and form no party, the baseline of a chat cost measurement).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    chat_every: Duration,
    /// Run each WebSocket bot in a task of its own (as before the poller thread that
    /// runs them all by default), to compare the two.
    #[arg(long)]
    ws_tasks: bool,
    /// Log bots in through this orchestrator (`http://host:port`) instead of minting
    /// tickets for `--target`.
    #[arg(long)]
    orchestrator: Option<String>,
    /// Transport for bots logging in through the orchestrator (with minted tickets,
    /// `--target`'s scheme decides: `ws://` or `quic://…?sha256=…`).
    #[arg(long, value_enum, default_value = "ws")]
    transport: arcane_loadtest::client::Transport,
    /// Drop this share (0..1) of QUIC datagrams each way through a lossy link on
    /// loopback; the report shows the loss the bots saw.
    #[arg(long)]
    loss: Option<f64>,
    /// Log bots in with HS256 identity tokens signed with this secret (the
    /// orchestrator's `--jwt-secret`), as a real identity provider would issue them.
    #[arg(long, env = "ARCANE_IDP_SECRET", hide_env_values = true)]
    idp_secret: Option<String>,
    /// With `--loss`: also hold back this share of datagrams (reordering).
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// The longest hold-back of a reordered datagram (each is 5 ms up to this); past
    /// the input interval (50 ms) inputs overtake each other.
    #[arg(long, default_value_t = 25)]
    reorder_max_delay_ms: u64,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let code = match run(Cli::parse()) {
        Ok(broken) if broken.is_empty() => 0,
        Ok(broken) => {
            for b in &broken {
                eprintln!("threshold broken: {b}");
            }
            THRESHOLDS_BROKEN
        }
        Err(e) => {
            eprintln!("arcane-loadtest failed: {e:#}");
            TOOL_FAILED
        }
    };
    std::process::ExitCode::from(code)
}

/// Runs the swarm and writes the report; the thresholds that broke.
fn run(cli: Cli) -> anyhow::Result<Vec<String>> {
    let thresholds = Thresholds {
        max_p99_ms: cli.max_p99_ms,
        max_errors: cli.max_errors,
        max_disconnects: cli.max_disconnects,
        min_connected: Some(cli.min_connected.unwrap_or(cli.bots)),
    };
    let (metrics, zone) = (cli.metrics.clone(), cli.zone.clone());
    let cfg = SwarmConfig {
        target: cli.target,
        bots: cli.bots,
        duration: cli.duration,
        ramp: cli.ramp,
        metrics: cli.metrics,
        zone: cli.zone,
        ticket_secret: cli.ticket_secret,
        first_player: cli.first_player,
        tier: if cli.mobile {
            ClientTier::Mobile
        } else {
            ClientTier::Desktop
        },
        input_hz: cli.input_hz,
        live: true,
        input_lead: Duration::from_millis(cli.input_lead_ms),
        input_margin: Duration::try_from_secs_f64(cli.input_margin_ms / 1e3)
            .ok()
            .filter(|d| !d.is_zero()),
        behaviour: cli.behaviour,
        orchestrator: cli.orchestrator,
        transport: cli.transport,
        idp_secret: cli.idp_secret,
        chat_every: cli.chat_every,
        ws_tasks: cli.ws_tasks,
        impairment: cli.loss.map(|drop| arcane_loadtest::lossy::Impairment {
            drop,
            reorder: cli.reorder,
            reorder_max_delay: Duration::from_millis(cli.reorder_max_delay_ms),
            seed: 1,
        }),
    };
    // One thread: the swarm is meant to show what one core can drive.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(tokio::task::LocalSet::new().run_until(run_swarm(cfg)))?;
    print!("{}", report.summary());
    if let Some(path) = cli.report {
        std::fs::write(&path, arcane_loadtest::report::to_json(&report)?)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    let broken = report.check(&thresholds);
    if let (false, Some(dir), Some(metrics)) = (broken.is_empty(), &cli.save_journal, &metrics) {
        let saved = rt.block_on(arcane_loadtest::evidence::save(
            dir, &zone, metrics, &report, &broken,
        ));
        match saved {
            Ok(e) => eprintln!(
                "saved the report and the zone's journal in {}; replay it with: arcane replay --verify {}",
                e.report.parent().unwrap_or(dir).display(),
                e.journal.display()
            ),
            Err(e) => eprintln!("could not save the zone's journal: {e:#}"),
        }
    }
    Ok(broken)
}
