//! One zone's social link: a WebSocket on the internal listener whose upgrade request
//! is signed with the control secret. The first frame names the zone and who is
//! online there; then each frame is one `SocialUp`, carried out in order, and a writer
//! task sends what the zone is owed. When the link ends, its players are offline
//! (unless a newer link of the zone took over).

use std::sync::Arc;
use std::time::Duration;

use arcane_control_api::{SocialDown, SocialUp};
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::chat::Outgoing;
use super::presence::{OFFLINE_GRACE, SocialError};
use crate::links::LINK_QUEUE;
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

/// How long a new link has to say who it is.
const HELLO_WITHIN: Duration = Duration::from_secs(10);

/// Serves one zone's link until it ends.
pub(crate) async fn serve<R: ZoneRegistry>(o: Arc<Orchestrator<R>>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let first = tokio::time::timeout(HELLO_WITHIN, stream.next()).await;
    let hello = match first {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<SocialUp>(&t).ok(),
        _ => None,
    };
    let Some(SocialUp::Hello {
        zone_id,
        lease_generation,
        online,
    }) = hello
    else {
        tracing::warn!("a social link did not start with a Hello; closed");
        return;
    };
    // Only the registered process of a zone speaks for it.
    let zones = o.zones_now().await.unwrap_or_default();
    let superseded = zones
        .iter()
        .any(|z| z.info.zone_id == zone_id && z.info.lease_generation != lease_generation);
    if superseded {
        tracing::warn!(zone = %zone_id, lease_generation, "social link of a replaced zone process refused");
        o.metrics.control_refused.inc();
        return;
    }
    let (tx, mut rx) = mpsc::channel::<SocialDown>(LINK_QUEUE);
    let link = o.social.attach(&zone_id, tx);
    o.metrics.social_links.inc();
    tracing::info!(zone = %zone_id, players = online.len(), "social link up");
    let writer = tokio::spawn(async move {
        while let Some(down) = rx.recv().await {
            let Ok(json) = serde_json::to_string(&down) else {
                continue;
            };
            // Flushed when nothing else waits: one write for a burst.
            if sink.feed(Message::Text(json.into())).await.is_err() {
                break;
            }
            if rx.is_empty() && sink.flush().await.is_err() {
                break;
            }
        }
    });
    if let Err(e) = relink(&o, &zone_id, &online).await {
        tracing::warn!(zone = %zone_id, "social link: presence not restored: {e}");
    }
    // The reader only reads: chat has a lane of its own, so a whisper never waits
    // behind the store work of logins and transfers, which have the other lane. Each
    // lane keeps its order (one speaker's lines, one player's comings and goings).
    let (chat_tx, chat_lane) = lane(&o, &zone_id);
    let (control_tx, control_lane) = lane(&o, &zone_id);
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let up = match serde_json::from_str::<SocialUp>(&text) {
            Ok(up) => up,
            Err(e) => {
                o.metrics.social_malformed.inc();
                tracing::warn!(zone = %zone_id, "social link: a frame that does not parse: {e}");
                continue;
            }
        };
        match up {
            SocialUp::Chat { .. } => {
                if chat_tx.try_send(up).is_err() {
                    o.metrics.social_dropped.inc();
                }
            }
            SocialUp::Bounced {
                players,
                event,
                attempt,
            } => {
                let o = o.clone();
                tokio::spawn(async move { o.redeliver(&players, event, attempt).await });
            }
            // A transfer's new zone reports the arrival within the grace.
            SocialUp::Offline { player } => {
                let (o, zone) = (o.clone(), zone_id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(OFFLINE_GRACE).await;
                    if let Err(e) = o.went_offline(&zone, player).await {
                        tracing::warn!(%zone, "social link: {e}");
                    }
                });
            }
            up => {
                if control_tx.send(up).await.is_err() {
                    break;
                }
            }
        }
    }
    writer.abort();
    chat_lane.abort();
    control_lane.abort();
    o.metrics.social_links.dec();
    if o.social.detach(&zone_id, link) {
        // A zone that only lost its link for a moment links again and says who is
        // there; one that stays away is gone, and its players with it.
        tokio::spawn(async move {
            tokio::time::sleep(OFFLINE_GRACE * 3).await;
            if o.social.linked().contains(&zone_id) {
                return;
            }
            tracing::info!(zone = %zone_id, "social link down; its players are offline");
            if let Err(e) = o.zone_gone(&zone_id).await {
                tracing::warn!(zone = %zone_id, "presence not cleared: {e}");
            }
        });
    }
}

/// Messages waiting in one of a link's lanes.
const LANE: usize = 4096;

/// A task carrying out one lane of a link's messages in order.
fn lane<R: ZoneRegistry>(
    o: &Arc<Orchestrator<R>>,
    zone: &str,
) -> (mpsc::Sender<SocialUp>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<SocialUp>(LANE);
    let (o, zone) = (o.clone(), zone.to_string());
    let task = tokio::spawn(async move {
        while let Some(up) = rx.recv().await {
            if let Err(e) = handle(&o, &zone, up).await {
                tracing::warn!(%zone, "social link: {e}");
            }
        }
    });
    (tx, task)
}

/// A (re)linked zone's players are the ones online there now.
async fn relink<R: ZoneRegistry>(
    o: &Orchestrator<R>,
    zone: &str,
    online: &[arcane_control_api::OnlinePlayer],
) -> Result<(), SocialError> {
    let before = o.registry.presence_in_zone(zone).await?;
    for gone in before
        .iter()
        .filter(|id| !online.iter().any(|p| p.player == **id))
    {
        o.went_offline(zone, *gone).await?;
    }
    for p in online {
        o.came_online(zone, p.player, &p.name, p.epoch).await?;
    }
    Ok(())
}

async fn handle<R: ZoneRegistry>(
    o: &Orchestrator<R>,
    zone: &str,
    up: SocialUp,
) -> Result<(), SocialError> {
    match up {
        SocialUp::Hello { online, .. } => relink(o, zone, &online).await,
        SocialUp::Bounced {
            players,
            event,
            attempt,
        } => {
            o.redeliver(&players, event, attempt).await;
            Ok(())
        }
        SocialUp::Online(p) => o.came_online(zone, p.player, &p.name, p.epoch).await,
        SocialUp::Offline { player } => o.went_offline(zone, player).await,
        SocialUp::Chat {
            from,
            from_name,
            channel,
            text,
            sent_ms,
        } => {
            let m = Outgoing {
                zone,
                from,
                from_name: &from_name,
                channel: &channel,
                text: &text,
                sent_ms,
            };
            o.route_chat(m).await
        }
        SocialUp::Request {
            player,
            name,
            request,
        } => o.social_request(zone, player, &name, &request).await,
        SocialUp::Vitals { players } => o.vitals(zone, &players).await,
        SocialUp::Audit {
            player,
            action,
            detail,
        } => {
            o.metrics.moderation(&action);
            let entry = arcane_control_api::AuditEntry {
                at_ms: o.now_ms() as i64,
                actor: format!("zone:{zone}"),
                action,
                player_id: player,
                reason: "word filter".into(),
                detail,
            };
            o.store.audit(&entry).await.map_err(SocialError::from)
        }
    }
}
