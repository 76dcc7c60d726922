//! The zone registry's routes: register, heartbeat, deregister, list.

use std::sync::Arc;

use arcane_control_api::{Deregister, Heartbeat, ZoneInfo};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::problem::ApiJson;
use super::{Problem, internal};
use crate::orchestrator::Orchestrator;
use crate::registry::{Beat, ZoneRegistry};

pub(super) async fn register<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    ApiJson(info): ApiJson<ZoneInfo>,
) -> Response {
    if info.zone_id.is_empty() || info.capacity == 0 {
        return Problem::BadRequest.answer("zone_id and a positive capacity are required");
    }
    // Only the process holding the zone's newest lease may take its place: a replaced
    // one (an orphan of a killed orchestrator, one stopped past its lease) is told so.
    match o.store.lease_generation(&info.zone_id).await {
        Ok(newest) if newest.unwrap_or(0) != info.lease_generation => {
            tracing::warn!(zone = %info.zone_id, generation = info.lease_generation, ?newest, "registration of a replaced zone process refused");
            return Problem::Conflict.answer(format!(
                "zone {} is run by the holder of lease generation {}, not {}",
                info.zone_id,
                newest.unwrap_or(0),
                info.lease_generation
            ));
        }
        Ok(_) => {}
        Err(e) => return internal(e),
    }
    tracing::info!(zone = %info.zone_id, endpoint = %info.endpoint, generation = info.lease_generation, "zone registered");
    match o.registry.register(info, o.now_ms()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn heartbeat<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    ApiJson(hb): ApiJson<Heartbeat>,
) -> Response {
    let beat = o
        .registry
        .heartbeat(&hb.zone_id, hb.lease_generation, hb.load, o.now_ms());
    match beat.await {
        Ok(Beat::Recorded) => StatusCode::NO_CONTENT.into_response(),
        Ok(Beat::Unknown) => Problem::NotFound.answer("unknown zone; register first"),
        Ok(Beat::Superseded) => Problem::Conflict
            .answer("another process of this zone is registered; this one was replaced"),
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
    ApiJson(d): ApiJson<Deregister>,
) -> Response {
    match o.registry.deregister(&d.zone_id, d.lease_generation).await {
        Ok(true) => {}
        // Not registered, or registered by a successor: nothing of this process's to
        // remove.
        Ok(false) => return StatusCode::NO_CONTENT.into_response(),
        Err(e) => return internal(e),
    }
    tracing::info!(zone = %d.zone_id, "zone closed");
    match o.registry.release(&format!("open:{}", d.zone_id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}
