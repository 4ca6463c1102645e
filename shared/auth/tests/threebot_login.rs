//! ThreeFold Connect login end to end: a user key pair made here plays the app, builds a real
//! `signedAttempt` (Ed25519 signature, NaCl box to the hub), and tampered variants must fail.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::Aead as _;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use ed25519_dalek::{Signer as _, SigningKey};
use hub_auth::config::{Key32, ThreebotLoginConfig};
use hub_auth::threebot::{self, CallbackError};
use rand::RngCore as _;
use serde_json::{Value, json};

const NAME: &str = "alice.3bot";

struct App {
    user: SigningKey,
    hub: ThreebotLoginConfig,
}

impl App {
    fn new() -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let mut hub_key = [0u8; 32];
        rand::rng().fill_bytes(&mut hub_key);
        Self {
            user: SigningKey::from_bytes(&seed),
            hub: ThreebotLoginConfig {
                login_url: "https://login.threefold.me".into(),
                appid: "hub.example".into(),
                private_key: Key32::new(hub_key),
            },
        }
    }

    fn public_key(&self) -> [u8; 32] {
        self.user.verifying_key().to_bytes()
    }

    /// What the app does: encrypt `payload` to the hub's X25519 key (as published in the login
    /// URL) with the user's key converted to X25519.
    fn encrypt(&self, payload: &Value) -> Value {
        let hub_public = STANDARD
            .decode(threebot::hub_public_key(&self.hub))
            .expect("hub key is base64");
        let hub_public = PublicKey::from_slice(&hub_public).expect("32 bytes");
        let user_secret = SecretKey::from(self.user.to_scalar_bytes());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = SalsaBox::new(&hub_public, &user_secret)
            .encrypt(&nonce.into(), payload.to_string().as_bytes())
            .expect("encryption works");
        json!({"nonce": STANDARD.encode(nonce), "ciphertext": STANDARD.encode(ciphertext)})
    }

    fn sign(&self, message: &Value) -> String {
        let bytes = message.to_string().into_bytes();
        let mut signed = self.user.sign(&bytes).to_bytes().to_vec();
        signed.extend_from_slice(&bytes);
        STANDARD.encode(signed)
    }

    fn attempt(&self, outer_name: &str, inner: &Value) -> String {
        json!({"doubleName": outer_name, "signedAttempt": self.sign(inner)}).to_string()
    }

    fn message(&self, state: &str, payload: &Value) -> Value {
        json!({
            "doubleName": NAME,
            "signedState": state,
            "data": self.encrypt(payload),
            "randomRoom": "ignored",
            "appId": self.hub.appid,
        })
    }

    async fn verify(&self, attempt: &str, state: &str) -> Result<String, CallbackError> {
        let key = self.public_key();
        threebot::verify_callback(&self.hub, attempt, state, |name| async move {
            if name == NAME {
                Ok(key)
            } else {
                Err(format!("no such user {name}"))
            }
        })
        .await
    }
}

fn verified_email() -> Value {
    json!({"email": {"email": "alice@example.com", "verified": "signature"}})
}

#[tokio::test]
async fn a_genuine_attempt_yields_the_double_name() {
    let app = App::new();
    let state = threebot::random_state();
    let attempt = app.attempt(NAME, &app.message(&state, &verified_email()));
    assert_eq!(
        app.verify(&attempt, &state).await.ok().as_deref(),
        Some(NAME)
    );

    // A payload without an email is accepted too.
    let attempt = app.attempt(NAME, &app.message(&state, &json!({})));
    assert_eq!(
        app.verify(&attempt, &state).await.ok().as_deref(),
        Some(NAME)
    );
}

#[tokio::test]
async fn unparsable_responses() {
    let app = App::new();
    for attempt in ["", "not json", r#"{"doubleName": "alice.3bot"}"#, "[1]"] {
        let err = app.verify(attempt, "state").await.expect_err("unparsable");
        assert!(matches!(err, CallbackError::Parse), "{attempt}");
        assert_eq!(err.message(), "Could not parse server response");
        assert_eq!(err.status().as_u16(), 400);
    }
}

#[tokio::test]
async fn forged_signatures_are_denied() {
    let app = App::new();
    let state = threebot::random_state();
    let genuine = app.sign(&app.message(&state, &verified_email()));
    let raw = STANDARD.decode(&genuine).expect("base64");

    let mut variants = Vec::new();
    for index in [3, 64 + 5, raw.len() - 2] {
        let mut bad = raw.clone();
        bad[index] ^= 0x01;
        variants.push(STANDARD.encode(bad));
    }
    variants.push("%%%not base64".to_owned());
    variants.push(STANDARD.encode([0u8; 10]));
    // Signed by someone else's key.
    let impostor = App::new();
    variants.push(impostor.sign(&app.message(&state, &verified_email())));

    for signed in variants {
        let attempt = json!({"doubleName": NAME, "signedAttempt": signed}).to_string();
        let err = app.verify(&attempt, &state).await.expect_err("forged");
        assert!(matches!(err, CallbackError::Signature), "{err:?}");
        assert_eq!(err.message(), "Unable to verify state signature, denied.");
    }
}

#[tokio::test]
async fn state_and_name_must_match() {
    let app = App::new();
    let state = threebot::random_state();
    let message = app.message(&state, &verified_email());

    // Replayed with another session's state.
    let attempt = app.attempt(NAME, &message);
    let err = app
        .verify(&attempt, &threebot::random_state())
        .await
        .expect_err("wrong state");
    assert!(matches!(err, CallbackError::State));
    assert_eq!(
        err.message(),
        "Invalid state received. Cannot authenticate request!"
    );
    // No state stored in the session.
    assert!(matches!(
        app.verify(&attempt, "").await,
        Err(CallbackError::State)
    ));

    // Signed message for another name than the outer one (the key lookup uses the outer name,
    // so the outer name must be the key's owner for the signature to pass).
    let mut renamed = message.clone();
    renamed["doubleName"] = json!("mallory.3bot");
    assert!(matches!(
        app.verify(&app.attempt(NAME, &renamed), &state).await,
        Err(CallbackError::State)
    ));
    let mut stateless = message;
    stateless
        .as_object_mut()
        .expect("object")
        .remove("signedState");
    assert!(matches!(
        app.verify(&app.attempt(NAME, &stateless), &state).await,
        Err(CallbackError::State)
    ));
}

#[tokio::test]
async fn undecryptable_payloads_are_denied() {
    let app = App::new();
    let state = threebot::random_state();
    let mut message = app.message(&state, &verified_email());

    let mut variants = Vec::new();
    // Ciphertext with one bit flipped.
    let ciphertext = STANDARD
        .decode(message["data"]["ciphertext"].as_str().expect("text"))
        .expect("base64");
    let mut flipped = ciphertext.clone();
    flipped[0] ^= 0x80;
    variants
        .push(json!({"nonce": message["data"]["nonce"], "ciphertext": STANDARD.encode(flipped)}));
    // Wrong nonce, short nonce.
    variants.push(
        json!({"nonce": STANDARD.encode([1u8; 24]), "ciphertext": message["data"]["ciphertext"]}),
    );
    variants.push(
        json!({"nonce": STANDARD.encode([1u8; 12]), "ciphertext": message["data"]["ciphertext"]}),
    );
    // Encrypted for another hub.
    let other_hub = App::new();
    variants.push(other_hub.encrypt(&verified_email()));

    for data in variants {
        message["data"] = data;
        let err = app
            .verify(&app.attempt(NAME, &message), &state)
            .await
            .expect_err("undecryptable");
        assert!(matches!(err, CallbackError::Decrypt), "{err:?}");
        assert_eq!(err.message(), "Unable to decrypt payload, denied.");
    }
    message.as_object_mut().expect("object").remove("data");
    assert!(matches!(
        app.verify(&app.attempt(NAME, &message), &state).await,
        Err(CallbackError::Decrypt)
    ));
}

#[tokio::test]
async fn unverified_email_is_denied() {
    let app = App::new();
    let state = threebot::random_state();
    let payload = json!({"email": {"email": "alice@example.com", "verified": null}});
    let err = app
        .verify(&app.attempt(NAME, &app.message(&state, &payload)), &state)
        .await
        .expect_err("unverified");
    assert!(matches!(err, CallbackError::EmailUnverified));
    assert_eq!(err.message(), "Email unverified, access denied.");
}

#[tokio::test]
async fn key_lookup_failures_are_upstream_errors() {
    let app = App::new();
    let state = threebot::random_state();
    let attempt = app.attempt("bob.3bot", &app.message(&state, &verified_email()));
    let err = app.verify(&attempt, &state).await.expect_err("unknown");
    assert!(matches!(err, CallbackError::PublicKey(_)));
    assert_eq!(err.status().as_u16(), 502);
}

#[test]
fn lookup_url_escapes_the_name() {
    let app = App::new();
    assert_eq!(
        threebot::user_lookup_url(&app.hub, "alice.3bot"),
        "https://login.threefold.me/api/users/alice.3bot"
    );
    assert_eq!(
        threebot::user_lookup_url(&app.hub, "../a b?c"),
        "https://login.threefold.me/api/users/..%2Fa%20b%3Fc"
    );
}
