//! `zone-server`: runs one zone until SIGTERM or Ctrl-C.

use clap::Parser;

#[derive(Parser)]
#[command(name = "zone-server", about = "Arcane Realms zone server", version)]
struct Cli {
    #[command(flatten)]
    config: arcane_zone_server::ZoneServerConfig,
    #[command(flatten)]
    io: arcane_zone_server::IoOptions,
}

fn main() -> anyhow::Result<()> {
    arcane_service::init_logging("info");
    let cli = Cli::parse();
    arcane_zone_server::run_process(cli.config, cli.io)
}
