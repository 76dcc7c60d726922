//! `POST /v1/login`: authenticate, create or load the player, place it, mint a ticket.

use std::sync::Arc;

use arcane_control_api::{LoginRequest, LoginResponse};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{error, internal};
use crate::auth::AuthError;
use crate::orchestrator::Orchestrator;
use crate::placement::Endpoints;
use crate::registry::ZoneRegistry;

pub(super) async fn login<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Json(req): Json<LoginRequest>,
) -> Response {
    let name = match o.identity.authenticate(&req) {
        Ok(n) => n,
        Err(e) => {
            o.metrics.login("refused");
            let status = match e {
                AuthError::BadRequest(_) => StatusCode::BAD_REQUEST,
                AuthError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            };
            return error(status, e.to_string());
        }
    };
    let c = &o.config;
    let mut player = match o
        .store
        .login(&name, &c.start_zone, c.start_position, c.start_vitals)
        .await
    {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    if req.party != player.party {
        if let Err(e) = o.store.set_party(player.id, req.party.as_deref()).await {
            return internal(e);
        }
        player.party = req.party.clone();
    }
    let (zone_id, Endpoints { ws: endpoint, quic }) = match o.place(&player).await {
        Ok(p) => p,
        Err(e) => {
            o.metrics.login("unavailable");
            return e.into_response();
        }
    };
    if endpoint.is_empty() {
        o.metrics.login("unavailable");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("zone {zone_id} is not running; try again"),
        );
    }
    o.metrics.login("ok");
    let (ticket, expires_unix) = o.mint(player.id, &zone_id);
    Json(LoginResponse {
        player_id: player.id,
        zone_id,
        endpoint,
        ticket,
        expires_unix,
        quic_endpoint: quic,
    })
    .into_response()
}
