//! The hub's own JWTs: HS256 with the hub secret, `iss` = `aud` = the hub issuer, and a `jti`
//! recorded in PostgreSQL so each token can be revoked.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::HubJwtConfig;

/// Claims of a hub-minted JWT. `username` and `scope` are the claims every bearer JWT carries
/// (the original's itsyou.online tokens did).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HubClaims {
    pub(crate) username: String,
    pub(crate) scope: Vec<String>,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) iss: String,
    pub(crate) aud: String,
    pub(crate) jti: Uuid,
}

/// Signs and verifies the hub's JWTs.
#[derive(Clone)]
pub(crate) struct HubJwt {
    pub(crate) issuer: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl HubJwt {
    /// `clock_skew` is the `exp` leeway (jsonwebtoken's default is a whole minute).
    pub(crate) fn new(config: &HubJwtConfig, clock_skew: Duration) -> Self {
        let secret = config.secret.expose();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = clock_skew.as_secs();
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Self {
            issuer: config.issuer.clone(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Claims for a new token of `username`.
    pub(crate) fn claims(&self, username: &str, jti: Uuid, iat: i64, exp: i64) -> HubClaims {
        HubClaims {
            username: username.to_owned(),
            // Organisation accounts come from PostgreSQL at each request, so that removing a
            // membership takes effect on tokens already handed out.
            scope: Vec::new(),
            exp,
            iat,
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            jti,
        }
    }

    pub(crate) fn sign(&self, claims: &HubClaims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Check signature, `exp`, `iss` and `aud`. Only HS256 is accepted, with the hub secret.
    pub(crate) fn verify(&self, token: &str) -> Option<HubClaims> {
        jsonwebtoken::decode::<HubClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}
