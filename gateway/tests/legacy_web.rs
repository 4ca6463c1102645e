//! Website sign-in and pages against the real stack: ThreeFold Connect with a test login
//! service (a small axum server publishing the user's key), tampered and unknown-state
//! callbacks, local accounts, the `protected` guard, read-only mode, escaped pages.

mod common;
mod legacy_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::TestHub;
use crypto_box::aead::Aead as _;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use ed25519_dalek::{Signer as _, SigningKey};
use hub_auth::config::{Key32, ThreebotLoginConfig};
use legacy_support::{publish, seed_sample};
use rand::RngCore as _;
use serde_json::{Value, json};
use sqlx::PgPool;

const USER: &str = "alice.3bot";
const APP_ID: &str = "hub.example";

/// The user's side: a key pair, and the login service publishing its public key.
struct LoginService {
    user: SigningKey,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl LoginService {
    async fn start() -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let user = SigningKey::from_bytes(&seed);
        let public = STANDARD.encode(user.verifying_key().to_bytes());
        let app = axum::Router::new().route(
            "/api/users/{name}",
            axum::routing::get(
                move |axum::extract::Path(name): axum::extract::Path<String>| {
                    let public = public.clone();
                    async move {
                        if name == USER {
                            axum::Json(json!({"doubleName": name, "publicKey": public}))
                                .into_response()
                        } else {
                            axum::http::StatusCode::NOT_FOUND.into_response()
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("login service");
        });
        Self { user, url, server }
    }

    /// What the ThreeFold Connect app sends back for `state`.
    fn attempt(&self, hub_key: &[u8; 32], state: &str, app_id: &str, payload: &Value) -> String {
        let hub_public = SecretKey::from(*hub_key).public_key();
        let user_secret = SecretKey::from(self.user.to_scalar_bytes());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = SalsaBox::new(&PublicKey::from(*hub_public.as_bytes()), &user_secret)
            .encrypt(&nonce.into(), payload.to_string().as_bytes())
            .expect("encrypt");
        let message = json!({
            "doubleName": USER,
            "signedState": state,
            "data": {"nonce": STANDARD.encode(nonce), "ciphertext": STANDARD.encode(ciphertext)},
            "appId": app_id,
        })
        .to_string();
        let mut signed = self.user.sign(message.as_bytes()).to_bytes().to_vec();
        signed.extend_from_slice(message.as_bytes());
        json!({"doubleName": USER, "signedAttempt": STANDARD.encode(signed)}).to_string()
    }
}

use axum::response::IntoResponse as _;

struct Web {
    hub: TestHub,
    login: LoginService,
    hub_key: [u8; 32],
    client: reqwest::Client,
}

async fn start(pool: PgPool) -> Web {
    let login = LoginService::start().await;
    let mut hub_key = [0u8; 32];
    rand::rng().fill_bytes(&mut hub_key);
    let login_url = login.url.clone();
    let hub = TestHub::start_with(pool, move |config| {
        config.auth.authentication = true;
        config.auth.threebot_seed = Some(Key32::new([3u8; 32]));
        config.auth.threebot = Some(ThreebotLoginConfig {
            login_url,
            appid: APP_ID.into(),
            private_key: Key32::new(hub_key),
        });
        config.gateway.session_secret = Some("ab".repeat(32));
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Web {
        hub,
        login,
        hub_key,
        client,
    }
}

/// The `hub-session=…` pair of a response's `Set-Cookie`.
fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("hub-session="))
        .and_then(|value| value.split(';').next())
        .expect("session cookie")
        .to_owned()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

/// `GET path` (no redirects followed) with `cookie`.
async fn get(web: &Web, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = web.client.get(web.hub.url(path));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.expect("request")
}

/// Start a login at `start` and return the session cookie and the state sent to the service.
async fn begin(web: &Web, start: &str, callback: &str) -> (String, String) {
    let response = get(web, start, None).await;
    assert_eq!(response.status(), 302);
    let target = location(&response);
    let prefix = format!("{}/?appid={APP_ID}&publickey=", web.login.url);
    assert!(target.starts_with(&prefix), "{target}");
    assert!(
        target.ends_with(&format!("&redirecturl=%2F{callback}&scope=%7B%7D")),
        "{target}"
    );
    let state = target
        .split("&state=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("state")
        .to_owned();
    assert_eq!(state.len(), 32);
    (session_cookie(&response), state)
}

async fn callback(web: &Web, path: &str, attempt: &str, cookie: Option<&str>) -> reqwest::Response {
    let query: String =
        percent_encoding::utf8_percent_encode(attempt, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    let mut request = web
        .client
        .get(web.hub.url(&format!("{path}?signedAttempt={query}")));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.expect("callback")
}

fn verified() -> Value {
    json!({"email": {"email": "alice@example.com", "verified": "signature"}})
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn threebot_login_sets_the_session(pool: PgPool) {
    let web = start(pool).await;
    let (cookie, state) = begin(&web, "/login", "callback_threebot").await;
    let attempt = web.login.attempt(&web.hub_key, &state, APP_ID, &verified());
    let response = callback(&web, "/callback_threebot", &attempt, Some(&cookie)).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/");
    let logged_in = session_cookie(&response);
    let home = get(&web, "/", Some(&logged_in))
        .await
        .text()
        .await
        .expect("home");
    assert!(
        home.contains("alice.3bot") && home.contains("/logout"),
        "{home}"
    );
    // The protected forms now open.
    let upload = get(&web, "/upload", Some(&logged_in)).await;
    assert_eq!(upload.status(), 200);
    // Replaying the callback finds no state: it was consumed.
    let replay = callback(&web, "/callback_threebot", &attempt, Some(&logged_in)).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(
        replay.text().await.expect("text"),
        "Invalid state received. Cannot authenticate request!"
    );
    // Logout forgets the session.
    let logout = get(&web, "/logout", Some(&logged_in)).await;
    assert_eq!(logout.status(), 200);
    let cleared = session_cookie(&logout);
    assert_eq!(cleared, "hub-session=");
    web.hub.stop().await;
    web.login.server.abort();
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn threebot_token_flow_mints_a_working_token(pool: PgPool) {
    let web = start(pool).await;
    let (cookie, state) = begin(&web, "/token", "callback_token").await;
    let attempt = web.login.attempt(&web.hub_key, &state, APP_ID, &json!({}));
    let response = callback(&web, "/callback_token", &attempt, Some(&cookie)).await;
    assert_eq!(response.status(), 302);
    let target = location(&response);
    let token =
        percent_encoding::percent_decode_str(target.strip_prefix("/token/").expect("token page"))
            .decode_utf8()
            .expect("utf-8")
            .into_owned();
    let page = get(&web, &target, None).await;
    assert_eq!(page.headers()["cache-control"], "no-store");
    let text = page.text().await.expect("page");
    assert!(
        text.contains(&format!("curl -H \"Authorization: bearer {token}\"")),
        "{text}"
    );
    let probe = web
        .client
        .get(web.hub.url("/api/flist/me"))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("probe");
    assert_eq!(
        probe.text().await.expect("body"),
        "{\"status\": \"success\", \"payload\": {\"username\": \"alice.3bot\"}}\n"
    );
    web.hub.stop().await;
    web.login.server.abort();
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn refused_callbacks(pool: PgPool) {
    let web = start(pool).await;
    let expect = |status: u16, text: &'static str| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status);
            assert_eq!(response.text().await.expect("text"), text);
        }
    };
    // The service reports an error.
    let response = get(&web, "/callback_threebot?error=user%20cancelled", None).await;
    expect(400, "Authentication failed: user%20cancelled")(response).await;
    // No signedAttempt (hub-api D10).
    let response = get(&web, "/callback_threebot", None).await;
    expect(400, "Could not parse server response")(response).await;

    let (cookie, state) = begin(&web, "/login", "callback_threebot").await;
    // Unknown state: no session cookie, or another state.
    let attempt = web.login.attempt(&web.hub_key, &state, APP_ID, &verified());
    let response = callback(&web, "/callback_threebot", &attempt, None).await;
    expect(400, "Invalid state received. Cannot authenticate request!")(response).await;
    let other = web
        .login
        .attempt(&web.hub_key, "x".repeat(32).as_str(), APP_ID, &verified());
    let response = callback(&web, "/callback_threebot", &other, Some(&cookie)).await;
    expect(400, "Invalid state received. Cannot authenticate request!")(response).await;

    // Each failure consumed the state; start again for each remaining case.
    let (cookie, state) = begin(&web, "/login", "callback_threebot").await;
    let wrong_app = web
        .login
        .attempt(&web.hub_key, &state, "evil.example", &verified());
    let response = callback(&web, "/callback_threebot", &wrong_app, Some(&cookie)).await;
    expect(400, "Invalid state received. Cannot authenticate request!")(response).await;

    let (cookie, state) = begin(&web, "/login", "callback_threebot").await;
    let attempt = web.login.attempt(&web.hub_key, &state, APP_ID, &verified());
    let mut outer: Value = serde_json::from_str(&attempt).expect("json");
    let mut signed = STANDARD
        .decode(outer["signedAttempt"].as_str().expect("signed"))
        .expect("base64");
    signed[70] ^= 1;
    outer["signedAttempt"] = Value::String(STANDARD.encode(signed));
    let response = callback(
        &web,
        "/callback_threebot",
        &outer.to_string(),
        Some(&cookie),
    )
    .await;
    expect(400, "Unable to verify state signature, denied.")(response).await;

    let (cookie, state) = begin(&web, "/login", "callback_threebot").await;
    let unverified = json!({"email": {"email": "a@b", "verified": null}});
    let attempt = web.login.attempt(&web.hub_key, &state, APP_ID, &unverified);
    let response = callback(&web, "/callback_threebot", &attempt, Some(&cookie)).await;
    expect(400, "Email unverified, access denied.")(response).await;

    // A session cookie signed with another key is no session.
    let (cookie, state) = begin(&web, "/login", "callback_threebot").await;
    let forged = format!("{}x", cookie);
    let attempt = web.login.attempt(&web.hub_key, &state, APP_ID, &verified());
    let response = callback(&web, "/callback_threebot", &attempt, Some(&forged)).await;
    expect(400, "Invalid state received. Cannot authenticate request!")(response).await;
    web.hub.stop().await;
    web.login.server.abort();
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn local_accounts_and_the_protected_guard(pool: PgPool) {
    let web = start(pool).await;
    let response = get(&web, "/upload", None).await;
    assert_eq!(
        (response.status().as_u16(), location(&response)),
        (302, "/login-method".into())
    );
    web.hub
        .state
        .auth
        .store()
        .create_local_user("carol", "correct horse")
        .await
        .expect("local user");
    let login = |password: &'static str| {
        web.client
            .post(web.hub.url("/login-local"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "username=carol&password={}",
                password.replace(' ', "+")
            ))
            .send()
    };
    let refused = login("wrong").await.expect("login");
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .text()
            .await
            .expect("page")
            .contains("invalid username or password")
    );
    let accepted = login("correct horse").await.expect("login");
    assert_eq!(accepted.status(), 302);
    let cookie = session_cookie(&accepted);
    for form in ["/upload", "/upload-flist", "/merge", "/docker-convert"] {
        let page = get(&web, form, Some(&cookie)).await;
        assert_eq!(page.status(), 200, "{form}");
        assert!(page.text().await.expect("page").contains("carol"), "{form}");
    }
    // Without ThreeFold Connect for this user, /token mints one for the local session.
    web.hub.stop().await;
    web.login.server.abort();
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn readonly_and_disabled_authentication(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| config.auth.readonly = true).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let upload = client.get(hub.url("/upload")).send().await.expect("upload");
    assert_eq!(upload.status(), 302);
    assert_eq!(upload.headers()["location"], "/readonly");
    let notice = client
        .get(hub.url("/readonly"))
        .send()
        .await
        .expect("readonly");
    assert_eq!(notice.status(), 200);
    assert!(
        notice
            .text()
            .await
            .expect("page")
            .contains("Instance modification disabled")
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn pages_escape_stored_names(pool: PgPool) {
    // Authentication disabled: everyone is Administrator and no login route exists.
    let hub = TestHub::start(pool).await;
    let seeded = seed_sample(&hub, "alice", "app.flist").await;
    // A name an old hub may hold (created before validation existed).
    let evil = "<img src=x onerror=alert(1)>.flist";
    publish(&hub, "alice", evil, seeded.row.id).await;
    hub_db::tags::put_entry(
        &hub.state.pool,
        "alice",
        "v1",
        "app.flist",
        "alice",
        evil,
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("tag");
    for path in ["/alice", "/alice/tags/v1", "/search?q=img", "/"] {
        let response = hub.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.expect("html");
        assert!(!html.contains("<img"), "{path}: {html}");
    }
    let html = hub.get("/alice").await.text().await.expect("html");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;.flist"),
        "{html}"
    );
    let preview = hub
        .get("/alice/app.flist.md")
        .await
        .text()
        .await
        .expect("html");
    assert!(preview.contains(&seeded.row.md5), "{preview}");
    assert!(preview.contains("2 directories, 1 regular files, 1 symlinks and 0 special files."));
    assert!(preview.contains("Backend (default)"));
    let missing = hub.get("/alice/nope.md").await;
    assert_eq!(missing.status(), 404);
    let login = hub.get("/login").await;
    assert_eq!(login.status(), 404);
    let css = hub.get("/static/hub.css").await;
    assert_eq!(css.status(), 200);
    hub.stop().await;
}
