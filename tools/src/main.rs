//! `arcane`: the project's command-line tool — run the demo, validate content, send
//! admin commands, mint dev tickets, and run a zone or the orchestrator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use arcane_engine::content::ContentSources;
use arcane_loadtest::client::Client;
use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::{AdminCommand, ClientMessage, ClientTier, EventKind, NetId, ServerMessage};
use arcane_zone_server::ZoneServerConfig;

mod demo;
mod moderate;
mod play;
mod play_social;
mod replay;
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
    /// Start an orchestrator (SQLite, in-memory registry) that runs two neighbouring
    /// zones (meadow and forest) as child processes, and a bot swarm that logs in
    /// through it; travellers walk across the border. Prints a live summary each
    /// second and a final report.
    Demo(demo::DemoArgs),
    /// The fault suite: two zones under an orchestrator, seeded players crossing their
    /// border, and faults in turn (SIGKILL at each transfer step, SIGSTOP, SIGTERM);
    /// then an audit of the database. Exits 1 on any finding.
    Chaos(arcane_tools::chaos::ChaosArgs),
    /// Run a zone server (the same as the `zone-server` binary).
    Zone {
        #[command(flatten)]
        config: ZoneServerConfig,
        #[command(flatten)]
        io: arcane_zone_server::IoOptions,
    },
    /// Run the orchestrator (the same as the `orchestrator` binary).
    Orchestrator {
        #[command(flatten)]
        args: arcane_orchestrator::cli::OrchestratorArgs,
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
    /// Join a zone as a player and play by hand: read commands from standard input
    /// (`near`, `capture nearest`, `breed #0 #1`, `roster`, `wait MS`, `quit`; chat:
    /// `say`, `shout`, `p`, `w NAME`; `friend`, `block`, `mute`, `party …`, `status`;
    /// with `--admin` also `spawn`, `goto`, `hp`, `cells`) and print the answers.
    Play(play::PlayArgs),
    /// Mute, unmute or kick a player through the orchestrator (written to the
    /// moderation audit), read the audit, or see where players are online.
    Moderate(moderate::ModerateArgs),
    /// Rebuild a zone from its journal (`--journal-dir`), headless: check every
    /// recorded state digest (`--verify`), stop at a tick (`--to`), write the state
    /// at a tick (`--dump`). Exits 2 at the first divergence, printing the tick and
    /// the entities and parts that differ.
    Replay(replay::ReplayArgs),
    /// Probe an HTTP health endpoint (container health checks, which have no curl):
    /// exits 0 on a 2xx answer within two seconds, 1 otherwise.
    Probe { url: String },
    /// Write the Kubernetes ConfigMaps generated from files of this repository
    /// (`ops/k8s/generated/`: content, Grafana dashboard) so they never go stale.
    OpsConfigmaps {
        /// Repository root (default: the checkout this was built from).
        #[arg(long)]
        root: Option<PathBuf>,
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
    /// Spawn a wild creature; `--gene temperament=docile --gene size=1.2` sets genes.
    SpawnCreature {
        species: String,
        x: f32,
        y: f32,
        #[arg(long = "gene", value_parser = gene_pair)]
        genes: Vec<(String, String)>,
    },
    /// Make the breeding cell around a point hold `count` of a species.
    SetCell {
        species: String,
        x: f32,
        y: f32,
        count: u32,
    },
    /// Show a wild creature's genome (by entity id) or one of the admin's (`--owned`).
    ShowCreature {
        id: u64,
        #[arg(long)]
        owned: bool,
    },
    /// Show the breeding cells' occupancy within `radius` metres of a point.
    Cells { x: f32, y: f32, radius: u32 },
}

/// `gene=value` of `--gene`.
fn gene_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(g, v)| (g.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected gene=value, got {s:?}"))
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
            AdminCli::SpawnCreature {
                species,
                x,
                y,
                genes,
            } => AdminCommand::SpawnCreature {
                species: species.clone(),
                x_cm: cm(*x),
                y_cm: cm(*y),
                genes: genes.clone(),
            },
            AdminCli::SetCell {
                species,
                x,
                y,
                count,
            } => AdminCommand::SetCellPopulation {
                species: species.clone(),
                x_cm: cm(*x),
                y_cm: cm(*y),
                count: *count,
            },
            AdminCli::ShowCreature { id, owned } => AdminCommand::ShowCreature {
                target: NetId(if *owned { 0 } else { *id as u32 }),
                creature: if *owned { *id } else { 0 },
            },
            AdminCli::Cells { x, y, radius } => AdminCommand::ShowCells {
                x_cm: cm(*x),
                y_cm: cm(*y),
                radius_m: *radius,
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
    let now = arcane_service::unix_ms() / 1000;
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
    let cli = Cli::parse();
    // Services log at info like their own binaries; the tools stay quiet.
    let default_filter = match cli.command {
        Command::Zone { .. } | Command::Orchestrator { .. } => "info",
        _ => "warn",
    };
    arcane_service::init_logging(default_filter);
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Chaos(args) => {
            if !arcane_tools::chaos::run(args)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Zone { config, io } => {
            // The code tells a supervisor whether to start the zone again.
            let result = arcane_zone_server::run_process(config, io);
            match arcane_zone_server::exit_code(&result) {
                0 => Ok(()),
                code => std::process::exit(code.into()),
            }
        }
        Command::Orchestrator { args } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(arcane_orchestrator::cli::run(args)),
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
        Command::Replay(args) => {
            let code = replay::run(&args)?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Moderate(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(moderate::run(args)),
        Command::Play(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(play::run(args)),
        Command::Probe { url } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ok = rt.block_on(async {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()?;
                anyhow::Ok(http.get(&url).send().await?.status().is_success())
            });
            match ok {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => std::process::exit(1),
            }
        }
        Command::OpsConfigmaps { root } => {
            let root = root.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
            for (name, text) in arcane_tools::ops::generated_configmaps(&root)? {
                let path = root.join("ops/k8s/generated").join(name);
                std::fs::create_dir_all(path.parent().unwrap_or(&root))?;
                std::fs::write(&path, text)?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Command::Ticket {
            player,
            zone,
            admin,
            ttl,
            secret,
        } => {
            let now = arcane_service::unix_ms() / 1000;
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
