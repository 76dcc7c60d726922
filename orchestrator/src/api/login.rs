//! `POST /v1/login`: authenticate, create or load the player, place it, mint a ticket.

use std::sync::Arc;

use arcane_control_api::{LoginRequest, LoginResponse};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::idempotency;
use super::problem::ApiJson;
use super::{Problem, internal};
use crate::auth::AuthError;
use crate::orchestrator::Orchestrator;
use crate::placement::Endpoints;
use crate::registry::ZoneRegistry;

pub(super) async fn login<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Response {
    idempotency::once(&o, "login", &headers, &req, log_in(&o, &req)).await
}

/// Authenticates, loads or creates the player, places it and mints its ticket.
async fn log_in<R: ZoneRegistry>(
    o: &Orchestrator<R>,
    req: &LoginRequest,
) -> Result<LoginResponse, Response> {
    let name = match o.identity.authenticate(req) {
        Ok(n) => n,
        Err(e) => {
            o.metrics.login("refused");
            let problem = match e {
                AuthError::BadRequest(_) => Problem::BadRequest,
                AuthError::Unauthorized(_) => Problem::Unauthorized,
            };
            return Err(problem.answer(e.to_string()));
        }
    };
    let c = &o.config;
    let mut player = match o
        .store
        .login(&name, &c.start_zone, c.start_position, c.start_vitals)
        .await
    {
        Ok(p) => p,
        Err(e) => return Err(internal(e)),
    };
    // A party named at login (the bots' way, kept for compatibility) is joined, made
    // if nobody is in it; without one the player stays in the party it is in (parties
    // are made and joined in the game, and outlive a relogin).
    if let Some(party) = &req.party
        && player.party.as_ref() != Some(party)
    {
        let now = o.now_ms() as i64;
        if let Err(e) = o.store.join_named_party(player.id, party, now).await {
            return Err(internal(e));
        }
        // Online elsewhere (a second login), its presence names the party now.
        let joined = Some(party.clone());
        if let Err(e) = o.update_presence(player.id, |p| p.party = joined).await {
            return Err(internal(e));
        }
        player.party = Some(party.clone());
    }
    let (zone_id, Endpoints { ws: endpoint, quic }) = match o.place(&player).await {
        Ok(p) => p,
        Err(e) => {
            o.metrics.login("unavailable");
            return Err(e.into_response());
        }
    };
    if endpoint.is_empty() {
        o.metrics.login("unavailable");
        let detail = format!("zone {zone_id} is not running; try again");
        return Err(Problem::Unavailable.answer(detail));
    }
    o.metrics.login("ok");
    let (ticket, expires_unix) = o.mint(player.id, &zone_id);
    Ok(LoginResponse {
        player_id: player.id,
        zone_id,
        endpoint,
        ticket,
        expires_unix,
        quic_endpoint: quic,
    })
}
