//! What operators and their tools read: `/metrics` and `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Problem;
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

pub(super) async fn metrics<R: ZoneRegistry>(State(o): State<Arc<Orchestrator<R>>>) -> Response {
    if let Ok(zones) = o.zones_now().await {
        o.metrics.observe_zones(&zones);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            arcane_service::OPENMETRICS_CONTENT_TYPE,
        )],
        o.metrics.encode(),
    )
        .into_response()
}

/// Ready when the database and the shared state both answer within a second.
pub(super) async fn readyz<R: ZoneRegistry>(State(o): State<Arc<Orchestrator<R>>>) -> Response {
    let within = Duration::from_secs(1);
    let db = tokio::time::timeout(within, o.store.ping()).await;
    let shared = tokio::time::timeout(within, o.registry.zones(o.now_ms(), 0)).await;
    match (db, shared) {
        (Ok(Ok(())), Ok(Ok(_))) => (StatusCode::OK, "ready\n").into_response(),
        (Ok(Err(e)), _) => Problem::Unavailable.answer(format!("database: {e}")),
        (Err(_), _) => Problem::Unavailable.answer("database: no answer in 1 s"),
        (_, Ok(Err(e))) => Problem::Unavailable.answer(format!("shared state: {e}")),
        (_, Err(_)) => Problem::Unavailable.answer("shared state: no answer in 1 s"),
    }
}
