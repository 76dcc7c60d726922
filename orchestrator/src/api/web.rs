//! The web client and the zone viewer, compiled into the binary (no npm step to run
//! them): `/play/` (the game), `/viewer/` (the zone viewer, admins only), and the
//! JavaScript SDK they import at `/sdk/`. And CORS for the public API, for pages served
//! from other origins (`--cors-origin`).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// (path under its folder, content type, bytes) of every file served.
type Asset = (&'static str, &'static str, &'static str);

const JS: &str = "text/javascript; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const PLAY: &[Asset] = &[
    ("", HTML, include_str!("../../web/play/index.html")),
    ("game.js", JS, include_str!("../../web/play/game.js")),
    ("render.js", JS, include_str!("../../web/play/render.js")),
    ("panels.js", JS, include_str!("../../web/play/panels.js")),
    ("style.css", CSS, include_str!("../../web/play/style.css")),
];

const VIEWER: &[Asset] = &[
    ("", HTML, include_str!("../../web/viewer/index.html")),
    ("viewer.js", JS, include_str!("../../web/viewer/viewer.js")),
    ("style.css", CSS, include_str!("../../web/play/style.css")),
];

const SDK: &[Asset] = &[
    (
        "index.js",
        JS,
        include_str!("../../../shared-protocol/js/src/index.js"),
    ),
    (
        "codec.js",
        JS,
        include_str!("../../../shared-protocol/js/src/codec.js"),
    ),
    (
        "messages.js",
        JS,
        include_str!("../../../shared-protocol/js/src/messages.js"),
    ),
    (
        "view.js",
        JS,
        include_str!("../../../shared-protocol/js/src/view.js"),
    ),
    (
        "prediction.js",
        JS,
        include_str!("../../../shared-protocol/js/src/prediction.js"),
    ),
    (
        "client.js",
        JS,
        include_str!("../../../shared-protocol/js/src/client.js"),
    ),
];

fn serve(assets: &'static [Asset], name: &str) -> Response {
    match assets.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                // Small files, and a new binary may change them: always revalidate.
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

/// The pages and the SDK, on the public listener.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/play/") }))
        .route("/play", get(|| async { Redirect::to("/play/") }))
        .route("/play/", get(|| async { serve(PLAY, "") }))
        .route(
            "/play/{file}",
            get(|Path(f): Path<String>| async move { serve(PLAY, &f) }),
        )
        .route("/viewer", get(|| async { Redirect::to("/viewer/") }))
        .route("/viewer/", get(|| async { serve(VIEWER, "") }))
        .route(
            "/viewer/{file}",
            get(|Path(f): Path<String>| async move { serve(VIEWER, &f) }),
        )
        .route(
            "/sdk/{file}",
            get(|Path(f): Path<String>| async move { serve(SDK, &f) }),
        )
}

/// CORS for the configured origins (`*`: any), or `None` when none is configured.
/// Origins that do not parse as a header value are skipped with a warning.
pub(super) fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| {
                let v = HeaderValue::from_str(o.trim_end_matches('/')).ok();
                if v.is_none() {
                    tracing::warn!(
                        origin = o,
                        "ignoring a CORS origin that is not a header value"
                    );
                }
                v
            })
            .collect();
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::HeaderName::from_static(super::idempotency::HEADER),
                header::HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([header::HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
