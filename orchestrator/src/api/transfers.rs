//! `POST /v1/transfers`: carry out a handoff the source zone recorded.

use std::sync::Arc;

use arcane_control_api::{TransferRequest, TransferResponse};
use arcane_store::HandoffStatus;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error;
use crate::orchestrator::Orchestrator;
use crate::placement::Endpoints;
use crate::registry::ZoneRegistry;

pub(super) async fn transfer<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Json(req): Json<TransferRequest>,
) -> Response {
    let (player_id, outcome) = match o.finish_transfer(&req.transfer_id, true).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match outcome {
        HandoffStatus::Committed { to_zone, .. } => {
            let endpoints = match o.zones_now().await {
                Ok(zones) => Endpoints::of(&zones, &to_zone, true),
                Err(e) => return e.into_response(),
            };
            let (ticket, expires_unix) = o.mint(player_id, &to_zone);
            Json(TransferResponse {
                zone_id: to_zone,
                endpoint: endpoints.ws,
                ticket,
                expires_unix,
                quic_endpoint: endpoints.quic,
            })
            .into_response()
        }
        HandoffStatus::Aborted => error(StatusCode::CONFLICT, "transfer aborted"),
        HandoffStatus::Pending => error(StatusCode::SERVICE_UNAVAILABLE, "transfer pending"),
    }
}
