//! ThreeFold Connect ("3bot") login (hub-api §4.10: the login protocol): the redirect to the
//! login service and the verification of what it sends back to `/callback_threebot` and
//! `/callback_token`.
//!
//! Everything here is pure except the lookup of the user's public key, which the caller
//! provides (the gateway fetches [`user_lookup_url`] and parses it with
//! [`parse_user_public_key`]).

use std::future::Future;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::Aead as _;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use ed25519_dalek::{Signature, VerifyingKey};
use http::StatusCode;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::config::ThreebotLoginConfig;

/// Length of the login `state`: 32 random characters from `[A-Za-z0-9]`, as the original sent.
pub const STATE_LEN: usize = 32;

/// Longest `signedAttempt` accepted, in bytes; real ones are well under 2 KiB. Bounds the work an
/// unauthenticated callback can cause.
const MAX_SIGNED_ATTEMPT_LEN: usize = 64 * 1024;

/// Why a login callback was refused. `message()` is the plain-text body the original answered
/// with, `status()` the HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The login service reported an error (`?error=…`, step 3.1).
    #[error("Authentication failed: {}", quote(.0))]
    Refused(String),
    /// `signedAttempt` missing or not the expected JSON (steps 3.2, 3.3).
    #[error("Could not parse server response")]
    Parse,
    /// The user's public key could not be obtained (step 3.4). Not in the original, which
    /// crashed; answered with 502 because the fault is upstream.
    #[error("Could not fetch user public key")]
    PublicKey(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The inner signature does not verify with the user's key (step 3.5).
    #[error("Unable to verify state signature, denied.")]
    Signature,
    /// The signed state or name differs from what this hub sent (step 3.6).
    #[error("Invalid state received. Cannot authenticate request!")]
    State,
    /// The encrypted payload cannot be opened (step 3.7).
    #[error("Unable to decrypt payload, denied.")]
    Decrypt,
    /// The user's e-mail address is not verified (step 3.8).
    #[error("Email unverified, access denied.")]
    EmailUnverified,
}

impl CallbackError {
    /// HTTP status of the plain-text answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::PublicKey(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The plain-text body.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// A random login `state`: [`STATE_LEN`] characters of `[A-Za-z0-9]`.
pub fn random_state() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(STATE_LEN)
        .map(char::from)
        .collect()
}

/// The hub's X25519 public key, standard Base64, as sent to the login service.
pub fn hub_public_key(config: &ThreebotLoginConfig) -> String {
    STANDARD.encode(
        SecretKey::from(*config.private_key.expose())
            .public_key()
            .as_bytes(),
    )
}

/// Where to send the browser to log in (the login's first step). `callback` is
/// `/callback_threebot` or `/callback_token`; values are form-encoded as Python's `urlencode`
/// does.
pub fn login_redirect_url(config: &ThreebotLoginConfig, state: &str, callback: &str) -> String {
    format!(
        "{}/?appid={}&publickey={}&state={}&redirecturl={}&scope=%7B%7D",
        config.login_url.trim_end_matches('/'),
        quote_plus(&config.appid),
        quote_plus(&hub_public_key(config)),
        quote_plus(state),
        quote_plus(callback),
    )
}

/// Where the login service publishes the user's Ed25519 public key (`publicKey` of the JSON).
pub fn user_lookup_url(config: &ThreebotLoginConfig, double_name: &str) -> String {
    format!(
        "{}/api/users/{}",
        config.login_url.trim_end_matches('/'),
        // One path segment: `/` is escaped too.
        percent_encode(double_name, b"", false)
    )
}

/// Extract the Ed25519 key from the login service's user record (`{"publicKey": "<Base64>"}`).
pub fn parse_user_public_key(body: &[u8]) -> Result<[u8; 32], CallbackError> {
    #[derive(Deserialize)]
    struct UserRecord {
        #[serde(rename = "publicKey")]
        public_key: String,
    }
    let record: UserRecord =
        serde_json::from_slice(body).map_err(|e| CallbackError::PublicKey(Box::new(e)))?;
    let bytes = STANDARD
        .decode(record.public_key.trim())
        .map_err(|e| CallbackError::PublicKey(Box::new(e)))?;
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| CallbackError::PublicKey("public key is not 32 bytes".into()))
}

#[derive(Deserialize)]
struct OuterAttempt {
    #[serde(rename = "doubleName")]
    double_name: String,
    #[serde(rename = "signedAttempt")]
    signed_attempt: String,
}

#[derive(Deserialize)]
struct SignedMessage {
    #[serde(rename = "doubleName")]
    double_name: Option<String>,
    #[serde(rename = "signedState")]
    signed_state: Option<String>,
    data: Option<EncryptedData>,
}

#[derive(Deserialize)]
struct EncryptedData {
    nonce: String,
    ciphertext: String,
}

/// Verify the `signedAttempt` query value of a callback (signature by the user's key, the state
/// and double name it signed, the sealed payload, a verified e-mail if any) and return the
/// user's double name (`alice.3bot`).
///
/// `expected_state` is the state stored in the session when the login started.
/// `fetch_public_key` looks up the user's Ed25519 public key by double name
/// ([`user_lookup_url`]).
pub async fn verify_callback<F, Fut, E>(
    config: &ThreebotLoginConfig,
    signed_attempt_json: &str,
    expected_state: &str,
    fetch_public_key: F,
) -> Result<String, CallbackError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<[u8; 32], E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if signed_attempt_json.len() > MAX_SIGNED_ATTEMPT_LEN {
        return Err(CallbackError::Parse);
    }
    let outer: OuterAttempt =
        serde_json::from_str(signed_attempt_json).map_err(|_| CallbackError::Parse)?;
    let user_key = fetch_public_key(outer.double_name.clone())
        .await
        .map_err(|e| CallbackError::PublicKey(e.into()))?;
    let message = open_signed(&user_key, &outer.signed_attempt)?;
    let message: SignedMessage =
        serde_json::from_slice(&message).map_err(|_| CallbackError::Parse)?;

    // new (hub-api D9): the signed state must be the one this hub issued, for the same user.
    let state_matches = message
        .signed_state
        .as_deref()
        .is_some_and(|state| bool::from(state.as_bytes().ct_eq(expected_state.as_bytes())));
    let name_matches = message.double_name.as_deref() == Some(outer.double_name.as_str());
    if expected_state.is_empty() || !state_matches || !name_matches {
        return Err(CallbackError::State);
    }

    let data = message.data.ok_or(CallbackError::Decrypt)?;
    let plaintext = decrypt(config, &user_key, &data)?;
    check_email(&plaintext)?;
    Ok(outer.double_name)
}

/// Base64 of `signature (64 bytes) ‖ message`, as libsodium's `crypto_sign` produces.
fn open_signed(user_key: &[u8; 32], signed_b64: &str) -> Result<Vec<u8>, CallbackError> {
    let raw = STANDARD
        .decode(signed_b64.trim())
        .map_err(|_| CallbackError::Signature)?;
    let (signature, message) = raw
        .split_first_chunk::<64>()
        .ok_or(CallbackError::Signature)?;
    let key = VerifyingKey::from_bytes(user_key).map_err(|_| CallbackError::Signature)?;
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| CallbackError::Signature)?;
    Ok(message.to_vec())
}

/// NaCl box (Curve25519-XSalsa20-Poly1305) from the user's key, converted from Ed25519 to X25519,
/// to the hub's X25519 key.
fn decrypt(
    config: &ThreebotLoginConfig,
    user_key: &[u8; 32],
    data: &EncryptedData,
) -> Result<Vec<u8>, CallbackError> {
    let nonce = STANDARD
        .decode(data.nonce.trim())
        .ok()
        .and_then(|bytes| <[u8; 24]>::try_from(bytes).ok())
        .ok_or(CallbackError::Decrypt)?;
    let ciphertext = STANDARD
        .decode(data.ciphertext.trim())
        .map_err(|_| CallbackError::Decrypt)?;
    let user_x25519 = VerifyingKey::from_bytes(user_key)
        .map_err(|_| CallbackError::Decrypt)?
        .to_montgomery()
        .to_bytes();
    let hub_secret = SecretKey::from(*config.private_key.expose());
    SalsaBox::new(&PublicKey::from(user_x25519), &hub_secret)
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map_err(|_| CallbackError::Decrypt)
}

/// Step 3.8: a payload with an `email` must carry a verification (the login service puts a
/// signature in `verified` once the address is confirmed, and `null` before).
fn check_email(plaintext: &[u8]) -> Result<(), CallbackError> {
    let payload: serde_json::Value =
        serde_json::from_slice(plaintext).map_err(|_| CallbackError::Parse)?;
    match payload.get("email") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(email) => match email.get("verified") {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => {
                Err(CallbackError::EmailUnverified)
            }
            Some(_) => Ok(()),
        },
    }
}

/// Python's `urllib.parse.quote_plus` with its default safe set: form encoding.
fn quote_plus(value: &str) -> String {
    percent_encode(value, b"", true)
}

/// Python's `urllib.parse.quote` with its default safe `/`.
fn quote(value: &str) -> String {
    percent_encode(value, b"/", false)
}

fn percent_encode(value: &str, safe: &[u8], space_as_plus: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &byte in value.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' if space_as_plus => out.push('+'),
            byte if safe.contains(&byte) => out.push(char::from(byte)),
            byte => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Key32;

    fn config() -> ThreebotLoginConfig {
        ThreebotLoginConfig {
            login_url: "https://login.threefold.me".into(),
            appid: "hub.grid.tf".into(),
            private_key: Key32::new([9u8; 32]),
        }
    }

    #[test]
    fn redirect_url_has_the_original_shape() {
        let config = config();
        let state = "AbC123";
        let url = login_redirect_url(&config, state, "/callback_threebot");
        let key = hub_public_key(&config);
        let encoded_key = key
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert_eq!(
            url,
            format!(
                "https://login.threefold.me/?appid=hub.grid.tf&publickey={encoded_key}\
                 &state=AbC123&redirecturl=%2Fcallback_threebot&scope=%7B%7D"
            )
        );
        let with_slash = ThreebotLoginConfig {
            login_url: "https://login.example/".into(),
            ..config
        };
        assert!(
            login_redirect_url(&with_slash, "s", "/callback_token")
                .starts_with("https://login.example/?appid=")
        );
    }

    #[test]
    fn quoting_matches_python() {
        assert_eq!(quote_plus("a b+c/d=e~f*"), "a+b%2Bc%2Fd%3De~f%2A");
        assert_eq!(quote("a b/c?é"), "a%20b/c%3F%C3%A9");
        assert_eq!(
            CallbackError::Refused("user cancelled".into()).message(),
            "Authentication failed: user%20cancelled"
        );
    }

    #[test]
    fn states_are_random_alphanumerics() {
        let a = random_state();
        let b = random_state();
        assert_eq!(a.len(), STATE_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn user_records_yield_the_key() {
        let key = [5u8; 32];
        let body = format!(
            r#"{{"publicKey": "{}", "doubleName": "a.3bot"}}"#,
            STANDARD.encode(key)
        );
        assert_eq!(parse_user_public_key(body.as_bytes()).ok(), Some(key));
        assert!(parse_user_public_key(b"{}").is_err());
        assert!(parse_user_public_key(br#"{"publicKey": "AAAA"}"#).is_err());
    }

    #[test]
    fn email_rule() {
        assert!(check_email(br#"{}"#).is_ok());
        assert!(check_email(br#"{"email": {"email": "a@b", "verified": "sig"}}"#).is_ok());
        for unverified in [
            &br#"{"email": {"email": "a@b", "verified": null}}"#[..],
            br#"{"email": {"email": "a@b"}}"#,
            br#"{"email": {"verified": false}}"#,
        ] {
            assert!(matches!(
                check_email(unverified),
                Err(CallbackError::EmailUnverified)
            ));
        }
    }

    #[test]
    fn callback_errors_have_catalogue_texts() {
        let cases = [
            (CallbackError::Parse, "Could not parse server response"),
            (
                CallbackError::Signature,
                "Unable to verify state signature, denied.",
            ),
            (
                CallbackError::State,
                "Invalid state received. Cannot authenticate request!",
            ),
            (CallbackError::Decrypt, "Unable to decrypt payload, denied."),
            (
                CallbackError::EmailUnverified,
                "Email unverified, access denied.",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.message(), text);
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        }
    }
}
