//! The website's session (hub-api §4.9): a cookie holding `authenticated`, `username`, `accounts`
//! and the pending ThreeFold Connect `state`, signed with HMAC-SHA256 under a persistent key
//! (hub-api D25: the original's key was random per start, so every restart logged everyone out).
//!
//! Cookie value: `base64url(json) "." base64url(hmac(base64url(json)))`. Nothing in it is
//! secret; the signature only makes it tamper-proof.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use http::HeaderValue;
use serde::{Deserialize, Serialize};

pub use crate::session_key::SessionKey;

/// Name of the session cookie.
pub const COOKIE: &str = "hub-session";
/// How long a session lasts.
const SESSION_SECONDS: i64 = 7 * 24 * 3600;
/// How long a login `state` waits for its callback.
const STATE_SECONDS: i64 = 15 * 60;
/// Largest cookie value accepted (browsers cap cookies at 4 KiB anyway).
const MAX_COOKIE_LEN: usize = 4096;

/// What the session cookie holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// A login succeeded.
    #[serde(default)]
    pub authenticated: bool,
    /// The logged-in user.
    #[serde(default)]
    pub username: Option<String>,
    /// Repositories the user may act as, `username` first.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// The `state` sent to the login service, awaiting its callback.
    #[serde(default)]
    pub login_state: Option<String>,
    /// Unix time after which `login_state` is refused.
    #[serde(default)]
    pub state_expires: i64,
    /// Unix time after which the whole session is ignored.
    #[serde(default)]
    pub expires: i64,
}

impl Session {
    /// The session of a request: its cookie if the signature verifies and it has not expired,
    /// an empty session otherwise.
    pub fn from_headers(key: &SessionKey, headers: &HeaderMap) -> Self {
        cookie_values(headers, COOKIE)
            .filter_map(|value| Self::decode(key, value))
            .next()
            .unwrap_or_default()
    }

    fn decode(key: &SessionKey, value: &str) -> Option<Self> {
        if value.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !key.verify(payload, &tag) {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let session: Self = serde_json::from_slice(&json).ok()?;
        (session.expires > Utc::now().timestamp()).then_some(session)
    }

    /// The signed cookie value.
    pub fn encode(&self, key: &SessionKey) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(key.sign(&payload));
        format!("{payload}.{tag}")
    }

    /// Log `username` in with `accounts`, dropping any pending login state.
    pub fn log_in(&mut self, username: &str, accounts: Vec<String>) {
        self.authenticated = true;
        self.username = Some(username.to_owned());
        self.accounts = accounts;
        self.login_state = None;
        self.state_expires = 0;
    }

    /// Remember a login `state` for the callback.
    pub fn expect_state(&mut self, state: String) {
        self.login_state = Some(state);
        self.state_expires = Utc::now().timestamp() + STATE_SECONDS;
    }

    /// Take the pending login state, if it has not expired. One use only: a replayed callback
    /// finds none.
    pub fn take_state(&mut self) -> Option<String> {
        let state = self.login_state.take();
        let live = self.state_expires > Utc::now().timestamp();
        self.state_expires = 0;
        state.filter(|_| live)
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.username.as_deref().filter(|_| self.authenticated)
    }

    /// `Set-Cookie` storing this session (`secure` for HTTPS sites).
    pub fn set_cookie(&mut self, key: &SessionKey, secure: bool) -> HeaderValue {
        self.expires = Utc::now().timestamp() + SESSION_SECONDS;
        let secure = if secure { "; Secure" } else { "" };
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_SECONDS}{secure}",
            self.encode(key)
        );
        // Base64url, digits and fixed text only: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` deleting the session.
    pub fn clear_cookie() -> HeaderValue {
        HeaderValue::from_static("hub-session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// Every value of cookie `name` in the request.
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey::derive(&[7u8; 32])
    }

    fn request_with(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={cookie}")).expect("header"),
        );
        headers
    }

    fn cookie_of(header: &HeaderValue) -> String {
        let text = header.to_str().expect("ascii");
        let value = text
            .strip_prefix("hub-session=")
            .and_then(|rest| rest.split(';').next())
            .expect("cookie value");
        value.to_owned()
    }

    #[test]
    fn round_trip_and_tampering() {
        let mut session = Session::default();
        session.log_in("alice.3bot", vec!["alice.3bot".into(), "org".into()]);
        let header = session.set_cookie(&key(), true);
        assert!(header.to_str().expect("ascii").contains("; Secure"));
        let value = cookie_of(&header);
        let back = Session::from_headers(&key(), &request_with(&value));
        assert_eq!(back.user(), Some("alice.3bot"));
        assert_eq!(back.accounts, ["alice.3bot", "org"]);

        // Another key, a modified payload or a truncated tag: an empty session.
        assert_eq!(
            Session::from_headers(&SessionKey::derive(&[8u8; 32]), &request_with(&value)),
            Session::default()
        );
        let (payload, tag) = value.split_once('.').expect("two parts");
        let forged = URL_SAFE_NO_PAD.encode(
            br#"{"authenticated":true,"username":"root","accounts":["root"],"expires":9999999999}"#,
        );
        for bad in [
            format!("{forged}.{tag}"),
            format!("{payload}.{}", &tag[1..]),
            payload.to_owned(),
            String::new(),
        ] {
            assert_eq!(
                Session::from_headers(&key(), &request_with(&bad)),
                Session::default(),
                "{bad}"
            );
        }
    }

    #[test]
    fn expired_sessions_are_ignored() {
        let session = Session {
            authenticated: true,
            username: Some("a".into()),
            expires: Utc::now().timestamp() - 1,
            ..Session::default()
        };
        let value = session.encode(&key());
        assert_eq!(
            Session::from_headers(&key(), &request_with(&value)),
            Session::default()
        );
    }

    #[test]
    fn login_state_is_single_use_and_expires() {
        let mut session = Session::default();
        session.expect_state("abc".into());
        assert_eq!(session.take_state().as_deref(), Some("abc"));
        assert_eq!(session.take_state(), None);
        session.expect_state("abc".into());
        session.state_expires = Utc::now().timestamp() - 1;
        assert_eq!(session.take_state(), None);
    }
}
