//! The orchestrator's HTTP/JSON API (axum): one file per route family. The types on
//! the wire are `arcane_control_api`'s; the work behind each route is in
//! `placement/`, `transfers.rs` and the registry.

mod login;
mod probes;
mod transfers;
mod zones;

use std::net::SocketAddr;
use std::sync::Arc;

use arcane_control_api::{ApiError, paths};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::orchestrator::{Orchestrator, Refused};
use crate::registry::ZoneRegistry;
use crate::transfers::roll_forward;

/// An error answer with an [`ApiError`] body.
fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ApiError { error: msg.into() })).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("request failed: {e}");
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unavailable(m) => error(StatusCode::SERVICE_UNAVAILABLE, m),
            Refused::Internal(m) => internal(m),
        }
    }
}

/// The API routes over `state`.
pub fn router<R: ZoneRegistry>(state: Arc<Orchestrator<R>>) -> Router {
    Router::new()
        .route(paths::LOGIN, post(login::login::<R>))
        .route(paths::ZONES, get(zones::zones::<R>))
        .route(paths::REGISTER, post(zones::register::<R>))
        .route(paths::HEARTBEAT, post(zones::heartbeat::<R>))
        .route(paths::DEREGISTER, post(zones::deregister::<R>))
        .route(paths::TRANSFERS, post(transfers::transfer::<R>))
        .route("/metrics", get(probes::metrics::<R>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/livez", get(|| async { "alive\n" }))
        .route("/readyz", get(probes::readyz::<R>))
        .with_state(state)
}

/// Serves the API on `listener` until the future completes.
pub async fn serve<R: ZoneRegistry>(
    listener: tokio::net::TcpListener,
    state: Arc<Orchestrator<R>>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Binds `addr` and serves in the background, with the roll-forward of abandoned
/// transfers; returns the bound address.
pub async fn spawn<R: ZoneRegistry>(
    addr: SocketAddr,
    state: Arc<Orchestrator<R>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let sweeper = tokio::spawn(roll_forward(state.clone()));
        let served = serve(listener, state).await;
        sweeper.abort();
        if let Err(e) = served {
            tracing::error!("orchestrator API stopped: {e}");
        }
    });
    Ok((bound, task))
}
