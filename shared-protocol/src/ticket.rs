//! Signed join tickets: HMAC-SHA256 over (player, zone, role, expiry). The orchestrator
//! (or `arcane ticket` in development) mints them; zones verify them offline with the
//! shared secret. Text form: `base64url(claims).base64url(tag)`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bincode::{Decode, Encode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::wire;

type HmacSha256 = Hmac<Sha256>;

/// Longest ticket text a zone looks at; anything longer is rejected unparsed.
pub const MAX_TICKET_LEN: usize = 512;

/// The ticket secret every Arcane process defaults to in development, so a local
/// orchestrator and its zones agree without configuration. Processes warn when they
/// run with it; production sets `ARCANE_TICKET_SECRET`.
pub const DEV_TICKET_SECRET: &str = "arcane-dev-secret-change-me";

/// What a player is allowed to do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    Player,
    Admin,
}

/// The signed content of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TicketClaims {
    pub player_id: u64,
    pub zone_id: String,
    pub role: Role,
    /// Unix seconds after which the ticket is refused.
    pub expires_unix: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TicketError {
    #[error("ticket is malformed; request a new one from the orchestrator")]
    Malformed,
    #[error("ticket signature does not verify; it was forged or signed with another secret")]
    BadSignature,
    #[error("ticket expired at {expires_unix} (now {now_unix}); request a new one")]
    Expired { expires_unix: u64, now_unix: u64 },
    #[error("ticket is for zone {ticket_zone:?}, not {zone:?}")]
    WrongZone { ticket_zone: String, zone: String },
}

/// A secret shared by ticket issuers and zones.
#[derive(Clone)]
pub struct TicketKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

impl TicketKey {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        TicketKey {
            secret: secret.as_ref().to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => unreachable!("hmac accepts keys of any length"),
        }
    }

    /// Signs claims into the ticket text.
    pub fn mint(&self, claims: &TicketClaims) -> String {
        let body = wire::encode_to_vec(claims).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Verifies signature, expiry and zone. `now_unix` comes from the caller so this
    /// stays a pure function.
    pub fn verify(
        &self,
        ticket: &str,
        zone_id: &str,
        now_unix: u64,
    ) -> Result<TicketClaims, TicketError> {
        if ticket.len() > MAX_TICKET_LEN {
            return Err(TicketError::Malformed);
        }
        let (body_b64, tag_b64) = ticket.split_once('.').ok_or(TicketError::Malformed)?;
        let body = URL_SAFE_NO_PAD
            .decode(body_b64)
            .map_err(|_| TicketError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TicketError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&body);
        // Constant-time comparison.
        mac.verify_slice(&tag)
            .map_err(|_| TicketError::BadSignature)?;
        let claims: TicketClaims =
            wire::decode_limited::<_, MAX_TICKET_LEN>(&body).map_err(|_| TicketError::Malformed)?;
        if claims.expires_unix <= now_unix {
            return Err(TicketError::Expired {
                expires_unix: claims.expires_unix,
                now_unix,
            });
        }
        if claims.zone_id != zone_id {
            return Err(TicketError::WrongZone {
                ticket_zone: claims.zone_id,
                zone: zone_id.into(),
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            player_id: 42,
            zone_id: "meadow".into(),
            role: Role::Player,
            expires_unix: 1000,
        }
    }

    #[test]
    fn valid_ticket_verifies() {
        let key = TicketKey::new("s3cret");
        let t = key.mint(&claims());
        assert_eq!(key.verify(&t, "meadow", 999), Ok(claims()));
    }

    #[test]
    fn forged_expired_and_wrong_zone_tickets_fail() {
        let key = TicketKey::new("s3cret");
        let t = TicketKey::new("other").mint(&claims());
        assert_eq!(key.verify(&t, "meadow", 0), Err(TicketError::BadSignature));
        let t = key.mint(&claims());
        assert!(matches!(
            key.verify(&t, "meadow", 1000),
            Err(TicketError::Expired { .. })
        ));
        assert!(matches!(
            key.verify(&t, "cave", 0),
            Err(TicketError::WrongZone { .. })
        ));
        // Tampering with the body breaks the signature.
        let mut forged = claims();
        forged.player_id = 1;
        let body = URL_SAFE_NO_PAD.encode(wire::encode_to_vec(&forged).unwrap());
        let tag = t.split_once('.').unwrap().1;
        assert_eq!(
            key.verify(&format!("{body}.{tag}"), "meadow", 0),
            Err(TicketError::BadSignature)
        );
        for junk in ["", ".", "abc", "a.b.c", "!!!.???"] {
            assert!(key.verify(junk, "meadow", 0).is_err());
        }
    }
}
