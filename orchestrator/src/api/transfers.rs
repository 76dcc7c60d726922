//! `POST /v1/transfers`: carry out a handoff the source zone recorded.

use std::sync::Arc;

use arcane_control_api::{TransferRequest, TransferResponse};
use arcane_store::HandoffStatus;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::problem::ApiJson;
use super::{Problem, idempotency};
use crate::orchestrator::Orchestrator;
use crate::placement::Endpoints;
use crate::registry::ZoneRegistry;

pub(super) async fn transfer<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Response {
    idempotency::once(&o, "transfer", &headers, &req, carry_out(&o, &req)).await
}

/// Finishes the transfer (idempotent by its id) and answers where the player goes.
async fn carry_out<R: ZoneRegistry>(
    o: &Orchestrator<R>,
    req: &TransferRequest,
) -> Result<TransferResponse, Response> {
    let (player_id, outcome) = o
        .finish_transfer(&req.transfer_id, true)
        .await
        .map_err(IntoResponse::into_response)?;
    match outcome {
        HandoffStatus::Committed { to_zone, epoch } => {
            // What is said to the player from now on goes to where it is going: its
            // new zone holds it until the player arrives.
            let arriving = to_zone.clone();
            let moved = o.update_presence(player_id, |p| {
                p.zone = arriving;
                p.arriving = true;
                p.epoch = p.epoch.max(epoch);
            });
            match moved.await {
                // A player who never arrives (its client quit on the way) is offline
                // once the arrival could not happen any more.
                Ok(Some(_)) => o.social.expect_arrival(o.now_ms(), player_id, &to_zone),
                Ok(None) => {}
                Err(e) => tracing::warn!(player = player_id, "presence not moved: {e}"),
            }
            let zones = o.zones_now().await.map_err(IntoResponse::into_response)?;
            let endpoints = Endpoints::of(&zones, &to_zone, true);
            let (ticket, expires_unix) = o.mint(player_id, &to_zone);
            Ok(TransferResponse {
                zone_id: to_zone,
                endpoint: endpoints.ws,
                ticket,
                expires_unix,
                quic_endpoint: endpoints.quic,
            })
        }
        HandoffStatus::Aborted => Err(Problem::Conflict.answer("transfer aborted")),
        HandoffStatus::Pending => Err(Problem::Unavailable.answer("transfer pending")),
    }
}
