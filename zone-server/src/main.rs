//! `zone-server`: runs one zone until SIGTERM or Ctrl-C.

use clap::Parser;

#[derive(Parser)]
#[command(name = "zone-server", about = "Arcane Realms zone server", version)]
struct Cli {
    #[command(flatten)]
    config: arcane_zone_server::ZoneServerConfig,
    /// Threads serving connections (default: one less than the cores, at least one).
    #[arg(long, env = "ARCANE_IO_THREADS")]
    io_threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    arcane_orchestrator::cli::init_logging("info");
    let cli = Cli::parse();
    arcane_zone_server::run_process(cli.config, cli.io_threads)
}
