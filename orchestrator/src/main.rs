//! `orchestrator`: the control-plane service (login, placement, tickets, zone registry,
//! transfers, instances; in local mode it also runs the zone processes).

use clap::Parser;

#[derive(Parser)]
#[command(name = "orchestrator", about = "Arcane Realms orchestrator", version)]
struct Cli {
    #[command(flatten)]
    args: arcane_orchestrator::cli::OrchestratorArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    arcane_service::init_logging("info");
    arcane_orchestrator::cli::run(Cli::parse().args).await
}
