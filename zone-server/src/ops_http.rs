//! The ops HTTP listener on `--admin-addr`, the port operators and probes use (the
//! game-master commands are something else: the engine's `admin`). `/metrics`
//! (Prometheus text); `/livez` (the process and its tick thread are alive: restart me
//! if not), `/readyz` (ready for players: ticking,
//! registered with the orchestrator, not draining) and `/healthz` (ticking);
//! `/players` (the ids of the connected players, a JSON array: operators and the
//! transfer fault test check where players are); `/endpoints` (where clients connect);
//! `/journal` (the zone's current journal run as one segment file, for a bug report:
//! it holds players' states, so this listener must stay internal); `/world` (the
//! whole zone for the zone viewer, `?player=` focuses one player's view, `?map=true`
//! only the map: bounds, obstacles, exits).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arcane_service::CancellationToken;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::status::TickStatus;

/// What `/endpoints` answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoints {
    pub zone_id: String,
    pub ws: String,
    pub quic: Option<String>,
}

#[derive(Clone)]
pub struct OpsState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<TickStatus>,
    /// Cancelled once the zone drains (`/readyz` then answers 503).
    pub draining: CancellationToken,
    pub endpoints: Endpoints,
    /// The journal run the zone writes, if it keeps one.
    pub journal_run: Option<std::path::PathBuf>,
    /// The tick's inbox, for `/world` (`None`: not served).
    pub inbox: Option<tokio::sync::mpsc::Sender<crate::net::inbound::Inbound>>,
    /// Inspections in flight at once (each costs the tick a walk over the world).
    pub inspecting: Arc<tokio::sync::Semaphore>,
}

/// `/world`'s query.
#[derive(Debug, serde::Deserialize)]
struct WorldQuery {
    /// Focus on this player id's view.
    player: Option<u64>,
    /// Only the map (no entities, no cells).
    #[serde(default)]
    map: bool,
}

/// Longest wait for the tick to answer an inspection.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `/world`: the zone as the viewer draws it, read between two ticks.
async fn world(
    State(s): State<OpsState>,
    axum::extract::Query(q): axum::extract::Query<WorldQuery>,
) -> axum::response::Response {
    let Some(inbox) = s.inbox else {
        return (StatusCode::NOT_FOUND, "this zone serves no world view\n").into_response();
    };
    let Ok(_permit) = s.inspecting.acquire().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let focus = q.player.map(arcane_engine::PlayerId);
    let asked = tokio::time::timeout(
        INSPECT_TIMEOUT,
        inbox.send(crate::net::inbound::Inbound::Inspect { focus, reply }),
    );
    if !matches!(asked.await, Ok(Ok(()))) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the tick is not taking requests\n",
        )
            .into_response();
    }
    match tokio::time::timeout(INSPECT_TIMEOUT, answer).await {
        Ok(Ok(mut view)) => {
            if q.map {
                view.entities.clear();
                view.cells = None;
                view.spawners.clear();
                view.focus = None;
            }
            axum::Json(view).into_response()
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the tick did not answer in time\n",
        )
            .into_response(),
    }
}

/// `/journal`: the run as one segment, streamed in chunks read off the I/O threads
/// (a long run is hundreds of megabytes; it is never held in memory whole).
async fn journal(State(s): State<OpsState>) -> axum::response::Response {
    let Some(run) = s.journal_run else {
        return (StatusCode::NOT_FOUND, "this zone keeps no journal\n").into_response();
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let sent = arcane_journal::segment::merged_chunks(&run, 256 * 1024, |chunk| {
            tx.blocking_send(Ok(bytes::Bytes::copy_from_slice(chunk)))
                .map_err(|_| std::io::Error::other("the client went away"))
        });
        if let Err(e) = sent {
            // The body ends with an error: the client sees a broken download.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"zone.journal\"",
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

async fn metrics_text(State(s): State<OpsState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            arcane_service::OPENMETRICS_CONTENT_TYPE,
        )],
        s.metrics.encode(),
    )
}

async fn healthz(State(s): State<OpsState>) -> impl IntoResponse {
    // Healthy while the tick thread has ticked within the last second.
    if s.status.is_healthy(Duration::from_secs(1)) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "tick thread is not ticking\n",
        )
    }
}

async fn livez(State(s): State<OpsState>) -> impl IntoResponse {
    // Only a tick thread stuck for long is worth a restart; a slow tick is not.
    if s.status.is_healthy(Duration::from_secs(10)) {
        (StatusCode::OK, "alive\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "tick thread stuck or stopped\n",
        )
    }
}

async fn readyz(State(s): State<OpsState>) -> impl IntoResponse {
    let why = if s.draining.is_cancelled() {
        Some("draining\n")
    } else if !s.status.is_healthy(Duration::from_secs(1)) {
        Some("tick thread is not ticking\n")
    } else if !s.status.registered.load(Ordering::Relaxed) {
        Some("not registered with the orchestrator\n")
    } else {
        None
    };
    match why {
        None => (StatusCode::OK, "ready\n"),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn endpoints(State(s): State<OpsState>) -> impl IntoResponse {
    axum::Json(s.endpoints)
}

async fn players(State(s): State<OpsState>) -> impl IntoResponse {
    let ids = s
        .status
        .roster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    axum::Json(ids)
}

pub async fn serve(listener: TcpListener, state: OpsState, shutdown: CancellationToken) {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/endpoints", get(endpoints))
        .route("/players", get(players))
        .route("/journal", get(journal))
        .route("/world", get(world))
        .with_state(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!("ops server failed: {e}");
    }
}
