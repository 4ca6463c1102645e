//! Website sign-in: ThreeFold Connect (hub-api §4.10) and local accounts for self-hosted hubs.
//!
//! `/login` and `/token` send the browser to the login service with a random `state` kept in
//! the signed session; the callbacks verify that state, the app id, the user's signature (with
//! the public key fetched from the configured login service) and the encrypted payload, then
//! log the user in or mint an API token. Callback errors are plain text with the catalogue's
//! messages (hub-api §14).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt as _;
use hub_auth::config::ThreebotLoginConfig;
use hub_auth::threebot::{self, CallbackError};
use serde::Deserialize;

use super::html::{Nav, escape, page};
use super::session::Session;
use super::{Visitor, found, not_found_page, pages};
use crate::auth_limit::Throttle;
use crate::error::ApiError;
use crate::extract::ClientAddress;
use crate::state::AppState;

/// Largest user record accepted from the login service.
const MAX_USER_RECORD: usize = 64 * 1024;

/// Whether the website's cookies must be HTTPS-only.
fn secure_cookies(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// `response` with `Set-Cookie` storing `session`.
fn with_session(state: &AppState, mut response: Response, session: &mut Session) -> Response {
    let cookie = session.set_cookie(&state.compat.session_key, secure_cookies(state));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

/// Start a ThreeFold Connect login that comes back to `callback`.
fn start_threebot(
    state: &AppState,
    headers: &HeaderMap,
    config: &ThreebotLoginConfig,
    callback: &str,
) -> Response {
    let mut session = Session::from_headers(&state.compat.session_key, headers);
    let login_state = threebot::random_state();
    let url = threebot::login_redirect_url(config, &login_state, callback);
    session.expect_state(login_state);
    with_session(state, found(&url), &mut session)
}

/// `GET /login`: ThreeFold Connect when configured, else the local sign-in form. No login
/// route exists when authentication is disabled (hub-api §4.7).
#[utoipa::path(
    get,
    path = "/login",
    tag = "web",
    summary = "ThreeFold Connect login (302)",
    responses(
        (status = 302, description = "To ThreeFold Connect, or to `/login-method` on hubs without it"),
        (status = 404, description = "Not found when authentication is disabled (the website's not-found page)", body = String, content_type = "text/html"),
    ),
)]
pub async fn login(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.auth.is_enabled() {
        return not_found_page();
    }
    match &state.config.auth.threebot {
        Some(config) => start_threebot(&state, &headers, config, "/callback_threebot"),
        None => found("/login-method"),
    }
}

/// `GET /token`: an API token through ThreeFold Connect; on hubs without it, a token for the
/// logged-in local user.
#[utoipa::path(
    get,
    path = "/token",
    tag = "web",
    summary = "API token through ThreeFold Connect (302)",
    responses(
        (status = 302, description = "To ThreeFold Connect, to the token page, or to `/login-method`"),
        (status = 500, description = "Token minting is not configured", body = String, content_type = "text/plain"),
        (status = 404, description = "Not found when authentication is disabled (the website's not-found page)", body = String, content_type = "text/html"),
    ),
)]
pub async fn token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.auth.is_enabled() {
        return not_found_page();
    }
    if let Some(config) = &state.config.auth.threebot {
        return start_threebot(&state, &headers, config, "/callback_token");
    }
    let session = Session::from_headers(&state.compat.session_key, &headers);
    let Some(user) = session.user() else {
        return found("/login-method");
    };
    match mint(&state, user).await {
        Ok(token) => token_redirect(&token),
        Err(response) => response,
    }
}

/// A token for `user`: the original's Ed25519 hub token when `threebot_seed` is configured,
/// else a revocable hub JWT.
async fn mint(state: &AppState, user: &str) -> Result<String, Response> {
    let minted = match state.auth.mint_hub_token(user) {
        Ok(token) => Ok(token),
        Err(_) => state
            .auth
            .issue_token(user, None, "website")
            .await
            .map(|(token, _)| token),
    };
    minted.map_err(|err| {
        tracing::error!(error = %err, "cannot mint a token");
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Token generation is not configured on this hub.",
        )
    })
}

/// 302 to the token page. The location carries the token: it is not logged (hub-api D8).
fn token_redirect(token: &str) -> Response {
    // URL-safe Base64 stays readable; only `=` padding (and anything unexpected) is escaped.
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encoded: String = percent_encoding::utf8_percent_encode(token, PATH).collect();
    found(&format!("/token/{encoded}"))
}

/// Fetch the user's Ed25519 public key from the login service (hub-api §4.10, step 3.4), with the
/// client's timeout and a bounded body.
async fn fetch_public_key(
    client: &reqwest::Client,
    config: &ThreebotLoginConfig,
    double_name: &str,
) -> Result<[u8; 32], String> {
    let response = client
        .get(threebot::user_lookup_url(config, double_name))
        .send()
        .await
        .map_err(|e| format!("login service unreachable: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("login service answered {}", response.status()));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("login service body: {e}"))?;
        if body.len() + chunk.len() > MAX_USER_RECORD {
            return Err("user record too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    threebot::parse_user_public_key(&body).map_err(|e| e.to_string())
}

/// hub-api D9: the signed message must name this hub. `attempt` was verified by
/// [`threebot::verify_callback`]: this only reads the already-authenticated message again.
fn app_id_matches(config: &ThreebotLoginConfig, attempt: &str) -> bool {
    #[derive(Deserialize)]
    struct Outer {
        #[serde(rename = "signedAttempt")]
        signed_attempt: String,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "appId")]
        app_id: Option<String>,
    }
    let inner = serde_json::from_str::<Outer>(attempt)
        .ok()
        .and_then(|outer| STANDARD.decode(outer.signed_attempt.trim()).ok())
        .and_then(|signed| {
            let message = signed.get(64..)?;
            serde_json::from_slice::<Inner>(message).ok()
        });
    inner.and_then(|inner| inner.app_id).as_deref() == Some(config.appid.as_str())
}

/// Steps 3.1–3.8 of a callback: the verified double name and the session (its state consumed).
async fn verify(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(String, Session), Response> {
    let Some(config) = state
        .config
        .auth
        .threebot
        .as_ref()
        .filter(|_| state.auth.is_enabled())
    else {
        return Err(not_found_page());
    };
    let fail = |err: CallbackError| text(err.status(), err.message());
    if let Some(error) = query.get("error") {
        return Err(fail(CallbackError::Refused(error.clone())));
    }
    let Some(attempt) = query.get("signedAttempt") else {
        return Err(fail(CallbackError::Parse));
    };
    let mut session = Session::from_headers(&state.compat.session_key, headers);
    let expected = session.take_state().unwrap_or_default();
    let client = &state.compat.http;
    let double_name = threebot::verify_callback(config, attempt, &expected, |name| async move {
        fetch_public_key(client, config, &name).await
    })
    .await
    .map_err(|err| {
        if let CallbackError::PublicKey(cause) = &err {
            tracing::warn!(error = %cause, "ThreeFold Connect user lookup failed");
        }
        fail(err)
    })?;
    if !app_id_matches(config, attempt) {
        return Err(fail(CallbackError::State));
    }
    if hub_model::names::validate_repository_name(&double_name).is_err() {
        return Err(fail(CallbackError::Parse));
    }
    Ok((double_name, session))
}

/// `GET /callback_threebot`: log the user in and go home.
#[utoipa::path(
    get,
    path = "/callback_threebot",
    tag = "web",
    summary = "ThreeFold Connect login callback",
    responses(
        (status = 302, description = "Signed in: to `/`"),
        (status = 400, description = "The callback does not verify", body = String, content_type = "text/plain"),
        (status = 404, description = "Not found when authentication is disabled (the website's not-found page)", body = String, content_type = "text/html"),
    ),
)]
pub async fn callback_threebot(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (name, mut session) = match verify(&state, &headers, &query).await {
        Ok(verified) => verified,
        Err(response) => return response,
    };
    let accounts = match state.auth.accounts_for(&name).await {
        Ok(accounts) => accounts,
        Err(err) => {
            tracing::error!(error = %err, "cannot load accounts");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    session.log_in(&name, accounts);
    with_session(&state, found("/"), &mut session)
}

/// `GET /callback_token`: mint a hub token for the user and show it.
#[utoipa::path(
    get,
    path = "/callback_token",
    tag = "web",
    summary = "ThreeFold Connect token callback",
    responses(
        (status = 302, description = "To the token page"),
        (status = 400, description = "The callback does not verify", body = String, content_type = "text/plain"),
        (status = 404, description = "Not found when authentication is disabled (the website's not-found page)", body = String, content_type = "text/html"),
    ),
)]
pub async fn callback_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (name, mut session) = match verify(&state, &headers, &query).await {
        Ok(verified) => verified,
        Err(response) => return response,
    };
    let response = match mint(&state, &name).await {
        Ok(token) => token_redirect(&token),
        Err(response) => response,
    };
    // Store the session without the consumed state, so the callback cannot be replayed.
    with_session(&state, response, &mut session)
}

/// `GET /logout`: forget the session and render the home page (hub-api §4.9).
#[utoipa::path(
    get,
    path = "/logout",
    tag = "web",
    summary = "Log out",
    responses(
        (status = 200, description = "The home page, the session cookie cleared", body = String, content_type = "text/html"),
    ),
)]
pub async fn logout(State(state): State<AppState>) -> Response {
    let nav = Nav {
        login: state.auth.is_enabled(),
        staging: state.config.gateway.debug,
        ..Nav::default()
    };
    let mut response = pages::render_home(&state, &nav).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, Session::clear_cookie());
    response
}

fn login_method_page(state: &AppState, visitor: &Visitor, error: Option<&str>) -> Response {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut body = String::from("<h1>Sign in</h1>");
    if let Some(error) = error {
        body.push_str(&format!(
            "<div class=\"alert alert-danger\">{}</div>",
            escape(error)
        ));
    }
    if state.config.auth.threebot.is_some() {
        body.push_str(
            "<p><a class=\"btn btn-primary\" href=\"/login\">ThreeFold Connect</a> \
             <span class=\"muted\">(recommended)</span></p>",
        );
    }
    body.push_str(
        "<h2>Local account</h2><form method=\"post\" action=\"/login-local\">\
         <p><input type=\"text\" name=\"username\" placeholder=\"user name\" autocomplete=\"username\"></p>\
         <p><input type=\"password\" name=\"password\" placeholder=\"password\" autocomplete=\"current-password\"></p>\
         <p><button class=\"btn btn-primary\">Sign in</button></p></form>",
    );
    page(status, "Sign in", &visitor.nav(), &body)
}

/// The sign-in page answering a throttled client: `429` with the throttle's `Retry-After`.
fn throttled_page(state: &AppState, visitor: &Visitor, throttled: &ApiError) -> Response {
    let mut response = login_method_page(state, visitor, Some(&throttled.message()));
    *response.status_mut() = throttled.status();
    if let Some(seconds) = throttled.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `GET /login-method`: the sign-in choices.
#[utoipa::path(
    get,
    path = "/login-method",
    tag = "web",
    summary = "Login choices",
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 404, description = "Not found when authentication is disabled (the website's not-found page)", body = String, content_type = "text/html"),
    ),
)]
pub async fn login_method(State(state): State<AppState>, visitor: Visitor) -> Response {
    if !state.auth.is_enabled() {
        return not_found_page();
    }
    login_method_page(&state, &visitor, None)
}

/// The local sign-in form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LocalLogin {
    /// Account name.
    username: String,
    /// Its password.
    password: String,
}

/// `POST /login-local`: sign in with a local account (argon2 hash, constant-time failure).
/// Wrong passwords count against the client address's failed-authentication budget
/// ([`crate::auth_limit`]), like wrong tokens.
#[utoipa::path(
    post,
    path = "/login-local",
    tag = "web",
    summary = "Local account login (self-hosted hubs)",
    request_body(content = LocalLogin, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 302, description = "Signed in: to `/`"),
        (status = 401, description = "The sign-in page with the refusal", body = String, content_type = "text/html"),
        (status = 429, description = "Too many failed sign-ins from this client (`Retry-After`)", body = String, content_type = "text/html"),
        (status = 404, description = "Not found when authentication is disabled (the website's not-found page)", body = String, content_type = "text/html"),
    ),
)]
pub async fn login_local(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    visitor: Visitor,
    Form(form): Form<LocalLogin>,
) -> Response {
    if !state.auth.is_enabled() {
        return not_found_page();
    }
    let throttle = match Throttle::check(&state, client).await {
        Ok(throttle) => throttle,
        Err(throttled) => return throttled_page(&state, &visitor, &throttled),
    };
    let username = form.username.trim();
    if let Err(err) = state
        .auth
        .store()
        .verify_local_password(username, &form.password)
        .await
    {
        if err.status().is_server_error() {
            tracing::error!(error = ?err, "local sign-in failed");
        }
        let message = err.message();
        if err.is_credential_failure() {
            let answer = throttle.failed(&state, err).await;
            if answer.status() == StatusCode::TOO_MANY_REQUESTS {
                return throttled_page(&state, &visitor, &answer);
            }
        }
        return login_method_page(&state, &visitor, Some(message));
    }
    let accounts = match state.auth.accounts_for(username).await {
        Ok(accounts) => accounts,
        Err(err) => {
            tracing::error!(error = %err, "cannot load accounts");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let mut session = visitor.session;
    session.log_in(username, accounts);
    let mut response = found("/");
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_session(&state, response, &mut session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_auth::config::Key32;

    #[test]
    fn app_id_is_read_from_the_signed_message() {
        let config = ThreebotLoginConfig {
            login_url: "http://login".into(),
            appid: "hub.example".into(),
            private_key: Key32::new([1u8; 32]),
        };
        let attempt = |inner: &str| {
            let mut signed = vec![0u8; 64];
            signed.extend_from_slice(inner.as_bytes());
            serde_json::json!({"doubleName": "a.3bot", "signedAttempt": STANDARD.encode(signed)})
                .to_string()
        };
        assert!(app_id_matches(
            &config,
            &attempt(r#"{"appId": "hub.example"}"#)
        ));
        assert!(!app_id_matches(
            &config,
            &attempt(r#"{"appId": "evil.example"}"#)
        ));
        assert!(!app_id_matches(&config, &attempt(r#"{}"#)));
        assert!(!app_id_matches(&config, "not json"));
    }
}
