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

use crate::error::{ApiError, ApiResult, ErrorKind, responses};
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Token)]
struct TokenView {
    /// The token's id.
    jti: Uuid,
    /// The account it acts as.
    username: String,
    /// Free text given when it was minted.
    description: String,
    /// When it was minted.
    created_at: DateTime<Utc>,
    /// When it stops working.
    expires_at: DateTime<Utc>,
    /// When it was revoked.
    revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    #[schema(schema_with = crate::schemas::fields::token_status)]
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
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "tokens",
    summary = "The caller's hub tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first, revoked and expired included", body = Vec<TokenView>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    ),
)]
async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = tokens::list(&state, &identity).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Body of `POST /api/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = MintToken)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    /// Lifetime (`30d`, `12h`); default: `auth.hub_jwt.default_ttl`.
    #[schema(example = "30d")]
    ttl: Option<String>,
    /// Free text shown in listings ("CI of project x").
    #[serde(default)]
    description: String,
}

/// A new token and what the listing shows of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MintedToken)]
struct Minted {
    /// The token: shown once, keep it.
    token: String,
    #[serde(flatten)]
    info: TokenView,
}

/// `POST /api/tokens`: mint a token for the caller (`201`, the token is shown only now).
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "tokens",
    summary = "Mint a token for the caller (shown once)",
    security(("bearer" = [])),
    request_body(content = Option<MintRequest>, description = "Optional: an empty body takes the defaults"),
    responses(
        (status = 201, description = "The token, shown only now", body = Minted),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 501, response = responses::NotConfigured),
    ),
)]
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
#[utoipa::path(
    delete,
    path = "/api/tokens/{jti}",
    tag = "tokens",
    summary = "Revoke one of the caller's tokens",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(jti): Path<String>,
) -> ApiResult<Response> {
    tokens::revoke(&state, &identity, &jti).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The answer of revoke-all.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RevokedAll {
    /// Every token of the caller issued before this instant is revoked.
    revoked_before: DateTime<Utc>,
}

/// `POST /api/tokens/revoke-all`: revoke every token of the caller, the original hub's Ed25519
/// tokens included (the one used for this request too).
#[utoipa::path(
    post,
    path = "/api/tokens/revoke-all",
    tag = "tokens",
    summary = "Revoke every token of the caller",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Tokens issued before `revoked_before` no longer work", body = RevokedAll),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    ),
)]
async fn revoke_all(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> ApiResult<Json<RevokedAll>> {
    let revoked_before = tokens::revoke_all(&state, &identity).await?;
    Ok(Json(RevokedAll { revoked_before }))
}
