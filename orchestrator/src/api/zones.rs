//! The zone registry's routes: register, heartbeat, deregister, list.

use std::sync::Arc;

use arcane_control_api::{Deregister, Heartbeat, ZoneInfo};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{error, internal};
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

pub(super) async fn register<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Json(info): Json<ZoneInfo>,
) -> Response {
    if info.zone_id.is_empty() || info.capacity == 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "zone_id and a positive capacity are required",
        );
    }
    tracing::info!(zone = %info.zone_id, endpoint = %info.endpoint, "zone registered");
    match o.registry.register(info, o.now_ms()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn heartbeat<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Json(hb): Json<Heartbeat>,
) -> Response {
    match o.registry.heartbeat(&hb.zone_id, hb.load, o.now_ms()).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "unknown zone; register first"),
        Err(e) => internal(e),
    }
}

pub(super) async fn zones<R: ZoneRegistry>(State(o): State<Arc<Orchestrator<R>>>) -> Response {
    let timeout = o.config.heartbeat_timeout.as_millis() as u64;
    match o.registry.zones(o.now_ms(), timeout).await {
        Ok(z) => Json(z).into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn deregister<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Json(d): Json<Deregister>,
) -> Response {
    tracing::info!(zone = %d.zone_id, "zone closed");
    let key = format!("open:{}", d.zone_id);
    match (
        o.registry.deregister(&d.zone_id).await,
        o.registry.release(&key).await,
    ) {
        (Ok(()), Ok(())) => StatusCode::NO_CONTENT.into_response(),
        (Err(e), _) | (_, Err(e)) => internal(e),
    }
}
