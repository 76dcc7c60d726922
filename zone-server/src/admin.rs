//! The admin HTTP endpoint: `/metrics` (Prometheus text), `/healthz` and `/players`
//! (the ids of the connected players, a JSON array: operators and the transfer fault
//! test check where players are).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::tick::TickShared;

#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    shared: Arc<TickShared>,
}

async fn metrics_text(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn healthz(State(s): State<AdminState>) -> impl IntoResponse {
    // Healthy while the tick thread has ticked within the last second.
    if s.shared.is_healthy(Duration::from_secs(1)) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "tick thread is not ticking\n",
        )
    }
}

async fn players(State(s): State<AdminState>) -> impl IntoResponse {
    let ids = s
        .shared
        .roster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    axum::Json(ids)
}

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shared: Arc<TickShared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/players", get(players))
        .with_state(AdminState { metrics, shared });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!("admin server failed: {e}");
    }
}
