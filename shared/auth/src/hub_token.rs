//! The original hub's API tokens ("3bot tokens"): URL-safe Base64 of an Ed25519 signature
//! followed by the signed payload `["<user>", <unix time>]`.
//!
//! The exact payload bytes matter: existing tokens were minted by Python and must keep verifying,
//! and minting must reproduce the contract's test vector byte for byte (hub-api §4.3: seed
//! `00 01 … 1f`, payload `["alice.3bot", 1700000000]`).

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use ed25519_dalek::{Signature, Signer as _, SigningKey};

/// Length of the Ed25519 signature that starts every decoded token.
pub const SIGNATURE_LEN: usize = 64;

/// Longest token accepted, in characters; real tokens are ~120. Bounds the work an
/// unauthenticated caller can cause.
const MAX_TOKEN_LEN: usize = 4096;

/// The original hub emitted padded tokens; clients and copy-paste sometimes drop the padding.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a verified hub token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTokenClaims {
    /// The user the token was minted for (its repository, e.g. `alice.3bot`).
    pub user: String,
    /// When it was minted, in Unix seconds.
    pub issued_at: i64,
}

/// A hub token that failed to decode or verify. The guard answers 401 `invalid signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature")]
pub struct InvalidHubToken;

/// The Ed25519 key derived from the configuration value `threebot-seed`.
#[derive(Clone)]
pub struct HubTokenKey {
    signing: SigningKey,
}

impl fmt::Debug for HubTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubTokenKey")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl HubTokenKey {
    /// Derive the key pair from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The public half, as 32 raw bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Mint a token for `user` dated `issued_at` (Unix seconds).
    pub fn mint(&self, user: &str, issued_at: i64) -> String {
        let payload = python_json_payload(user, issued_at);
        let signature = self.signing.sign(payload.as_bytes());
        let mut raw = Vec::with_capacity(SIGNATURE_LEN + payload.len());
        raw.extend_from_slice(&signature.to_bytes());
        raw.extend_from_slice(payload.as_bytes());
        URL_SAFE.encode(raw)
    }

    /// Decode a token and check its signature. Age and revocation are the caller's business.
    pub fn verify(&self, token: &str) -> Result<HubTokenClaims, InvalidHubToken> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(InvalidHubToken);
        }
        let raw = URL_SAFE_ANY_PADDING
            .decode(token)
            .map_err(|_| InvalidHubToken)?;
        let (signature, payload) = raw
            .split_first_chunk::<SIGNATURE_LEN>()
            .ok_or(InvalidHubToken)?;
        // Strict verification refuses small-order keys and non-canonical signatures, which
        // libsodium (the original's verifier) refuses too.
        self.signing
            .verifying_key()
            .verify_strict(payload, &Signature::from_bytes(signature))
            .map_err(|_| InvalidHubToken)?;
        parse_payload(payload).ok_or(InvalidHubToken)
    }
}

/// Mint a hub token for `user` at `now` (Unix seconds) with the key of `seed`
/// (`threebot-seed`). The admin CLI and the `/callback_token` route use it.
pub fn mint_hub_token(seed: &[u8; 32], user: &str, now: i64) -> String {
    HubTokenKey::from_seed(seed).mint(user, now)
}

/// `json.dumps([user, ts])` as Python writes it: `", "` between items and non-ASCII escaped as
/// `\uXXXX` (UTF-16 units, lower-case hex), so tokens match the original hub's exactly.
fn python_json_payload(user: &str, issued_at: i64) -> String {
    let mut out = String::with_capacity(user.len() + 24);
    out.push_str("[\"");
    for c in user.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            // DEL is ASCII and Python leaves it raw.
            '\u{7f}' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push_str("\", ");
    out.push_str(&issued_at.to_string());
    out.push(']');
    out
}

/// Element 0 is the user, element 1 the timestamp. Floats are accepted because any Python
/// number serialised there would be.
fn parse_payload(payload: &[u8]) -> Option<HubTokenClaims> {
    let items: Vec<serde_json::Value> = serde_json::from_slice(payload).ok()?;
    let user = items.first()?.as_str()?.to_owned();
    let stamp = items.get(1)?;
    let issued_at = match stamp.as_i64() {
        Some(seconds) => seconds,
        None => {
            let seconds = stamp.as_f64()?.floor();
            if !seconds.is_finite() || seconds.abs() > 1e15 {
                return None;
            }
            // In range by the check above, so the cast is exact.
            seconds as i64
        }
    };
    if user.is_empty() {
        return None;
    }
    Some(HubTokenClaims { user, issued_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_seed() -> [u8; 32] {
        let mut seed = [0u8; 32];
        for (byte, value) in seed.iter_mut().zip(0u8..) {
            *byte = value;
        }
        seed
    }

    const VECTOR_TOKEN: &str = "ih-9RMT5ifHrRN7LA5_SkRrwKQdUD89mCW9puBM_4231LEcGn9KWKEAxxvicz9PwUOGJ-EmSHyvwNz_x1GQjA1siYWxpY2UuM2JvdCIsIDE3MDAwMDAwMDBd";

    #[test]
    fn reproduces_the_spec_test_vector() {
        let key = HubTokenKey::from_seed(&vector_seed());
        assert_eq!(
            hex::encode(key.public_key()),
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
        );
        let token = mint_hub_token(&vector_seed(), "alice.3bot", 1_700_000_000);
        assert_eq!(token, VECTOR_TOKEN);
        let raw = URL_SAFE.decode(&token).expect("vector decodes");
        assert_eq!(
            hex::encode(&raw[..SIGNATURE_LEN]),
            "8a1fbd44c4f989f1eb44decb039fd2911af02907540fcf66096f69b8133fe36d\
             f52c47069fd296284031c6f89ccfd3f050e189f849921f2bf0373ff1d4642303"
        );
        assert_eq!(&raw[SIGNATURE_LEN..], br#"["alice.3bot", 1700000000]"#);
    }

    #[test]
    fn verifies_the_vector_with_and_without_padding() {
        let key = HubTokenKey::from_seed(&vector_seed());
        let expected = HubTokenClaims {
            user: "alice.3bot".into(),
            issued_at: 1_700_000_000,
        };
        assert_eq!(key.verify(VECTOR_TOKEN), Ok(expected.clone()));
        // A payload length that needs padding, with and without it.
        let token = key.mint("carol", 42);
        assert!(token.ends_with('='));
        assert_eq!(key.verify(&token).map(|c| c.user), Ok("carol".to_owned()));
        assert_eq!(
            key.verify(token.trim_end_matches('=')).map(|c| c.issued_at),
            Ok(42)
        );
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let key = HubTokenKey::from_seed(&vector_seed());
        let raw = URL_SAFE.decode(VECTOR_TOKEN).expect("vector decodes");
        for index in [0, 10, SIGNATURE_LEN - 1, SIGNATURE_LEN + 3, raw.len() - 2] {
            let mut bad = raw.clone();
            bad[index] ^= 0x01;
            assert_eq!(
                key.verify(&URL_SAFE.encode(&bad)),
                Err(InvalidHubToken),
                "{index}"
            );
        }
    }

    #[test]
    fn foreign_keys_and_garbage_are_refused() {
        let other = HubTokenKey::from_seed(&[7u8; 32]);
        assert_eq!(other.verify(VECTOR_TOKEN), Err(InvalidHubToken));
        let key = HubTokenKey::from_seed(&vector_seed());
        for garbage in ["", "abc", "!!!!", &"A".repeat(MAX_TOKEN_LEN + 4)] {
            assert_eq!(key.verify(garbage), Err(InvalidHubToken));
        }
        // Correctly signed but not the expected payload shape.
        let sign = |payload: &[u8]| {
            let mut raw = key.signing.sign(payload).to_bytes().to_vec();
            raw.extend_from_slice(payload);
            URL_SAFE.encode(raw)
        };
        for payload in [&b"{}"[..], b"[\"\", 1]", b"[1, 2]", b"[\"a\"]", b"not json"] {
            assert_eq!(key.verify(&sign(payload)), Err(InvalidHubToken));
        }
        assert_eq!(
            key.verify(&sign(b"[\"a\", 12.7]")).map(|c| c.issued_at),
            Ok(12)
        );
    }

    #[test]
    fn payload_escapes_like_python() {
        assert_eq!(
            python_json_payload("é\u{2028}😀\u{1f}\"\\", 1),
            r#"["\u00e9\u2028\ud83d\ude00\u001f\"\\", 1]"#
        );
        let key = HubTokenKey::from_seed(&[1u8; 32]);
        let user = "üser😀";
        assert_eq!(
            key.verify(&key.mint(user, -5)).map(|c| c.user),
            Ok(user.into())
        );
    }
}
