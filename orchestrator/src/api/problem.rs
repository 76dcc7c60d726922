//! Error answers as RFC 7807 problems (`application/problem+json`, see
//! `arcane_control_api::problems`), and the JSON body extractor whose refusals are
//! problems too, so every 4xx and 5xx of the API has one shape.

use arcane_control_api::{ApiError, PROBLEM_JSON, problems};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A kind of problem: its type, title and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    IdempotencyMismatch,
    TooLarge,
    UnsupportedMediaType,
    Unavailable,
    Internal,
}

impl Problem {
    fn parts(self) -> (&'static str, &'static str, StatusCode) {
        use Problem::*;
        match self {
            BadRequest => (
                problems::BAD_REQUEST,
                "Bad request",
                StatusCode::BAD_REQUEST,
            ),
            Unauthorized => (
                problems::UNAUTHORIZED,
                "Unauthorized",
                StatusCode::UNAUTHORIZED,
            ),
            Forbidden => (problems::FORBIDDEN, "Forbidden", StatusCode::FORBIDDEN),
            NotFound => (problems::NOT_FOUND, "Not found", StatusCode::NOT_FOUND),
            Conflict => (problems::CONFLICT, "Conflict", StatusCode::CONFLICT),
            IdempotencyMismatch => (
                problems::IDEMPOTENCY_MISMATCH,
                "Idempotency key reused with another request",
                StatusCode::CONFLICT,
            ),
            TooLarge => (
                problems::TOO_LARGE,
                "Body too large",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            UnsupportedMediaType => (
                problems::BAD_REQUEST,
                "Bad request",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            Unavailable => (
                problems::UNAVAILABLE,
                "Unavailable; try again",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            Internal => (
                problems::INTERNAL,
                "Internal error",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        }
    }

    /// The answer: status, `application/problem+json`, the problem body.
    pub(crate) fn answer(self, detail: impl Into<String>) -> Response {
        let (kind, title, status) = self.parts();
        let detail = detail.into();
        let body = ApiError {
            error: detail.clone(),
            kind: kind.into(),
            title: title.into(),
            status: status.as_u16(),
            detail,
        };
        let mut r = (status, axum::Json(body)).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        r
    }
}

/// `axum::Json` whose refusals (not JSON, wrong fields, wrong content type, too
/// large) are problems.
pub(crate) struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let problem = match rejection.status() {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::UnsupportedMediaType,
                    StatusCode::PAYLOAD_TOO_LARGE => Problem::TooLarge,
                    _ => Problem::BadRequest,
                };
                Err(problem.answer(rejection.body_text()))
            }
        }
    }
}

/// The answer to a route that does not exist.
pub(crate) async fn not_found() -> Response {
    Problem::NotFound.answer("no such route")
}
