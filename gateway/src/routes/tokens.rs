//! API tokens of the caller: mint, list, revoke (`/api/tokens…`).
//!
//! Tokens are personal: they act for the authenticated principal (`username`), whatever
//! account the `active-user` cookie selects, and carry no more rights than the principal has.
//! The guest token and an authentication-disabled hub have no principal to mint for (`403`).
//! Minting needs `auth.hub_jwt`; without it the route answers `501`.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use hub_auth::{AuthMethod, Identity, StoreError, TokenInfo};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::AppState;

/// Longest description kept with a token.
const MAX_DESCRIPTION: usize = 200;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tokens", get(list).post(mint))
        .route("/api/tokens/revoke-all", post(revoke_all))
        .route("/api/tokens/{jti}", delete(revoke))
}

/// A token as listed (the token itself is never stored, so never shown again).
#[derive(Debug, Serialize)]
struct TokenView {
    jti: Uuid,
    username: String,
    description: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
}

impl From<TokenInfo> for TokenView {
    fn from(info: TokenInfo) -> Self {
        let status = if info.revoked_at.is_some() {
            "revoked"
        } else if info.expires_at <= Utc::now() {
            "expired"
        } else {
            "active"
        };
        Self {
            jti: info.jti,
            username: info.username,
            description: info.description,
            created_at: info.created_at,
            expires_at: info.expires_at,
            revoked_at: info.revoked_at,
            status,
        }
    }
}

/// The principal tokens are managed for; the guest and the disabled-authentication identity
/// have none.
fn principal(identity: &Identity) -> ApiResult<&str> {
    match identity.method {
        AuthMethod::Guest | AuthMethod::Disabled => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "tokens cannot be managed with this identity",
        )
        .with_code("forbidden")),
        AuthMethod::Jwt | AuthMethod::HubJwt | AuthMethod::HubToken => Ok(&identity.username),
    }
}

/// `GET /api/tokens`: the caller's hub JWTs, newest first (revoked and expired included).
async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> ApiResult<Json<Vec<TokenView>>> {
    let user = principal(&identity)?;
    let tokens = state.auth.list_tokens(user).await.map_err(store_error)?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Body of `POST /api/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    /// Lifetime (`30d`, `12h`); default: `auth.hub_jwt.default_ttl`.
    ttl: Option<String>,
    /// Free text shown in listings ("CI of project x").
    #[serde(default)]
    description: String,
}

#[derive(Debug, Serialize)]
struct Minted {
    /// The token: shown once, keep it.
    token: String,
    #[serde(flatten)]
    info: TokenView,
}

/// `POST /api/tokens`: mint a token for the caller (`201`, the token is shown only now).
async fn mint(
    State(state): State<AppState>,
    Caller(identity): Caller,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let user = principal(&identity)?;
    let request: MintRequest = if body.is_empty() {
        MintRequest {
            ttl: None,
            description: String::new(),
        }
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| ApiError::bad_request(format!("malformed json request: {error}")))?
    };
    let ttl = request.ttl.as_deref().map(parse_ttl).transpose()?;
    if let Some(ttl) = ttl
        && ttl > state.config.auth.token_max_age
    {
        return Err(ApiError::bad_request(format!(
            "ttl too long (at most {})",
            humantime::format_duration(state.config.auth.token_max_age)
        ))
        .with_code("invalid_ttl"));
    }
    let description = request.description.trim();
    if description.len() > MAX_DESCRIPTION || description.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "description must be at most {MAX_DESCRIPTION} bytes without control characters"
        )));
    }
    let (token, info) = state
        .auth
        .issue_token(user, ttl, description)
        .await
        .map_err(store_error)?;
    tracing::info!(user, jti = %info.jti, "token minted");
    Ok((
        StatusCode::CREATED,
        Json(Minted {
            token,
            info: info.into(),
        }),
    )
        .into_response())
}

fn parse_ttl(text: &str) -> ApiResult<Duration> {
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|ttl| !ttl.is_zero())
        .ok_or_else(|| {
            ApiError::bad_request(format!("invalid ttl `{text}` (e.g. 30d)"))
                .with_code("invalid_ttl")
        })
}

/// `DELETE /api/tokens/{jti}`: revoke one of the caller's tokens.
async fn revoke(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(jti): Path<String>,
) -> ApiResult<Response> {
    let user = principal(&identity)?;
    let not_found = || ApiError::not_found("token not found");
    let jti = Uuid::try_parse(&jti).map_err(|_| not_found())?;
    if !state
        .auth
        .revoke_token(user, jti)
        .await
        .map_err(store_error)?
    {
        return Err(not_found());
    }
    tracing::info!(user, %jti, "token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Serialize)]
struct RevokedAll {
    revoked_before: DateTime<Utc>,
}

/// `POST /api/tokens/revoke-all`: revoke every token of the caller, the original hub's Ed25519
/// tokens included (the one used for this request too).
async fn revoke_all(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> ApiResult<Json<RevokedAll>> {
    let user = principal(&identity)?;
    let revoked_before = state.auth.revoke_all(user).await.map_err(store_error)?;
    tracing::info!(user, "all tokens revoked");
    Ok(Json(RevokedAll { revoked_before }))
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotConfigured(what) => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("token minting is not configured on this hub ({what})"),
        )
        .with_code("not_configured"),
        StoreError::InvalidLifetime => {
            ApiError::bad_request("invalid token lifetime").with_code("invalid_ttl")
        }
        StoreError::InvalidName(name) => name.into(),
        other => ApiError::internal(other),
    }
}
