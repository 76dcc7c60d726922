//! Authentication of the control plane: every call a zone makes to the orchestrator's
//! internal API (register, heartbeat, deregister, transfers) is signed with HMAC-SHA256
//! over a secret the two share (`ARCANE_CONTROL_SECRET`), and the orchestrator refuses
//! one that is unsigned, forged, altered, or older than [`MAX_SKEW_MS`].
//!
//! The signature covers the method, the path, the timestamp and the body's SHA-256,
//! so a captured request cannot be replayed against another route or with another
//! body, nor after the window. Within the window a replay repeats a call that is
//! idempotent anyway (a registration, a heartbeat, a transfer by id).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The header with the request's time (ms since the Unix epoch, the signer's clock).
pub const TIMESTAMP_HEADER: &str = "x-arcane-timestamp";
/// The header with the signature (base64url, no padding).
pub const SIGNATURE_HEADER: &str = "x-arcane-signature";
/// How far a request's time may be from the verifier's clock.
pub const MAX_SKEW_MS: u64 = 30_000;
/// The development secret: zones and orchestrators started without one agree on it,
/// and both warn. Set `ARCANE_CONTROL_SECRET` in production.
pub const DEV_CONTROL_SECRET: &str = "arcane-dev-control-secret-change-me";

/// Why a control call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request is not signed (missing {0} header)")]
    Missing(&'static str),
    #[error("the request's timestamp is not a number")]
    BadTimestamp,
    #[error("the request's timestamp is {0} ms away from the orchestrator's clock")]
    Stale(u64),
    #[error("the signature does not match (wrong secret, or the request was altered)")]
    BadSignature,
}

/// The shared secret, ready to sign or verify.
#[derive(Clone)]
pub struct ControlKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for ControlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlKey(..)")
    }
}

impl ControlKey {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        ControlKey {
            secret: secret.as_ref().to_vec(),
        }
    }

    fn mac(&self, method: &str, path: &str, timestamp_ms: u64, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.secret) else {
            unreachable!("hmac accepts keys of any length")
        };
        let digest = Sha256::digest(body);
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n"] {
            mac.update(part);
        }
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(&digest);
        mac
    }

    /// The signature header value of a request.
    pub fn sign(&self, method: &str, path: &str, timestamp_ms: u64, body: &[u8]) -> String {
        let tag = self
            .mac(method, path, timestamp_ms, body)
            .finalize()
            .into_bytes();
        URL_SAFE_NO_PAD.encode(tag)
    }

    /// The two headers that sign a request made now (`now_ms`), for a client.
    pub fn headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        now_ms: u64,
    ) -> [(&'static str, String); 2] {
        [
            (TIMESTAMP_HEADER, now_ms.to_string()),
            (SIGNATURE_HEADER, self.sign(method, path, now_ms, body)),
        ]
    }

    /// Checks a request's headers (`None` when absent) against its method, path and
    /// body at `now_ms`. The comparison takes the same time whatever the signature.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), AuthError> {
        let timestamp = timestamp.ok_or(AuthError::Missing(TIMESTAMP_HEADER))?;
        let signature = signature.ok_or(AuthError::Missing(SIGNATURE_HEADER))?;
        let ts: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| AuthError::BadTimestamp)?;
        let skew = ts.abs_diff(now_ms);
        if skew > MAX_SKEW_MS {
            return Err(AuthError::Stale(skew));
        }
        let tag = URL_SAFE_NO_PAD
            .decode(signature.trim())
            .map_err(|_| AuthError::BadSignature)?;
        self.mac(method, path, ts, body)
            .verify_slice(&tag)
            .map_err(|_| AuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_any_change_is_refused() {
        let key = ControlKey::new("s3cret");
        let body = br#"{"zone_id":"meadow"}"#;
        let sig = key.sign("POST", "/v1/zones/register", 1_000_000, body);
        let ok = |m: &str, p: &str, ts: &str, s: &str, b: &[u8], now: u64| {
            key.verify(m, p, Some(ts), Some(s), b, now)
        };
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/register",
                "1000000",
                &sig,
                body,
                1_010_000
            ),
            Ok(())
        );
        let bad = Err(AuthError::BadSignature);
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/heartbeat",
                "1000000",
                &sig,
                body,
                1_000_000
            ),
            bad
        );
        assert_eq!(
            ok(
                "GET",
                "/v1/zones/register",
                "1000000",
                &sig,
                body,
                1_000_000
            ),
            bad
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/register",
                "1000001",
                &sig,
                body,
                1_000_000
            ),
            bad
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/register",
                "1000000",
                &sig,
                b"{}",
                1_000_000
            ),
            bad
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/register",
                "1000000",
                "!!",
                body,
                1_000_000
            ),
            bad
        );
        let forged = ControlKey::new("guess").sign("POST", "/v1/zones/register", 1_000_000, body);
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/register",
                "1000000",
                &forged,
                body,
                1_000_000
            ),
            bad
        );
        assert_eq!(
            ok(
                "POST",
                "/v1/zones/register",
                "1000000",
                &sig,
                body,
                1_000_000 + MAX_SKEW_MS + 1
            ),
            Err(AuthError::Stale(MAX_SKEW_MS + 1))
        );
        assert_eq!(
            ok("POST", "/v1/zones/register", "soon", &sig, body, 1_000_000),
            Err(AuthError::BadTimestamp)
        );
        assert_eq!(
            key.verify("POST", "/", None, Some(&sig), body, 0),
            Err(AuthError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            key.verify("POST", "/", Some("1"), None, body, 0),
            Err(AuthError::Missing(SIGNATURE_HEADER))
        );
    }
}
