//! `arcane chaos`: the fault suite, run against this executable's own binaries. An
//! orchestrator runs two neighbouring zones; seeded players walk back and forth across
//! the border, so transfers never stop, while faults strike in turn: SIGKILL of the
//! source zone, the target zone or the orchestrator at each named step of a transfer,
//! SIGSTOP of a zone past the heartbeat timeout, SIGTERM of a zone with players online
//! and of an empty one, and SIGKILL of a zone at a random moment (its successor
//! recovers its players from its journal). Travellers capture creatures on the way;
//! every capture a zone acknowledged must survive. A sampler checks throughout that no
//! zone runs in two processes. Then the database is audited (see `audit.rs`). Exits
//! non-zero on any finding.

mod audit;
mod traveller;
pub mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use audit::{Seeded, creatures_of, identity, items_of};
use traveller::Crew;
pub use world::{World, ZoneProcesses, zone_processes};

/// The named steps of a transfer, where a process can be stopped (failpoints).
pub const STEPS: [&str; 6] = [
    "zone.freeze",
    "zone.handoff",
    "orch.commit",
    "orch.committed",
    "zone.redirect",
    "zone.load",
];

/// Which faults a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Every fault below, in turn.
    All,
    /// SIGKILL of the source or the target zone at each transfer step.
    ZoneKill,
    /// SIGKILL of the orchestrator at each transfer step.
    OrchestratorKill,
    /// SIGSTOP of a zone past the heartbeat timeout, then SIGCONT.
    Stall,
    /// SIGTERM of a zone with players online, and of one with nobody online.
    Drain,
    /// SIGKILL of a zone at a random moment, not at a transfer step: its successor
    /// recovers what it acknowledged from its journal.
    Crash,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    #[arg(value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Run until this many transfers have been committed (or `--max-duration`).
    #[arg(long, default_value_t = 5_000)]
    pub transfers: u64,
    /// Inject at least this many faults, however soon the transfers are done (a
    /// scenario's whole cycle: `all` has 21).
    #[arg(long, default_value_t = 0)]
    pub min_faults: usize,
    /// Players walking across the border.
    #[arg(long, default_value_t = 24)]
    pub players: u64,
    /// Seed of the fault schedule (default: the clock; printed, so a run replays).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Calm between two faults.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub calm: Duration,
    /// Give up (and fail) after this long.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub max_duration: Duration,
    /// Keep the run's folder (database, logs) here instead of a scratch folder.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillAt(&'static str, Victim),
    Stall,
    DrainOnline,
    DrainEmpty,
    Crash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Source,
    Target,
    Orchestrator,
}

/// The faults of a scenario, one cycle (a run goes round it until done).
fn cycle(s: Scenario) -> Vec<Fault> {
    let kills = |victims: &[Victim]| -> Vec<Fault> {
        STEPS
            .iter()
            .flat_map(|step| victims.iter().map(move |v| Fault::KillAt(step, *v)))
            .collect()
    };
    match s {
        Scenario::ZoneKill => kills(&[Victim::Source, Victim::Target]),
        Scenario::OrchestratorKill => kills(&[Victim::Orchestrator]),
        Scenario::Stall => vec![Fault::Stall],
        Scenario::Drain => vec![Fault::DrainOnline, Fault::DrainEmpty],
        Scenario::Crash => vec![Fault::Crash],
        Scenario::All => {
            let mut all = kills(&[Victim::Source, Victim::Target, Victim::Orchestrator]);
            all.extend([
                Fault::Stall,
                Fault::DrainOnline,
                Fault::DrainEmpty,
                Fault::Crash,
            ]);
            all
        }
    }
}

/// A seeded stream of choices (an LCG: enough to pick victims and orders).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// Runs the suite; true when the audit found nothing.
pub fn run(args: ChaosArgs) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(arcane_service::unix_ms);
    println!(
        "arcane chaos {:?}: seed {seed} (pass --seed {seed} to replay)",
        args.scenario
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_async(args, seed))
}

async fn run_async(args: ChaosArgs, seed: u64) -> anyhow::Result<bool> {
    let started = Instant::now();
    let world = Arc::new(World::start(args.keep.clone()).await?);
    println!("world in {}", world.dir.display());
    let store = world.store().await?;
    let (committed_before, _, _) = store.handoff_counts().await?;

    // Seeded players: created by a first login, then given their items.
    let mut players = Vec::new();
    for i in 0..args.players {
        let name = format!("chaos{i}");
        let l = world.login(&name).await.context("first login")?;
        let owner = store.owner(l.player_id).await?.context("no owner")?;
        let state = arcane_store::SavedPlayer {
            x: 90.0,
            y: 5.0 + (i % 18) as f32 * 5.0,
            hp: 150,
            mana: 50,
            inventory: items_of(i),
            creatures: creatures_of(i),
        };
        anyhow::ensure!(
            store
                .write_player_state(l.player_id, &owner, &state)
                .await?,
            "cannot seed {name}"
        );
        players.push(Seeded {
            name,
            id: l.player_id,
            index: i,
        });
    }

    // The sampler: no zone id ever has two processes.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (dir, sampling) = (world.dir.clone(), sampling.clone());
        std::thread::spawn(move || {
            let mut seen: Option<ZoneProcesses> = None;
            while sampling.load(Ordering::Relaxed) {
                let now = zone_processes(&dir);
                if seen.is_none() && now.values().any(|p| p.len() > 1) {
                    seen = Some(now);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        })
    };

    let crew = Arc::new(Crew::default());
    let walkers: Vec<_> = players
        .iter()
        .map(|p| {
            tokio::spawn(traveller::travel(
                world.clone(),
                p.name.clone(),
                crew.clone(),
            ))
        })
        .collect();

    let faults = cycle(args.scenario);
    let mut dice = Dice(seed);
    let mut injected: Vec<String> = Vec::new();
    let mut next = dice.below(faults.len() as u64) as usize;
    let mut timed_out = false;
    loop {
        tokio::time::sleep(args.calm).await;
        let (committed, _, _) = store.handoff_counts().await?;
        let done = committed - committed_before;
        if done >= args.transfers && injected.len() >= args.min_faults {
            break;
        }
        if started.elapsed() > args.max_duration {
            timed_out = true;
            break;
        }
        let fault = faults[next % faults.len()];
        next += 1;
        let what = inject(&world, &crew, fault, &mut dice).await?;
        println!(
            "[{:>5.0}s] {done:>6} transfers committed; {what}",
            started.elapsed().as_secs_f64()
        );
        injected.push(what);
        world.wait_up(Duration::from_secs(90)).await?;
    }

    crew.stop.store(true, Ordering::Relaxed);
    for w in walkers {
        let _ = w.await;
    }
    // Leaving players are saved by their zones (write-behind): give them a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let captured = crew
        .captured
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let findings = audit::audit(&world, &players, &captured).await?;
    sampling.store(false, Ordering::Relaxed);
    let doubled = sampler.join().ok().flatten();
    let (committed, aborted, _) = store.handoff_counts().await?;
    let stopped = world.stop().await;

    let mut problems = findings.problems;
    if let Some(seen) = doubled {
        problems.push(format!("a zone ran in two processes at once: {seen:?}"));
    }
    if let Err(e) = stopped {
        problems.push(format!("{e:#}"));
    }
    if timed_out {
        problems.push(format!(
            "only {} transfers within {:?}",
            committed - committed_before,
            args.max_duration
        ));
    }
    let items: u64 = args.players * 2;
    println!(
        "\narcane chaos {:?} (seed {seed}): {} transfers committed, {aborted} aborted, \
         {} redirects, {} re-logins, {} faults in {:.0} s",
        args.scenario,
        committed - committed_before,
        crew.redirects.load(Ordering::Relaxed),
        crew.relogins.load(Ordering::Relaxed),
        injected.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "audit: {} players, {items} unique items and their gold; {} of {} acknowledged \
         captures held; {} logged in again; {} pending; {} problems",
        players.len(),
        findings.captures_held,
        captured.len(),
        findings.logged_in_again,
        findings.pending_left,
        problems.len()
    );
    for p in &problems {
        println!("  PROBLEM: {p}");
    }
    Ok(problems.is_empty())
}

/// Injects one fault; what was done, in words.
async fn inject(
    world: &World,
    crew: &Crew,
    fault: Fault,
    dice: &mut Dice,
) -> anyhow::Result<String> {
    use nix::sys::signal::Signal;
    let zone = world::ZONES[dice.below(2) as usize];
    let pid_of = |z: &str| world.zone_process(z).map(|p| p.pid);
    match fault {
        Fault::KillAt(step, victim) => {
            world.arm(step, 1500)?;
            let deadline = Instant::now() + Duration::from_secs(15);
            let fired = loop {
                if let Some(pid) = world.fired_by() {
                    break Some(pid);
                }
                if Instant::now() > deadline {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            let Some(fired) = fired else {
                world.disarm();
                return Ok(format!("{step} not reached in 15 s; no kill"));
            };
            let (west, east) = (pid_of("west"), pid_of("east"));
            let other = |pid: u32| if Some(pid) == west { east } else { west };
            // Who is the source: the firing zone for the source's steps, the other
            // zone for the target's (`zone.load`); unknown for the orchestrator's.
            let source = match step {
                "zone.load" => other(fired),
                s if s.starts_with("zone.") => Some(fired),
                _ => pid_of(zone),
            };
            let victim_pid = match victim {
                Victim::Orchestrator => {
                    world.kill_and_restart_orchestrator()?;
                    return Ok(format!("SIGKILL orchestrator at {step}"));
                }
                Victim::Source => source,
                Victim::Target => source.and_then(other),
            };
            match victim_pid {
                Some(pid) => {
                    signal(pid, Signal::SIGKILL);
                    Ok(format!("SIGKILL {victim:?} zone (pid {pid}) at {step}"))
                }
                None => Ok(format!("{step}: no {victim:?} zone process to kill")),
            }
        }
        Fault::Crash => {
            // Some moment within the next two seconds, wherever the zone is.
            tokio::time::sleep(Duration::from_millis(dice.below(2000))).await;
            let Some(pid) = pid_of(zone) else {
                return Ok(format!("{zone} not running; no crash"));
            };
            signal(pid, Signal::SIGKILL);
            Ok(format!("SIGKILL {zone} (pid {pid}) at a random moment"))
        }
        Fault::Stall => {
            let Some(pid) = pid_of(zone) else {
                return Ok(format!("{zone} not running; no stall"));
            };
            signal(pid, Signal::SIGSTOP);
            tokio::time::sleep(Duration::from_secs(8)).await;
            signal(pid, Signal::SIGCONT);
            Ok(format!("SIGSTOP {zone} for 8 s (heartbeat timeout 2.5 s)"))
        }
        Fault::DrainOnline => {
            let Some(pid) = pid_of(zone) else {
                return Ok(format!("{zone} not running; no drain"));
            };
            signal(pid, Signal::SIGTERM);
            Ok(format!("SIGTERM {zone} with players online"))
        }
        Fault::DrainEmpty => {
            crew.hold.store(true, Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_secs(20);
            while crew.connected.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let outcome = match pid_of(zone) {
                Some(pid) => {
                    signal(pid, Signal::SIGTERM);
                    // Its supervisor starts it again: logins work once it is back.
                    world.wait_up(Duration::from_secs(60)).await?;
                    let probe = format!("chaos-probe-{}", dice.below(1 << 30));
                    let start = Instant::now();
                    let mut ok = false;
                    while start.elapsed() < Duration::from_secs(30) && !ok {
                        ok = world.login(&probe).await.is_ok();
                        if !ok {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    anyhow::ensure!(ok, "no login within 30 s after an empty {zone} drained");
                    format!("SIGTERM {zone} with nobody online; logins work after")
                }
                None => format!("{zone} not running; no drain"),
            };
            crew.hold.store(false, Ordering::Relaxed);
            Ok(outcome)
        }
    }
}
