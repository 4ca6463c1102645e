//! The caller's API tokens: mint, list, revoke.
//!
//! Tokens are personal: they act for the authenticated principal (`username`), whatever
//! account the `active-user` cookie selects, and carry no more rights than the principal has.
//! The guest token and an authentication-disabled hub have no principal to mint for (`403`).
//! Minting needs `auth.hub_jwt`; without it the answer is `501`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hub_auth::{AuthMethod, Identity, StoreError, TokenInfo};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::state::AppState;

/// Longest description kept with a token.
pub const MAX_DESCRIPTION: usize = 200;

/// The principal tokens are managed for; the guest and the disabled-authentication identity
/// have none.
fn principal(identity: &Identity) -> ApiResult<&str> {
    match identity.method {
        AuthMethod::Guest | AuthMethod::Disabled => Err(ErrorKind::TokensNotManageable.into()),
        AuthMethod::Jwt | AuthMethod::HubJwt | AuthMethod::HubToken => Ok(&identity.username),
    }
}

/// The caller's tokens.
pub async fn list(state: &AppState, identity: &Identity) -> ApiResult<Vec<TokenInfo>> {
    let user = principal(identity)?;
    state.auth.list_tokens(user).await.map_err(store_error)
}

/// Mint a token for the caller, valid `ttl` (`auth.hub_jwt.default_ttl` when absent, at most
/// `auth.token_max_age`), described by `description`. The token is returned only now.
pub async fn mint(
    state: &AppState,
    identity: &Identity,
    ttl: Option<Duration>,
    description: &str,
) -> ApiResult<(String, TokenInfo)> {
    let user = principal(identity)?;
    let max_age = state.config.auth.token_max_age;
    if let Some(ttl) = ttl
        && ttl > max_age
    {
        return Err(ErrorKind::TtlTooLong {
            max: humantime::format_duration(max_age).to_string(),
        }
        .into());
    }
    let description = description.trim();
    if description.len() > MAX_DESCRIPTION || description.chars().any(char::is_control) {
        return Err(ErrorKind::InvalidDescription {
            max: MAX_DESCRIPTION,
        }
        .into());
    }
    let (token, info) = state
        .auth
        .issue_token(user, ttl, description)
        .await
        .map_err(store_error)?;
    tracing::info!(user, jti = %info.jti, "token minted");
    Ok((token, info))
}

/// Revoke the caller's token `jti`; `404 token not found` for anything else.
pub async fn revoke(state: &AppState, identity: &Identity, jti: &str) -> ApiResult<()> {
    let user = principal(identity)?;
    let not_found = || ApiError::new(ErrorKind::TokenNotFound);
    let jti = Uuid::try_parse(jti).map_err(|_| not_found())?;
    if !state
        .auth
        .revoke_token(user, jti)
        .await
        .map_err(store_error)?
    {
        return Err(not_found());
    }
    tracing::info!(user, %jti, "token revoked");
    Ok(())
}

/// Revoke every token of the caller, the original hub's Ed25519 tokens included (the one used
/// for this request too); the time before which tokens are no longer valid.
pub async fn revoke_all(state: &AppState, identity: &Identity) -> ApiResult<DateTime<Utc>> {
    let user = principal(identity)?;
    let revoked_before = state.auth.revoke_all(user).await.map_err(store_error)?;
    tracing::info!(user, "all tokens revoked");
    Ok(revoked_before)
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotConfigured(what) => ErrorKind::NotConfigured {
            what: what.to_string(),
        }
        .into(),
        StoreError::InvalidLifetime => ErrorKind::InvalidTokenLifetime.into(),
        StoreError::InvalidName(name) => name.into(),
        other => ApiError::internal(other),
    }
}
