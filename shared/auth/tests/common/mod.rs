//! Helpers shared by the integration tests: a full configuration, test keys and JWT signing.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hub_auth::config::{
    AuthConfig, HubJwtConfig, JwtAlgorithm, JwtIssuerConfig, Key32, KeySource, SecretBytes,
    SecretString,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const EXTERNAL_ISSUER: &str = "https://id.example";
pub const AUDIENCE: &str = "hub.example";
pub const HUB_ISSUER: &str = "hub.example";
pub const HUB_SECRET: &[u8] = b"hub-secret-hub-secret-hub-secret-0123";
pub const GUEST_TOKEN: &str = "guest-secret";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture exists")
}

/// The seed of the contract's hub-token test vector (hub-api §4.3: the token for
/// `["alice.3bot", 1700000000]` under this seed): bytes 00..1f.
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (byte, value) in seed.iter_mut().zip(0u8..) {
        *byte = value;
    }
    seed
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Every authentication method configured.
pub fn config() -> AuthConfig {
    let ed_public = String::from_utf8(read_fixture("ed25519-public.pem")).expect("utf-8 pem");
    AuthConfig {
        guest_token: Some(SecretString::new(GUEST_TOKEN)),
        threebot_seed: Some(Key32::new(seed())),
        token_max_age: Duration::from_secs(30 * 86400),
        threebot_users_map: BTreeMap::from([(
            "official-apps".to_owned(),
            "tfofficial.3bot".to_owned(),
        )]),
        hub_jwt: Some(HubJwtConfig {
            issuer: HUB_ISSUER.into(),
            secret: SecretBytes::new(HUB_SECRET),
            default_ttl: Duration::from_secs(3600),
        }),
        jwt_issuers: vec![JwtIssuerConfig {
            issuer: EXTERNAL_ISSUER.into(),
            audiences: vec![AUDIENCE.into(), "other-audience".into()],
            algorithms: vec![
                JwtAlgorithm::ES384,
                JwtAlgorithm::RS256,
                JwtAlgorithm::EdDSA,
            ],
            keys: vec![
                KeySource::PemFile(fixture("es384-public.pem")),
                KeySource::PemFile(fixture("rs256-public.pem")),
                KeySource::Pem(ed_public),
            ],
        }],
        ..AuthConfig::default()
    }
}

/// Claims of a valid external token for `username`.
pub fn claims(username: &str, scope: &[&str]) -> Value {
    json!({
        "username": username,
        "scope": scope,
        "iss": EXTERNAL_ISSUER,
        "aud": AUDIENCE,
        "exp": now() + 3600,
        "iat": now(),
    })
}

/// Sign `claims` with a private key fixture.
pub fn sign(algorithm: Algorithm, private_fixture: &str, claims: &Value) -> String {
    sign_with_kid(algorithm, private_fixture, claims, None)
}

pub fn sign_with_kid(
    algorithm: Algorithm,
    private_fixture: &str,
    claims: &Value,
    kid: Option<&str>,
) -> String {
    let pem = read_fixture(private_fixture);
    let key = match algorithm {
        Algorithm::ES384 | Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        other => panic!("no fixture for {other:?}"),
    }
    .expect("fixture is a private key");
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).expect("signing works")
}

/// HMAC-SHA256 "signature" with an arbitrary secret: the key-confusion attack uses a public key.
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signing works")
}

/// A token with `alg: none` and an empty signature, built by hand (libraries refuse to).
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

/// Replace the payload segment of a signed token, keeping its header and signature.
pub fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("header segment");
    let _ = parts.next();
    let signature = parts.next().expect("signature segment");
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.{signature}")
}

pub fn bearer(token: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("Bearer {token}")).expect("valid header")
}
