//! `arcane moderate`: what a game master does through the orchestrator's internal
//! API: mute, unmute and kick a player (each written to the moderation audit), read
//! the audit, and see where players are.

use anyhow::Context as _;
use arcane_control_api::{AuditEntry, ModerationAction, ModerationRequest, PresenceEntry, paths};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};

#[derive(Debug, clap::Args)]
pub struct ModerateArgs {
    /// The orchestrator's internal API.
    #[arg(
        long,
        env = "ARCANE_ORCHESTRATOR_INTERNAL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub orchestrator: String,
    /// Who acts (recorded in the audit).
    #[arg(long, env = "USER", default_value = "gm")]
    pub actor: String,
    /// The control secret moderation calls are signed with.
    #[arg(long, env = "ARCANE_CONTROL_SECRET", default_value = DEV_CONTROL_SECRET, hide_env_values = true)]
    pub control_secret: String,
    #[command(subcommand)]
    pub action: Moderation,
}

#[derive(Debug, clap::Subcommand)]
pub enum Moderation {
    /// No chat for a while.
    Mute {
        player: String,
        #[arg(long, default_value_t = 10)]
        minutes: u32,
        #[arg(long)]
        reason: String,
    },
    /// Lift a mute.
    Unmute {
        player: String,
        #[arg(long)]
        reason: String,
    },
    /// Disconnect a player (they may log in again).
    Kick {
        player: String,
        #[arg(long)]
        reason: String,
    },
    /// The newest rows of the moderation audit.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Where players are online (empty: offline).
    Presence { names: Vec<String> },
}

pub async fn run(a: ModerateArgs) -> anyhow::Result<()> {
    let base = a.orchestrator.trim_end_matches('/');
    let http = reqwest::Client::new();
    let (player, action, reason) = match a.action {
        Moderation::Mute {
            player,
            minutes,
            reason,
        } => (
            player,
            ModerationAction::Mute {
                minutes: minutes.max(1),
            },
            reason,
        ),
        Moderation::Unmute { player, reason } => {
            (player, ModerationAction::Mute { minutes: 0 }, reason)
        }
        Moderation::Kick { player, reason } => (player, ModerationAction::Kick, reason),
        Moderation::Audit { limit } => {
            let url = format!("{base}{}?limit={limit}", paths::AUDIT);
            let rows: Vec<AuditEntry> = get(&http, &url).await?;
            for r in rows {
                println!(
                    "{} {:<8} player {:<8} by {:<16} {} {}",
                    r.at_ms, r.action, r.player_id, r.actor, r.reason, r.detail
                );
            }
            return Ok(());
        }
        Moderation::Presence { names } => {
            let url = format!("{base}{}?names={}", paths::PRESENCE, names.join(","));
            let rows: Vec<PresenceEntry> = get(&http, &url).await?;
            for r in rows {
                let at = if r.zone.is_empty() {
                    "offline"
                } else {
                    &r.zone
                };
                println!("{:<24} {at}", r.name);
            }
            return Ok(());
        }
    };
    let body = serde_json::to_vec(&ModerationRequest {
        actor: a.actor,
        player: player.clone(),
        action,
        reason,
    })?;
    let key = ControlKey::new(&a.control_secret);
    let mut req = http
        .post(format!("{base}{}", paths::MODERATION))
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (k, v) in key.headers("POST", paths::MODERATION, &body, arcane_service::unix_ms()) {
        req = req.header(k, v);
    }
    let r = req
        .body(body)
        .send()
        .await
        .context("cannot reach the orchestrator")?;
    if !r.status().is_success() {
        anyhow::bail!(
            "refused ({}): {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    println!("done: {player}");
    Ok(())
}

/// A GET of the internal API's JSON.
async fn get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let r = http
        .get(url)
        .send()
        .await
        .context("cannot reach the orchestrator")?;
    Ok(r.error_for_status()?.json().await?)
}
