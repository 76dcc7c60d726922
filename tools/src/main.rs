//! `arcane`: the project's command-line tool — run the demo, mint dev tickets.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use arcane_engine::content::ContentSources;
use arcane_loadtest::client::Client;
use arcane_loadtest::report::Thresholds;
use arcane_loadtest::{SwarmConfig, run_swarm};
use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::{AdminCommand, ClientMessage, ClientTier, EventKind, NetId, ServerMessage};
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "arcane", about = "Arcane Realms engine tools", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a zone and a bot swarm on loopback with embedded defaults, print a live
    /// summary each second and a final report.
    Demo {
        #[arg(long, default_value_t = 50)]
        bots: usize,
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Content folder; defaults to the repository's `content/`.
        #[arg(long)]
        content: Option<PathBuf>,
        #[arg(long, default_value = "meadow")]
        zone: String,
        /// Write the JSON report here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Check a content folder: every file, every zone, every reference. Prints each
    /// problem as `file:line:col: message` and exits non-zero if there is any.
    Validate {
        /// Content folder (default: `content`).
        #[arg(default_value = "content")]
        dir: PathBuf,
    },
    /// Send an admin command to a running zone (test area / game master), using an
    /// admin ticket, and print the zone's answer.
    Admin {
        /// Zone WebSocket endpoint.
        #[arg(long, default_value = "ws://127.0.0.1:7777")]
        target: String,
        /// Zone id (the ticket names it).
        #[arg(long, default_value = "test_area")]
        zone: String,
        /// Player id of the admin character.
        #[arg(long, default_value_t = 1)]
        player: u64,
        #[arg(long, env = "ARCANE_TICKET_SECRET", default_value = DEV_TICKET_SECRET, hide_env_values = true)]
        secret: String,
        #[command(subcommand)]
        command: AdminCli,
    },
    /// Mint a signed join ticket (development).
    Ticket {
        #[arg(long)]
        player: u64,
        #[arg(long, default_value = "meadow")]
        zone: String,
        #[arg(long)]
        admin: bool,
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        #[arg(long, env = "ARCANE_TICKET_SECRET", default_value = DEV_TICKET_SECRET, hide_env_values = true)]
        secret: String,
    },
}

/// `content/` of the checkout this was built from, else `./content`, else the
/// embedded copy written to a temporary folder.
fn default_content() -> anyhow::Result<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../content");
    for dir in [repo, PathBuf::from("content")] {
        if dir.join("netcode.ron").exists() {
            return Ok(dir);
        }
    }
    // The shipped content is compiled in, so the demo runs from anywhere.
    let dir = std::env::temp_dir().join(format!("arcane-demo-content-{}", std::process::id()));
    ContentSources::shipped().write_to(&dir)?;
    Ok(dir)
}

/// Admin commands; positions in metres, targets by entity id (0 = the admin itself).
#[derive(Subcommand)]
enum AdminCli {
    /// Spawn an enemy type from enemies.ron at a point.
    Spawn { enemy: String, x: f32, y: f32 },
    /// Remove spawned enemies, refill spawners, restore every player.
    Reset,
    /// Set an entity's HP (0 kills it).
    SetHp { target: u32, hp: u32 },
    /// Move an entity to a walkable point.
    Teleport { target: u32, x: f32, y: f32 },
    /// Turn lasting invulnerability on or off.
    Invulnerable {
        target: u32,
        #[arg(action = clap::ArgAction::Set)]
        on: bool,
    },
}

impl AdminCli {
    fn to_command(&self) -> AdminCommand {
        let cm = |m: f32| (m * 100.0).round() as i32;
        match self {
            AdminCli::Spawn { enemy, x, y } => AdminCommand::SpawnEnemy {
                enemy: enemy.clone(),
                x_cm: cm(*x),
                y_cm: cm(*y),
            },
            AdminCli::Reset => AdminCommand::ResetArea,
            AdminCli::SetHp { target, hp } => AdminCommand::SetHp {
                target: NetId(*target),
                hp: *hp,
            },
            AdminCli::Teleport { target, x, y } => AdminCommand::Teleport {
                target: NetId(*target),
                x_cm: cm(*x),
                y_cm: cm(*y),
            },
            AdminCli::Invulnerable { target, on } => AdminCommand::SetInvulnerable {
                target: NetId(*target),
                on: *on,
            },
        }
    }
}

/// `arcane validate`: prints every problem and how many; false when there is any.
fn validate(dir: &std::path::Path) -> bool {
    let result = ContentSources::read_dir(dir).and_then(|s| s.validate());
    match result {
        Ok(zones) => {
            println!(
                "{}: ok ({} zones: {})",
                dir.display(),
                zones.len(),
                zones.join(", ")
            );
            true
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s) in {}", errors.0.len(), dir.display());
            false
        }
    }
}

/// `arcane admin`: connects with an admin ticket, sends one command, prints the answer.
fn admin(
    target: &str,
    zone: &str,
    player: u64,
    secret: &str,
    command: AdminCommand,
) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let ticket = TicketKey::new(secret).mint(&TicketClaims {
        player_id: player,
        zone_id: zone.to_string(),
        role: Role::Admin,
        expires_unix: now + 60,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut client = Client::join(target, &ticket, ClientTier::Desktop).await?;
        let wait = Duration::from_secs(5);
        let welcome = tokio::time::timeout(
            wait,
            client.recv_until(|m| match m {
                ServerMessage::Welcome(w) => Some(w),
                _ => None,
            }),
        )
        .await
        .context("no welcome from the zone")??;
        client
            .send(&[ClientMessage::Admin { seq: 1, command }])
            .await?;
        let (ok, detail) = tokio::time::timeout(
            wait,
            client.recv_until(|m| match m {
                ServerMessage::Events(events) => events.into_iter().find_map(|e| match e.kind {
                    EventKind::AdminResult { seq: 1, ok, detail } => Some((ok, detail)),
                    _ => None,
                }),
                _ => None,
            }),
        )
        .await
        .context("no answer from the zone")??;
        client.close().await;
        if ok {
            println!(
                "{}: {detail} (you are id {})",
                welcome.zone_id, welcome.player.0
            );
            Ok(())
        } else {
            anyhow::bail!("refused: {detail}")
        }
    })
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Demo {
            bots,
            duration,
            content,
            zone,
            report,
        } => demo(
            bots,
            duration,
            match content {
                Some(c) => c,
                None => default_content()?,
            },
            zone,
            report,
        ),
        Command::Validate { dir } => {
            if !validate(&dir) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Admin {
            target,
            zone,
            player,
            secret,
            command,
        } => admin(&target, &zone, player, &secret, command.to_command()),
        Command::Ticket {
            player,
            zone,
            admin,
            ttl,
            secret,
        } => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            let claims = TicketClaims {
                player_id: player,
                zone_id: zone,
                role: if admin { Role::Admin } else { Role::Player },
                expires_unix: now + ttl.as_secs(),
            };
            println!("{}", TicketKey::new(secret).mint(&claims));
            Ok(())
        }
    }
}

fn demo(
    bots: usize,
    duration: Duration,
    content: PathBuf,
    zone: String,
    report_path: Option<PathBuf>,
) -> anyhow::Result<()> {
    // The zone gets a multi-threaded runtime of its own; the bots run on one thread,
    // as they would in `arcane-loadtest`.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let config = ZoneServerConfig::local(content, &zone);
    let running = server_rt
        .block_on(arcane_zone_server::start(config))
        .context("cannot start the zone")?;
    println!(
        "arcane demo: zone {zone:?} on ws://{} (metrics http://{}/metrics), {bots} bots for {}",
        running.ws_addr,
        running.admin_addr,
        humantime::format_duration(duration)
    );
    let swarm = SwarmConfig {
        target: format!("ws://{}", running.ws_addr),
        bots,
        duration,
        ramp: Duration::from_secs(2).min(duration / 4),
        metrics: Some(format!("http://{}/metrics", running.admin_addr)),
        zone,
        ticket_secret: DEV_TICKET_SECRET.to_string(),
        first_player: 1,
        tier: ClientTier::Desktop,
        input_hz: 20,
        live: true,
        input_lead: Duration::from_millis(20),
        behaviour: arcane_loadtest::behaviour::BehaviourMix::Mix,
        orchestrator: None,
    };
    let bots_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = bots_rt.block_on(tokio::task::LocalSet::new().run_until(run_swarm(swarm)));
    running.shutdown();
    server_rt.block_on(running.wait());
    let report = report?;
    print!("{}", report.summary());
    println!("  (the demo runs zone and bots in one process: server cpu includes the bots)");
    if let Some(path) = report_path {
        std::fs::write(&path, arcane_loadtest::report::to_json(&report)?)?;
    }
    let broken = report.check(&Thresholds {
        max_errors: Some(0),
        min_connected: Some(bots),
        ..Default::default()
    });
    if broken.is_empty() {
        println!("demo ok: {} bots connected, 0 errors", report.connected);
        Ok(())
    } else {
        anyhow::bail!("demo failed: {}", broken.join("; "))
    }
}
