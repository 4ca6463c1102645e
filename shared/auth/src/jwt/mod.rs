//! Verification of dotted bearer tokens (a `.` tells them from hub API tokens): JWTs of
//! configured external issuers and the hub's own revocable JWTs.
//!
//! The issuer is picked from the unverified `iss` claim, then everything is checked against
//! that issuer only: its algorithm allow-list (never HMAC for external issuers, never `none`),
//! its keys, `exp` (required), `iss` and `aud`.

mod hub;
mod keys;

pub(crate) use hub::HubJwt;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::config::AuthConfig;
use crate::config::ConfigError;
use keys::{IssuerKey, load_issuer_keys};

/// Longest JWT accepted, in bytes: far above real tokens, bounds work for unauthenticated input.
const MAX_JWT_LEN: usize = 16 * 1024;

/// A verified JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VerifiedJwt {
    /// From an external issuer.
    External {
        username: String,
        scope: Vec<String>,
    },
    /// Minted by this hub; still to be checked against the revocation records.
    Hub {
        username: String,
        scope: Vec<String>,
        jti: uuid::Uuid,
    },
}

/// The JWT failed a check. Deliberately without detail: the client only ever sees
/// `invalid token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidJwt;

struct Issuer {
    name: String,
    algorithms: Vec<Algorithm>,
    keys: Vec<IssuerKey>,
    validation: Validation,
}

/// All JWT issuers the hub trusts.
pub(crate) struct JwtVerifier {
    issuers: Vec<Issuer>,
    hub: Option<HubJwt>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field(
                "issuers",
                &self
                    .issuers
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("hub", &self.hub.as_ref().map(|hub| hub.issuer.as_str()))
            .finish()
    }
}

#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct IdentityClaims {
    username: String,
    #[serde(default)]
    scope: Vec<String>,
}

impl JwtVerifier {
    /// Build from the configuration, reading key files.
    pub(crate) async fn new(config: &AuthConfig) -> Result<Self, ConfigError> {
        let mut issuers = Vec::with_capacity(config.jwt_issuers.len());
        for (index, issuer) in config.jwt_issuers.iter().enumerate() {
            let key = format!("jwt_issuers[{index}]");
            let keys = load_issuer_keys(&key, &issuer.keys, &issuer.algorithms).await?;
            let algorithms: Vec<Algorithm> = issuer
                .algorithms
                .iter()
                .map(|a| a.to_jsonwebtoken())
                .collect();
            let mut validation = Validation::new(Algorithm::RS256);
            validation.algorithms.clone_from(&algorithms);
            validation.set_issuer(&[&issuer.issuer]);
            validation.set_audience(&issuer.audiences);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            validation.validate_nbf = true;
            // jsonwebtoken's default leeway is 60 s: an expired token would keep working a minute.
            validation.leeway = config.clock_skew.as_secs();
            issuers.push(Issuer {
                name: issuer.issuer.clone(),
                algorithms,
                keys,
                validation,
            });
        }
        Ok(Self {
            issuers,
            hub: config
                .hub_jwt
                .as_ref()
                .map(|hub| HubJwt::new(hub, config.clock_skew)),
        })
    }

    /// The hub's own issuer, when configured.
    pub(crate) fn hub(&self) -> Option<&HubJwt> {
        self.hub.as_ref()
    }

    /// Verify a dotted bearer token.
    pub(crate) fn verify(&self, token: &str) -> Result<VerifiedJwt, InvalidJwt> {
        if token.len() > MAX_JWT_LEN {
            return Err(InvalidJwt);
        }
        // Fails for `alg: none` and any algorithm the library does not know.
        let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidJwt)?;
        let claimed: UnverifiedIssuer =
            jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| InvalidJwt)?;
        let iss = claimed.iss.ok_or(InvalidJwt)?;

        if let Some(hub) = self.hub.as_ref().filter(|hub| hub.issuer == iss) {
            let claims = hub.verify(token).ok_or(InvalidJwt)?;
            return Ok(VerifiedJwt::Hub {
                username: claims.username,
                scope: claims.scope,
                jti: claims.jti,
            });
        }

        let issuer = self
            .issuers
            .iter()
            .find(|issuer| issuer.name == iss)
            .ok_or(InvalidJwt)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(InvalidJwt);
        }
        let mut validation = issuer.validation.clone();
        // Verify with exactly the header's algorithm against keys of its family.
        validation.algorithms = vec![header.alg];
        let claims = issuer
            .keys
            .iter()
            .filter(|key| key.matches(header.alg, header.kid.as_deref()))
            .find_map(|key| {
                jsonwebtoken::decode::<IdentityClaims>(token, &key.key, &validation).ok()
            })
            .ok_or(InvalidJwt)?
            .claims;
        Ok(VerifiedJwt::External {
            username: claims.username,
            scope: claims.scope,
        })
    }
}

/// Accounts granted by a JWT's scope: `<org>` of every `user:memberof:<org>` entry (further
/// `:`-separated fields are ignored, as the original did).
///
/// Deliberate deviation from the original, which granted the third field of *any* scope
/// entry with at least three fields: an identity provider's `user:email:bob` then let its holder
/// act as `bob`. Only membership scopes name accounts.
pub(crate) fn scope_accounts<'a>(scope: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
    scope.iter().filter_map(|entry| {
        let mut fields = entry.split(':');
        match (fields.next(), fields.next(), fields.next()) {
            (Some("user"), Some("memberof"), Some(org)) => Some(org),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(scope: &[&str]) -> Vec<String> {
        let scope: Vec<String> = scope.iter().map(|s| (*s).to_owned()).collect();
        scope_accounts(&scope).map(str::to_owned).collect()
    }

    #[test]
    fn only_membership_scopes_grant_accounts() {
        assert_eq!(
            accounts(&["user:memberof:acme", "user:memberof:org:admin"]),
            ["acme", "org"]
        );
        for other in [
            "user:email:bob",
            "user:name:bob",
            "a:b:c",
            "user:memberof",
            "bob",
        ] {
            assert!(accounts(&[other]).is_empty(), "{other}");
        }
    }
}
