//! Per-job registry credentials, sealed with AES-256-GCM between the gateway and the docker
//! workers so they never travel or rest in clear (NATS messages, job rows).
//!
//! Sealed form: `nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)` of the JSON
//! `{"username": …, "password": …}`, under the 32-byte `credentials_key` both sides share.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// Sealed credentials that do not open, or a malformed key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(String);

/// Bytes of the random nonce that prefixes a sealed value.
const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag AES-GCM appends.
const TAG_LEN: usize = 16;
/// Largest sealed value accepted (credentials are short; this bounds what a forged job can
/// make a worker decrypt).
const MAX_SEALED: usize = 64 * 1024;

/// A user name and password (or access token used as a password) for one registry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl Credentials {
    /// Credentials from their parts.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// Never prints the password, so credentials can sit in structures that are logged.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The 32-byte key shared by the gateway and the docker workers (`credentials_key`, 64 hex
/// characters in the configuration).
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialsKey([u8; 32]);

impl CredentialsKey {
    /// A key from its 64 hexadecimal characters.
    pub fn from_hex(text: &str) -> Result<Self, CredentialsError> {
        let bytes = hex::decode(text.trim())
            .map_err(|e| CredentialsError(format!("credentials_key is not hex: {e}")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            CredentialsError(format!(
                "credentials_key must be 32 bytes (64 hex characters), not {}",
                b.len()
            ))
        })?;
        Ok(CredentialsKey(key))
    }

    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CredentialsKey(bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

impl fmt::Debug for CredentialsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsKey(<redacted>)")
    }
}

/// Seals `credentials` under `key` with a fresh random nonce (two seals of the same
/// credentials differ).
pub fn seal_credentials(key: &CredentialsKey, credentials: &Credentials) -> Vec<u8> {
    // Serialising two strings cannot fail.
    let plain = serde_json::to_vec(credentials).unwrap_or_default();
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill(&mut nonce);
    // AES-GCM only fails for plaintexts above 64 GiB.
    let sealed = key
        .cipher()
        .encrypt(&nonce.into(), plain.as_slice())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens credentials sealed by [`seal_credentials`]. A wrong key, truncated or altered bytes
/// give a [`CredentialsError`] (the tag authenticates the whole value).
pub fn open_credentials(
    key: &CredentialsKey,
    sealed: &[u8],
) -> Result<Credentials, CredentialsError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CredentialsError("sealed credentials are too short".into()));
    }
    if sealed.len() > MAX_SEALED {
        return Err(CredentialsError("sealed credentials are too long".into()));
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CredentialsError("bad nonce".into()))?;
    let plain = key.cipher().decrypt(&nonce.into(), body).map_err(|_| {
        CredentialsError(
            "sealed credentials do not open with this key (credentials_key differs between the gateway and the worker?)"
                .into(),
        )
    })?;
    serde_json::from_slice(&plain)
        .map_err(|e| CredentialsError(format!("sealed credentials are malformed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CredentialsKey {
        CredentialsKey::from_bytes([byte; 32])
    }

    #[test]
    fn seal_and_open_round_trip() -> Result<(), CredentialsError> {
        let creds = Credentials::new("user", "p@ss:word");
        let sealed = seal_credentials(&key(1), &creds);
        let plain = serde_json::to_vec(&creds).map_err(|e| CredentialsError(e.to_string()))?;
        assert_eq!(sealed.len(), NONCE_LEN + plain.len() + TAG_LEN);
        assert_eq!(open_credentials(&key(1), &sealed)?, creds);
        assert_ne!(
            seal_credentials(&key(1), &creds),
            sealed,
            "random nonce per seal"
        );
        let text = String::from_utf8_lossy(&sealed);
        assert!(
            !text.contains("p@ss"),
            "nothing readable in the sealed form"
        );
        Ok(())
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        let sealed = seal_credentials(&key(1), &Credentials::new("u", "p"));
        assert!(open_credentials(&key(2), &sealed).is_err());
        let mut flipped = sealed.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        assert!(open_credentials(&key(1), &flipped).is_err());
        assert!(open_credentials(&key(1), &sealed[..20]).is_err());
        assert!(open_credentials(&key(1), &[]).is_err());
        assert!(open_credentials(&key(1), &vec![0; MAX_SEALED + 1]).is_err());
    }

    #[test]
    fn keys_from_hex() {
        let hex_key = "00".repeat(31) + "ff";
        assert!(CredentialsKey::from_hex(&hex_key).is_ok());
        assert!(CredentialsKey::from_hex("abcd").is_err());
        assert!(CredentialsKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let shown = format!("{:?}", Credentials::new("alice", "hunter2"));
        assert!(shown.contains("alice") && !shown.contains("hunter2"));
        assert!(!format!("{:?}", key(7)).contains("07"));
    }
}
