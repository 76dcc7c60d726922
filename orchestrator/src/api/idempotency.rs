//! `Idempotency-Key` on `POST /v1/login` and `POST /v1/transfers`: a client that retries
//! a request it never saw answered (a timeout, a dropped connection) with the same key
//! gets the first answer again (the same ticket), not a second one. Keys live in the
//! registry's claims (shared by replicas through Redis) for the ticket's lifetime.
//!
//! A claim holds `P<fingerprint>` while the first request runs and `R<fingerprint>
//! <answer>` once it succeeded; a failed request gives the key up, so a retry runs
//! again. The same key with another request, or while its first request still runs,
//! is refused with 409 (the problem's type tells which).

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::Problem;
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

/// The request header.
pub(super) const HEADER: &str = "idempotency-key";
/// On a replayed answer.
pub(super) const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted.
const MAX_KEY: usize = 255;

/// A fingerprint of the request body, the same in every build and replica (64-bit
/// FNV-1a of its JSON: `DefaultHasher` may change between Rust releases, and replicas
/// of two builds share the claims during a rolling upgrade).
fn fingerprint(body: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(body).unwrap_or_default();
    let h = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// Runs `work` once per `Idempotency-Key` (when the request has one). `work` answers
/// `Ok(json)` (200, remembered) or `Err(response)` (not remembered).
pub(super) async fn once<R, T, F>(
    o: &Orchestrator<R>,
    scope: &str,
    headers: &HeaderMap,
    request: &impl serde::Serialize,
    work: F,
) -> Response
where
    R: ZoneRegistry,
    T: serde::Serialize,
    F: Future<Output = Result<T, Response>>,
{
    let answer = |r: Result<T, Response>| match r {
        Ok(body) => axum::Json(body).into_response(),
        Err(resp) => resp,
    };
    let Some(key) = headers.get(HEADER) else {
        return answer(work.await);
    };
    let Ok(key) = key.to_str() else {
        return Problem::BadRequest.answer("Idempotency-Key must be visible ASCII");
    };
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Problem::BadRequest.answer(format!(
            "Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters"
        ));
    }
    let fp = fingerprint(request);
    let claim_key = format!("idem:{scope}:{key}");
    let ttl = o.config.ticket_ttl.as_millis() as u64;
    let running = format!("P{fp}");
    let held = match o
        .registry
        .claim(&claim_key, &running, ttl, o.now_ms())
        .await
    {
        Ok(v) => v,
        Err(e) => return super::internal(e),
    };
    if held != running {
        let (state, rest) = held.split_at(1.min(held.len()));
        let (their_fp, stored) = rest.split_at(fp.len().min(rest.len()));
        if their_fp != fp {
            return Problem::IdempotencyMismatch
                .answer("this Idempotency-Key was used with another request");
        }
        if state == "R" {
            let mut r = (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                stored.to_string(),
            )
                .into_response();
            r.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            return r;
        }
        return Problem::Conflict.answer("a request with this Idempotency-Key is still running");
    }
    match work.await {
        Ok(body) => {
            let text = serde_json::to_string(&body).unwrap_or_default();
            let done = format!("R{fp}{text}");
            if let Err(e) = o
                .registry
                .reclaim(&claim_key, &running, &done, ttl, o.now_ms())
                .await
            {
                tracing::warn!("cannot remember the answer of an idempotent request: {e}");
            }
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                text,
            )
                .into_response()
        }
        Err(resp) => {
            // Not done: a retry with the same key runs again.
            let _ = o.registry.release(&claim_key).await;
            resp
        }
    }
}
