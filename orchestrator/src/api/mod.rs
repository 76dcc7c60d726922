//! The orchestrator's HTTP/JSON API (axum): one file per route family. The types on
//! the wire are `arcane_control_api`'s; the work behind each route is in
//! `placement/`, `transfers.rs` and the registry.
//!
//! Two listeners. The **public** one serves players: `/v1/login` and the probes. The
//! **internal** one serves zones and operators: the zone registry, transfers, the
//! social links, moderation, presence and `/metrics`; every call that changes something there must be signed with the
//! control secret (`arcane_service::control_auth`), so nothing that can reach the
//! port without the secret can register a zone or move a player.

mod idempotency;
mod login;
pub mod openapi;
mod probes;
mod problem;
mod social;
mod transfers;
mod viewer;
mod web;
mod zones;

pub(crate) use problem::Problem;

use std::net::SocketAddr;
use std::sync::Arc;

use arcane_control_api::paths;
use arcane_service::control_auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::orchestrator::{Orchestrator, Refused};
use crate::registry::ZoneRegistry;
use crate::transfers::roll_forward;

/// Largest body of a control call (a zone's registration is a few hundred bytes).
const MAX_CONTROL_BODY: usize = 64 * 1024;

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("request failed: {e}");
    Problem::Internal.answer(e.to_string())
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unavailable(m) => Problem::Unavailable.answer(m),
            Refused::NotFound(m) => Problem::NotFound.answer(m),
            Refused::Internal(m) => internal(m),
        }
    }
}

/// Refuses a control call that is not signed with the control secret (401).
async fn signed<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    request: Request,
    next: Next,
) -> Response {
    // Only the routes' own method is signed; any other is answered 405 by the router.
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CONTROL_BODY).await else {
        return Problem::TooLarge.answer("control call body too large");
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let checked = o.control_key.verify(
        parts.method.as_str(),
        parts.uri.path(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &bytes,
        o.now_ms(),
    );
    if let Err(e) = checked {
        o.metrics.control_refused.inc();
        tracing::warn!(path = parts.uri.path(), "control call refused: {e}");
        return Problem::Unauthorized.answer(e.to_string());
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Every request gets an `X-Request-Id` (the caller's, or a new UUID), which names its
/// tracing span and comes back on the answer; unknown routes answer a problem.
fn conventions(router: Router) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    let span = |req: &axum::http::Request<Body>| {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
    };
    router
        .fallback(problem::not_found)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn probes<R: ZoneRegistry>() -> Router<Arc<Orchestrator<R>>> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/livez", get(|| async { "alive\n" }))
        .route("/readyz", get(probes::readyz::<R>))
}

/// What players reach: login and the probes.
pub fn public_router<R: ZoneRegistry>(state: Arc<Orchestrator<R>>) -> Router {
    let cors = web::cors(&state.config.cors_origins);
    let router = conventions(public_routes().with_state(state));
    match cors {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// The public routes, probes included.
fn public_routes<R: ZoneRegistry>() -> Router<Arc<Orchestrator<R>>> {
    Router::new()
        .route(paths::LOGIN, post(login::login::<R>))
        .route("/openapi.json", get(openapi::public_json))
        .route(paths::MAP, get(viewer::map::<R>))
        .route(paths::VIEWER_SESSION, post(viewer::session::<R>))
        .route(paths::VIEWER_ZONES, get(viewer::zones::<R>))
        .route(paths::VIEWER_WORLD, get(viewer::world::<R>))
        .merge(web::routes())
        .merge(probes())
}

/// The internal routes without the probes.
fn control_routes<R: ZoneRegistry>(state: Arc<Orchestrator<R>>) -> Router<Arc<Orchestrator<R>>> {
    let signed_routes = Router::new()
        .route(paths::REGISTER, post(zones::register::<R>))
        .route(paths::HEARTBEAT, post(zones::heartbeat::<R>))
        .route(paths::DEREGISTER, post(zones::deregister::<R>))
        .route(paths::TRANSFERS, post(transfers::transfer::<R>))
        .route(paths::MODERATION, post(social::moderate::<R>))
        .route_layer(middleware::from_fn_with_state(state, signed::<R>));
    Router::new()
        .route(paths::ZONES, get(zones::zones::<R>))
        .route(paths::AUDIT, get(social::audit::<R>))
        .route(paths::PRESENCE, get(social::presence::<R>))
        .route(paths::SOCIAL, get(social::upgrade::<R>))
        .route("/metrics", get(probes::metrics::<R>))
        .merge(signed_routes)
}

/// What zones and operators reach: the registry, transfers, `/metrics`, the probes.
pub fn internal_router<R: ZoneRegistry>(state: Arc<Orchestrator<R>>) -> Router {
    conventions(
        control_routes(state.clone())
            .route("/openapi.json", get(openapi::internal_json))
            .merge(probes())
            .with_state(state),
    )
}

/// Every route on one router (in-process tests; a deployment serves the two apart).
/// `/openapi.json` there is the public API's.
pub fn router<R: ZoneRegistry>(state: Arc<Orchestrator<R>>) -> Router {
    conventions(
        public_routes()
            .merge(control_routes(state.clone()))
            .with_state(state),
    )
}

/// Serves the public and the internal API until either stops.
pub async fn serve<R: ZoneRegistry>(
    public: tokio::net::TcpListener,
    internal: tokio::net::TcpListener,
    state: Arc<Orchestrator<R>>,
) -> std::io::Result<()> {
    let public = axum::serve(public, public_router(state.clone()));
    let internal = axum::serve(internal, internal_router(state));
    tokio::select! {
        r = async { public.await } => r,
        r = async { internal.await } => r,
    }
}

/// Where a spawned API listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub public: SocketAddr,
    pub internal: SocketAddr,
}

/// Binds both listeners and serves in the background, with the roll-forward of
/// abandoned transfers; returns the bound addresses.
pub async fn spawn<R: ZoneRegistry>(
    public: SocketAddr,
    internal: SocketAddr,
    state: Arc<Orchestrator<R>>,
) -> std::io::Result<(Bound, tokio::task::JoinHandle<()>)> {
    let public = tokio::net::TcpListener::bind(public).await?;
    let internal = tokio::net::TcpListener::bind(internal).await?;
    let bound = Bound {
        public: public.local_addr()?,
        internal: internal.local_addr()?,
    };
    let task = tokio::spawn(async move {
        let sweeper = tokio::spawn(roll_forward(state.clone()));
        let bus = tokio::spawn(crate::social::run_bus(state.clone()));
        let arrivals = tokio::spawn(crate::social::sweep_arrivals(state.clone()));
        let served = serve(public, internal, state).await;
        sweeper.abort();
        bus.abort();
        arrivals.abort();
        if let Err(e) = served {
            tracing::error!("orchestrator API stopped: {e}");
        }
    });
    Ok((bound, task))
}
