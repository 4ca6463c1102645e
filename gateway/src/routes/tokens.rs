//! `/api/tokens…`: the caller's API tokens (mint, list, revoke), over
//! [`crate::service::tokens`].

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use hub_auth::TokenInfo;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::extract::{Body, Caller, Path};
use crate::service::tokens;
use crate::state::AppState;

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

/// `GET /api/tokens`: the caller's hub JWTs, newest first (revoked and expired included).
async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = tokens::list(&state, &identity).await?;
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
    Body(body): Body,
) -> ApiResult<Response> {
    let request: MintRequest = if body.is_empty() {
        MintRequest {
            ttl: None,
            description: String::new(),
        }
    } else {
        serde_json::from_slice(&body).map_err(|error| ErrorKind::MalformedJson {
            detail: Some(error.to_string()),
        })?
    };
    let ttl = request.ttl.as_deref().map(parse_ttl).transpose()?;
    let (token, info) = tokens::mint(&state, &identity, ttl, &request.description).await?;
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
            ApiError::new(ErrorKind::InvalidTtl {
                value: text.to_owned(),
            })
        })
}

/// `DELETE /api/tokens/{jti}`: revoke one of the caller's tokens.
async fn revoke(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(jti): Path<String>,
) -> ApiResult<Response> {
    tokens::revoke(&state, &identity, &jti).await?;
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
    let revoked_before = tokens::revoke_all(&state, &identity).await?;
    Ok(Json(RevokedAll { revoked_before }))
}
