//! `arcane replay`: rebuilds a zone from its journal, headless, and checks every
//! recorded state digest; on the first divergence it prints the tick, the parts and
//! the entities that differ (with their replayed rows); `--dump` writes the state at
//! a tick as JSON or RON.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use arcane_journal::{ReplayOptions, ReplayReport, StateDump, Tail};

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A journal run folder (`<journal dir>/<zone>/<run>/`), one of its segment
    /// files, or a zone's folder (its newest run is taken).
    pub journal: PathBuf,
    /// Stop once the state is at this tick (after this many steps).
    #[arg(long)]
    pub to: Option<u64>,
    /// Check every recorded state digest; exit 2 at the first that differs.
    #[arg(long)]
    pub verify: bool,
    /// Write the state at this tick (after this many steps).
    #[arg(long)]
    pub dump: Option<u64>,
    /// Format of `--dump`.
    #[arg(long, value_enum, default_value = "json")]
    pub format: DumpFormat,
    /// Where `--dump` goes (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also run per-client views and snapshot encoding, as the live zone did (a
    /// replay skips them by default: they change nothing the digests cover).
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DumpFormat {
    Json,
    Ron,
}

/// The run folder `path` names: itself when it holds segments (or is a segment),
/// else its newest sub-folder that does.
pub fn resolve_run(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_dir() || !arcane_journal::segment::segments(path)?.is_empty() {
        return Ok(path.to_path_buf());
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| arcane_journal::segment::segments(p).is_ok_and(|s| !s.is_empty()))
        .collect();
    runs.sort();
    runs.pop()
        .with_context(|| format!("{} holds no journal run", path.display()))
}

/// Runs the replay; returns the process exit code (0 ok, 2 diverged).
pub fn run(args: &ReplayArgs) -> anyhow::Result<i32> {
    let run = resolve_run(&args.journal)?;
    let options = ReplayOptions {
        to: args.to,
        verify: args.verify,
        dump: args.dump,
        full: args.full,
    };
    let t0 = Instant::now();
    let report = arcane_journal::replay(&run, &options)
        .with_context(|| format!("cannot replay {}", run.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    // The report goes to standard error when the dump takes standard output.
    let mut out: Box<dyn std::io::Write> = match (args.dump, &args.out) {
        (Some(_), None) => Box::new(std::io::stderr()),
        _ => Box::new(std::io::stdout()),
    };
    print_summary(&mut out, &run, &report, secs)?;
    if let Some(at) = args.dump {
        match &report.dump {
            Some(dump) => write_dump(dump, report.zone_id.as_str(), at, args)?,
            None => writeln!(out, "tick {at} was not reached; nothing dumped")?,
        }
    }
    let Some(d) = &report.divergence else {
        return Ok(0);
    };
    writeln!(
        out,
        "DIVERGED at tick {}: recorded {:016x}, replayed {:016x}",
        d.tick, d.recorded, d.replayed
    )?;
    // The replayed rows of the entities that differ, where the rows were compared.
    let rows = d.rows_tick.and_then(|t| {
        arcane_journal::replay(
            &run,
            &ReplayOptions {
                to: Some(t),
                verify: false,
                dump: Some(t),
                full: args.full,
            },
        )
        .ok()?
        .dump
    });
    match d.rows_tick {
        Some(t) if t == d.tick => writeln!(out, "  entities compared at tick {t}:")?,
        Some(t) => writeln!(
            out,
            "  no row hashes at tick {}; entities compared at tick {t}:",
            d.tick
        )?,
        None => writeln!(out, "  no digest with row hashes followed; parts only:")?,
    }
    for (part, ids) in &d.parts {
        writeln!(out, "  part {part}: {} differ", ids.len())?;
        let part_rows = rows
            .as_ref()
            .and_then(|r| r.iter().find(|(p, _)| p == part));
        for id in ids.iter().take(20) {
            let row = part_rows
                .and_then(|(_, r)| r.iter().find(|(i, _)| i == id))
                .map_or("(absent in the replay)", |(_, r)| r.as_str());
            writeln!(out, "    {id}: {row}")?;
        }
        if ids.len() > 20 {
            writeln!(out, "    … and {} more", ids.len() - 20)?;
        }
    }
    Ok(2)
}

fn print_summary(
    out: &mut dyn std::io::Write,
    run: &Path,
    r: &ReplayReport,
    secs: f64,
) -> std::io::Result<()> {
    writeln!(out, "journal {}", run.display())?;
    writeln!(
        out,
        "zone {} (seed {}): {} ticks replayed in {:.2} s ({:.0} ticks/s), state at tick {}",
        r.zone_id,
        r.seed,
        r.ticks_replayed,
        secs,
        r.ticks_replayed as f64 / secs.max(1e-9),
        r.tick
    )?;
    writeln!(
        out,
        "{} digests checked, {} content reloads, final state {:016x}",
        r.digests_checked, r.reloads, r.final_hash
    )?;
    if let (Some(generation), Some((first, _))) = (r.lease_generation, r.creature_ids) {
        writeln!(
            out,
            "zone lease generation {generation}, creature ids from {first}"
        )?;
    }
    match (&r.ended, &r.tail) {
        (Some(why), Tail::Clean) => writeln!(out, "the run ended: {why}")?,
        (None, Tail::Clean) => writeln!(out, "the run has no end record (the zone was killed)")?,
        (_, Tail::Torn { segment, offset }) => writeln!(
            out,
            "torn tail (a killed writer) in {} at byte {offset}; everything before it replayed",
            segment.display()
        )?,
    }
    if r.divergence.is_none() && r.digests_checked > 0 {
        writeln!(out, "ok: every digest matches")?;
    }
    Ok(())
}

fn write_dump(dump: &StateDump, zone: &str, tick: u64, args: &ReplayArgs) -> anyhow::Result<()> {
    let text = match args.format {
        DumpFormat::Ron => {
            let mut s = format!("// zone {zone}, state at tick {tick}\n(\n");
            for (part, rows) in dump {
                s.push_str(&format!("  {part}: {{\n"));
                for (id, row) in rows {
                    s.push_str(&format!("    {id}: {row},\n"));
                }
                s.push_str("  },\n");
            }
            s.push_str(")\n");
            s
        }
        DumpFormat::Json => {
            let mut parts = serde_json::Map::new();
            for (part, rows) in dump {
                let mut m = serde_json::Map::new();
                for (id, row) in rows {
                    let v = ron::from_str::<ron::Value>(row)
                        .ok()
                        .and_then(|v| serde_json::to_value(v).ok())
                        .unwrap_or_else(|| serde_json::Value::String(row.clone()));
                    m.insert(id.to_string(), v);
                }
                parts.insert(part.clone(), serde_json::Value::Object(m));
            }
            let doc = serde_json::json!({ "zone": zone, "tick": tick, "parts": parts });
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => match std::io::stdout().write_all(text.as_bytes()) {
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r?,
        },
    }
    Ok(())
}
