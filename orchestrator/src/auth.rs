//! Who is logging in: development identity by name, or a JWT from a real identity
//! provider (HS256 with a shared secret, or RS256/ES256/EdDSA with the provider's
//! public key in PEM), verified for signature, expiry, issuer and audience. The
//! player's identity is the token's `sub`.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use arcane_control_api::LoginRequest;

/// How logins are authenticated.
#[derive(Clone)]
pub enum IdentityProvider {
    /// Development: the requested name is the identity. Never for production.
    Dev,
    /// A login must carry a `token` the provider signed.
    Jwt {
        key: DecodingKey,
        validation: Box<Validation>,
    },
}

impl std::fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityProvider::Dev => f.write_str("Dev"),
            IdentityProvider::Jwt { validation, .. } => f
                .debug_struct("Jwt")
                .field("algorithms", &validation.algorithms)
                .field("iss", &validation.iss)
                .field("aud", &validation.aud)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The request itself is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid proof of identity (401).
    #[error("{0}")]
    Unauthorized(String),
}

/// Claims read from a provider's token.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    sub: String,
}

/// Player names and party names: 1–32 letters, digits, `_` or `-`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl IdentityProvider {
    /// HS256 tokens signed with `secret`.
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Self {
        Self::jwt(
            DecodingKey::from_secret(secret),
            Algorithm::HS256,
            issuer,
            audience,
        )
    }

    /// Tokens signed by the provider whose public key (PEM) is at `path`, with
    /// `algorithm` (RS256…PS512, ES256/ES384 or EdDSA).
    pub fn public_key(
        path: &Path,
        algorithm: Algorithm,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> anyhow::Result<Self> {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read JWT key {}: {e}", path.display()))?;
        use Algorithm::*;
        let key = match algorithm {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => DecodingKey::from_rsa_pem(&pem),
            ES256 | ES384 => DecodingKey::from_ec_pem(&pem),
            EdDSA => DecodingKey::from_ed_pem(&pem),
            HS256 | HS384 | HS512 => {
                anyhow::bail!("{algorithm:?} uses a shared secret (--jwt-secret), not a key file")
            }
            other => anyhow::bail!("JWT algorithm {other:?} is not supported"),
        }
        .map_err(|e| {
            anyhow::anyhow!("JWT key {} is not a {algorithm:?} key: {e}", path.display())
        })?;
        Ok(Self::jwt(key, algorithm, issuer, audience))
    }

    fn jwt(
        key: DecodingKey,
        algorithm: Algorithm,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        IdentityProvider::Jwt {
            key,
            validation: Box::new(validation),
        }
    }

    /// The identity (player name) of a login request, checking its party name too.
    pub fn authenticate(&self, req: &LoginRequest) -> Result<String, AuthError> {
        if let Some(p) = &req.party
            && !p.is_empty()
            && !valid_name(p)
        {
            return Err(AuthError::BadRequest(
                "party must be up to 32 letters, digits, '_' or '-'".into(),
            ));
        }
        let name = match self {
            IdentityProvider::Dev => req.name.trim().to_string(),
            IdentityProvider::Jwt { key, validation } => {
                let token = req.token.as_deref().ok_or_else(|| {
                    AuthError::Unauthorized("a token from the identity provider is required".into())
                })?;
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|e| AuthError::Unauthorized(format!("token refused: {e}")))?;
                data.claims.sub
            }
        };
        if !valid_name(&name) {
            return Err(AuthError::BadRequest(
                "name must be 1-32 letters, digits, '_' or '-'".into(),
            ));
        }
        Ok(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn req(name: &str, token: Option<String>) -> LoginRequest {
        LoginRequest {
            name: name.into(),
            party: None,
            token,
        }
    }

    fn token(secret: &[u8], claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn in_an_hour() -> u64 {
        arcane_service::unix_ms() / 1000 + 3600
    }

    #[test]
    fn dev_identity_is_the_checked_name() {
        let dev = IdentityProvider::Dev;
        assert_eq!(dev.authenticate(&req(" ann ", None)), Ok("ann".into()));
        assert!(matches!(
            dev.authenticate(&req("a b", None)),
            Err(AuthError::BadRequest(_))
        ));
        let mut r = req("ann", None);
        r.party = Some("x".repeat(33));
        assert!(matches!(
            dev.authenticate(&r),
            Err(AuthError::BadRequest(_))
        ));
    }

    #[test]
    fn a_jwt_identity_is_its_subject_and_everything_else_is_refused() {
        let p = IdentityProvider::hs256(b"s3cret", Some("https://id.example"), Some("arcane"));
        let good = serde_json::json!({
            "sub": "ann", "exp": in_an_hour(), "iss": "https://id.example", "aud": "arcane"
        });
        // The name in the request is ignored: the token says who this is.
        let t = token(b"s3cret", good.clone());
        assert_eq!(p.authenticate(&req("mallory", Some(t))), Ok("ann".into()));
        let refused = |r: LoginRequest| {
            let e = p.authenticate(&r);
            assert!(matches!(e, Err(AuthError::Unauthorized(_))), "{e:?}");
        };
        refused(req("ann", None));
        refused(req("ann", Some("not-a-jwt".into())));
        refused(req("ann", Some(token(b"other", good.clone()))));
        let mut expired = good.clone();
        expired["exp"] = serde_json::json!(arcane_service::unix_ms() / 1000 - 3600);
        refused(req("ann", Some(token(b"s3cret", expired))));
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = serde_json::json!("another-game");
        refused(req("ann", Some(token(b"s3cret", wrong_aud))));
        let mut wrong_iss = good.clone();
        wrong_iss["iss"] = serde_json::json!("https://evil.example");
        refused(req("ann", Some(token(b"s3cret", wrong_iss))));
        let mut no_sub = good;
        no_sub.as_object_mut().unwrap().remove("sub");
        refused(req("ann", Some(token(b"s3cret", no_sub))));
    }

    #[test]
    fn an_unusable_subject_is_a_bad_request() {
        let p = IdentityProvider::hs256(b"k", None, None);
        let t = token(b"k", serde_json::json!({"sub": "a b", "exp": in_an_hour()}));
        assert!(matches!(
            p.authenticate(&req("", Some(t))),
            Err(AuthError::BadRequest(_))
        ));
    }

    #[test]
    fn an_es256_public_key_verifies_the_providers_tokens() {
        let dir = tempfile::Builder::new()
            .prefix("arcane-jwt-")
            .tempdir()
            .unwrap();
        let public = dir.path().join("provider.pem");
        std::fs::write(&public, TEST_EC_PUBLIC).unwrap();
        let p = IdentityProvider::public_key(&public, Algorithm::ES256, None, None).unwrap();
        let claims = serde_json::json!({"sub": "bob", "exp": in_an_hour()});
        let signed = encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_pem(TEST_EC_PRIVATE.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(p.authenticate(&req("", Some(signed))), Ok("bob".into()));
        // An HS256 token with the public key as its secret (the classic algorithm
        // confusion attack) is refused.
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(TEST_EC_PUBLIC.as_bytes()),
        )
        .unwrap();
        assert!(p.authenticate(&req("", Some(forged))).is_err());
        // A key of the wrong kind is a clear start-up error.
        let e = IdentityProvider::public_key(&public, Algorithm::RS256, None, None);
        assert!(e.unwrap_err().to_string().contains("not a RS256 key"));
    }

    /// A P-256 key pair made for this test only (`openssl ecparam -name prime256v1`).
    const TEST_EC_PRIVATE: &str = include_str!("../tests/data/jwt-test-ec-private.pem");
    const TEST_EC_PUBLIC: &str = include_str!("../tests/data/jwt-test-ec-public.pem");
}
