//! The social routes: a zone's social link (`/v1/social`, in `social/link.rs`),
//! moderation (mute, kick) with its audit, and presence by name.

use std::collections::HashMap;
use std::sync::Arc;

use arcane_control_api::{
    AuditEntry, ModerationAction, ModerationRequest, PresenceEntry, SocialDown,
};
use arcane_service::control_auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::problem::ApiJson;
use super::{Problem, internal};
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

/// Largest frame a zone may send on its social link (a `Hello` lists every player
/// online there).
const MAX_LINK_FRAME: usize = 4 << 20;

/// `GET /v1/social`: checks the signature, then upgrades.
pub(crate) async fn upgrade<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = o.control_key.verify(
        "GET",
        arcane_control_api::paths::SOCIAL,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        b"",
        o.now_ms(),
    );
    if let Err(e) = checked {
        o.metrics.control_refused.inc();
        tracing::warn!("social link refused: {e}");
        return Problem::Unauthorized.answer(e.to_string());
    }
    ws.max_message_size(MAX_LINK_FRAME)
        .on_upgrade(move |socket| crate::social::link::serve(o, socket))
}

/// Most names one presence query takes, and most audit rows one answer holds.
const MAX_NAMES: usize = 200;
const MAX_AUDIT: u32 = 1000;

/// `POST /v1/moderation`: mute or kick a player; written to the audit first.
pub(super) async fn moderate<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    ApiJson(req): ApiJson<ModerationRequest>,
) -> Response {
    if req.actor.trim().is_empty() || req.reason.trim().is_empty() {
        return Problem::BadRequest.answer("actor and reason are required");
    }
    let player = match o.player_id(&req.player).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Problem::NotFound.answer(format!("no player is called {:?}", req.player));
        }
        Err(e) => return internal(e),
    };
    let now = o.now_ms();
    let (action, detail, down) = match req.action {
        ModerationAction::Mute { minutes } => {
            let until = if minutes == 0 {
                0
            } else {
                now + u64::from(minutes) * 60_000
            };
            if let Err(e) = o.store.set_chat_mute(player, until as i64).await {
                return internal(e);
            }
            if let Err(e) = o.update_presence(player, |p| p.muted_until = until).await {
                return internal(e);
            }
            let down = SocialDown::Muted {
                player,
                until_ms: until,
                reason: req.reason.clone(),
            };
            let (action, detail) = if minutes == 0 {
                ("unmute", String::new())
            } else {
                ("mute", format!("{minutes} min"))
            };
            (action, detail, down)
        }
        ModerationAction::Kick => (
            "kick",
            String::new(),
            SocialDown::Kick {
                player,
                reason: req.reason.clone(),
            },
        ),
    };
    let entry = AuditEntry {
        at_ms: now as i64,
        actor: req.actor.clone(),
        action: action.to_string(),
        player_id: player,
        reason: req.reason.clone(),
        detail,
    };
    if let Err(e) = o.store.audit(&entry).await {
        return internal(e);
    }
    o.metrics.moderation(action);
    tracing::info!(actor = %req.actor, player = %req.player, action, reason = %req.reason, "moderation");
    match o.registry.presence_get(&[player]).await {
        Ok(p) => {
            if let Some(Some(p)) = p.first() {
                o.send_zone(&p.zone, down).await;
            }
        }
        Err(e) => return internal(e),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /v1/moderation/audit?limit=n`: the newest rows first.
pub(super) async fn audit<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_AUDIT).contains(&n) => n,
        Some(_) => return Problem::BadRequest.answer(format!("limit must be 1..={MAX_AUDIT}")),
    };
    match o.store.audit_log(limit).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /v1/presence?names=a,b`: where each named player is (`zone` empty: offline or
/// unknown).
pub(super) async fn presence<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(names) = q.get("names") else {
        return Problem::BadRequest.answer("names is required (comma-separated)");
    };
    let names: Vec<&str> = names.split(',').filter(|n| !n.is_empty()).collect();
    if names.is_empty() || names.len() > MAX_NAMES {
        return Problem::BadRequest.answer(format!("names takes 1 to {MAX_NAMES} names"));
    }
    let mut ids = Vec::with_capacity(names.len());
    for n in &names {
        match o.player_id(n).await {
            Ok(id) => ids.push(id.unwrap_or(0)),
            Err(e) => return internal(e),
        }
    }
    let presence = match o.registry.presence_get(&ids).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let out: Vec<PresenceEntry> = names
        .iter()
        .zip(presence)
        .map(|(n, p)| PresenceEntry {
            name: n.to_string(),
            zone: p.map(|p| p.zone).unwrap_or_default(),
        })
        .collect();
    Json(out).into_response()
}
