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

fn main() -> std::process::ExitCode {
    arcane_service::init_logging("info");
    let cli = Cli::parse();
    let result = arcane_zone_server::run_process(cli.config, cli.io);
    std::process::ExitCode::from(arcane_zone_server::exit_code(&result))
}
