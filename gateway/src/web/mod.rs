//! The website (hub-api §10) and its sign-in (hub-api §4.9, §4.10): server-rendered pages with
//! every user-controlled value escaped, self-hosted assets, a signed session cookie.

pub mod assets;
pub mod forms;
pub mod html;
pub mod login;
mod outcome;
pub mod pages;
pub mod preview;
pub mod router;
pub mod session;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use hub_auth::{AuthMethod, Identity};

use crate::state::AppState;
use html::Nav;
use session::Session;

/// The website's user as a job submitter: the session's user acting as the selected account.
pub fn web_identity(state: &AppState, user: &WebUser) -> Identity {
    let session = &user.visitor.session;
    let username = session
        .user()
        .map_or_else(|| user.user.clone(), str::to_owned);
    // A web session is the hub's own login (ThreeFold Connect or a local account), the same
    // trust as a hub token; the method only matters to the token routes, which the web form
    // never reaches.
    let method = if state.auth.is_enabled() {
        AuthMethod::HubToken
    } else {
        AuthMethod::Disabled
    };
    Identity {
        user: user.user.clone(),
        accounts: if session.accounts.is_empty() {
            vec![username.clone()]
        } else {
            session.accounts.clone()
        },
        username,
        method,
    }
}

/// The visitor as the navigation bar shows it.
pub struct Visitor {
    /// The signed session (empty when anonymous).
    pub session: Session,
    /// Authentication enabled (login links shown).
    pub login: bool,
    /// Authentication disabled: everyone is `Administrator` (hub-api §4.7).
    administrator: Vec<String>,
    /// Debug mode: pages carry the staging banner.
    staging: bool,
}

impl Visitor {
    /// The visitor of a request.
    pub fn of(state: &AppState, headers: &http::HeaderMap) -> Self {
        let enabled = state.auth.is_enabled();
        Self {
            session: Session::from_headers(&state.compat.session_key, headers),
            login: enabled,
            administrator: if enabled {
                Vec::new()
            } else {
                vec![hub_auth::ADMINISTRATOR.to_owned()]
            },
            staging: state.config.gateway.debug,
        }
    }

    /// The navigation bar for this visitor.
    pub fn nav(&self) -> Nav<'_> {
        match self.administrator.first() {
            Some(admin) => Nav {
                user: Some(admin),
                accounts: &self.administrator,
                login: false,
                staging: self.staging,
            },
            None => Nav {
                user: self.session.user(),
                accounts: &self.session.accounts,
                login: self.login,
                staging: self.staging,
            },
        }
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(state, &parts.headers))
    }
}

/// The `protected` guard of web forms (hub-api §4.9): read-only → 302 `/readonly`; authentication
/// disabled → `Administrator`; not logged in → 302 `/login-method`.
pub struct WebUser {
    /// The repository the form acts on: the `active-user` cookie when it names one of the
    /// accounts, else the user.
    pub user: String,
    /// The visitor, for the page's navigation bar.
    pub visitor: Visitor,
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if state.auth.is_readonly() {
            return Err(found("/readonly"));
        }
        let visitor = Visitor::of(state, &parts.headers);
        if !state.auth.is_enabled() {
            return Ok(Self {
                user: hub_auth::ADMINISTRATOR.to_owned(),
                visitor,
            });
        }
        let Some(username) = visitor.session.user() else {
            return Err(found("/login-method"));
        };
        let cookie = crate::extract::cookie_value(parts, crate::extract::ACTIVE_USER_COOKIE);
        // An account the session does not have is ignored here (the original's behaviour).
        let user =
            hub_auth::select_active_user(username, &visitor.session.accounts, cookie.as_deref())
                .unwrap_or_else(|_| username.to_owned());
        Ok(Self { user, visitor })
    }
}

/// `302 Found` to `location` (the original's redirects; axum's `Redirect::to` is a 303).
pub fn found(location: &str) -> Response {
    match http::HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(http::header::LOCATION, value)]).into_response(),
        // Locations are built from percent-encoded parts: this is a bug, not the visitor's.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The 404 page of the website.
pub fn not_found_page() -> Response {
    html::page(
        StatusCode::NOT_FOUND,
        "Not found",
        &Nav::default(),
        "<h1>Not found</h1><p>Nothing lives at this address.</p>",
    )
}
