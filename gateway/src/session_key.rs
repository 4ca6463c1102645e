//! The key signing the website's session cookies, held in [`AppState`](crate::AppState):
//! `gateway.session_secret`, or derived from a persistent secret of `[auth]`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit as _, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;

use crate::config::GatewayConfig;

/// Shortest configured secret.
const MIN_SECRET_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The key signing session cookies.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl SessionKey {
    /// `gateway.session_secret`, else a key derived from a persistent secret of `[auth]`
    /// (a separate HMAC label, so the session key reveals nothing about it), else a random key
    /// with a warning: sessions then end when the process restarts.
    pub fn from_config(config: &GatewayConfig) -> Self {
        if let Some(secret) = config.gateway.session_secret.as_deref() {
            match decode_secret(secret) {
                Some(bytes) => return Self::derive(&bytes),
                None => tracing::error!(
                    "gateway.session_secret must be hex or Base64 of at least {MIN_SECRET_LEN} \
                     bytes; using a temporary key"
                ),
            }
        }
        let auth = &config.auth;
        if let Some(seed) = &auth.threebot_seed {
            return Self::derive(seed.expose());
        }
        if let Some(hub) = &auth.hub_jwt {
            return Self::derive(hub.secret.expose());
        }
        if auth.authentication {
            tracing::warn!(
                "no gateway.session_secret (nor auth.threebot_seed or auth.hub_jwt): website \
                 sessions will not survive a restart"
            );
        }
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        Self(random)
    }

    /// The key derived from `secret` (an HMAC under a label of its own).
    pub(crate) fn derive(secret: &[u8]) -> Self {
        let mut mac = mac(secret);
        mac.update(b"hub-gateway session cookie v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// The signature of `payload`.
    pub(crate) fn sign(&self, payload: &str) -> Vec<u8> {
        let mut mac = mac(&self.0);
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `tag` signs `payload` (compared in constant time).
    pub(crate) fn verify(&self, payload: &str, tag: &[u8]) -> bool {
        let mut mac = mac(&self.0);
        mac.update(payload.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(tag).is_ok()
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| STANDARD.decode(text).ok())
        .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())?;
    (bytes.len() >= MIN_SECRET_LEN).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_decode_from_hex_or_base64_with_a_minimum_length() {
        assert_eq!(decode_secret(&"ab".repeat(32)).map(|b| b.len()), Some(32));
        assert_eq!(
            decode_secret(&STANDARD.encode([1u8; 40])).map(|b| b.len()),
            Some(40)
        );
        assert_eq!(decode_secret("abcd"), None);
        assert_eq!(decode_secret("not a secret at all"), None);
    }
}
