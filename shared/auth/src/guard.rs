//! The API guard (hub-api §4.2: the original's `apicall` checks read-only, disabled, header,
//! guest, JWT, hub token, in that order) and the token operations that need the hub's keys.
//!
//! The gateway calls [`Authenticator::authenticate`] with the request's `Authorization` header
//! and `active-user` cookie, and renders an [`AuthError`] with its `status()` and `message()`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderValue;
use hub_db::PgPool;
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::config::{AuthConfig, ConfigError, SecretString};
use crate::error::{AuthError, StoreError};
use crate::hub_token::HubTokenKey;
use crate::jwt::{JwtVerifier, VerifiedJwt, scope_accounts};
use crate::store::{AuthStore, TokenInfo};
use hub_model::names::validate_repository_name;

/// The identity of every request when authentication is disabled.
pub const ADMINISTRATOR: &str = "Administrator";
/// The identity of the guest token.
pub const GUEST: &str = "guest";

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Authentication is disabled; everyone is [`ADMINISTRATOR`].
    Disabled,
    /// The configured guest token.
    Guest,
    /// A JWT of an external issuer.
    Jwt,
    /// A JWT minted by this hub.
    HubJwt,
    /// A hub API token: Ed25519-signed `[user, time]`, as the original hub minted them.
    HubToken,
}

/// Who is calling and which repository the request acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The current repository: the request may write there only (and read anywhere).
    pub user: String,
    /// The authenticated principal.
    pub username: String,
    /// Every repository the principal may act as, `username` first.
    pub accounts: Vec<String>,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// The API guard and the hub's token operations.
#[derive(Debug)]
pub struct Authenticator {
    readonly: bool,
    enabled: bool,
    guest_token: Option<SecretString>,
    hub_key: Option<HubTokenKey>,
    token_max_age: Duration,
    clock_skew: Duration,
    users_map: BTreeMap<String, String>,
    jwt: JwtVerifier,
    hub_jwt_ttl: Option<Duration>,
    store: AuthStore,
}

impl Authenticator {
    /// Build from the configuration (validating it and reading key files) and a pool on which
    /// the migrations have run.
    pub async fn new(config: &AuthConfig, pool: PgPool) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            readonly: config.readonly,
            enabled: config.authentication,
            guest_token: config.guest_token.clone(),
            hub_key: config
                .threebot_seed
                .as_ref()
                .map(|seed| HubTokenKey::from_seed(seed.expose())),
            token_max_age: config.token_max_age,
            clock_skew: config.clock_skew,
            users_map: config.threebot_users_map.clone(),
            jwt: JwtVerifier::new(config).await?,
            hub_jwt_ttl: config.hub_jwt.as_ref().map(|hub| hub.default_ttl),
            store: AuthStore::new(pool),
        })
    }

    /// Whether read-only mode is on (web forms then redirect to `/readonly`).
    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    /// Whether authentication is enabled (when not, everyone is [`ADMINISTRATOR`]).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The PostgreSQL records: organisations, local accounts, token listing and revocation.
    pub fn store(&self) -> &AuthStore {
        &self.store
    }

    /// The API guard, in the original's order: read-only, disabled, missing header, malformed header,
    /// guest token, JWT, hub token. Then the `active-user` cookie picks the current repository
    /// among the caller's accounts.
    ///
    /// Deviation from the original, which ignored an unknown cookie: a cookie naming an account
    /// the caller does not have is refused with [`AuthError::Forbidden`] (403), so a script never
    /// writes to its own repository while believing it writes to an organisation's. An empty
    /// cookie counts as absent. With authentication disabled the cookie is ignored, as before:
    /// there is only one account.
    pub async fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
        active_user_cookie: Option<&str>,
    ) -> Result<Identity, AuthError> {
        if self.readonly {
            return Err(AuthError::ReadOnly);
        }
        if !self.enabled {
            return Ok(Identity {
                user: ADMINISTRATOR.to_owned(),
                username: ADMINISTRATOR.to_owned(),
                accounts: vec![ADMINISTRATOR.to_owned()],
                method: AuthMethod::Disabled,
            });
        }
        let token = bearer_token(authorization.ok_or(AuthError::NoAuthorization)?)?;

        let (username, accounts, method) = if self.is_guest_token(token) {
            (GUEST.to_owned(), vec![GUEST.to_owned()], AuthMethod::Guest)
        } else if token.contains('.') {
            self.jwt_identity(token).await?
        } else {
            self.hub_token_identity(token).await?
        };
        let user = select_active_user(&username, &accounts, active_user_cookie)?;
        Ok(Identity {
            user,
            username,
            accounts,
            method,
        })
    }

    /// Every account `username` may act as when it logs in through the hub (ThreeFold Connect,
    /// local account, hub tokens): itself, the virtual users the `threebot_users_map` gives it,
    /// then its organisations. This is the `accounts` list a web session keeps.
    pub async fn accounts_for(&self, username: &str) -> Result<Vec<String>, StoreError> {
        let virtual_users = self
            .users_map
            .iter()
            .filter(|(_, owner)| *owner == username)
            .map(|(name, _)| name.clone());
        let orgs = self.store.organisations_of(username).await?;
        Ok(accounts_list(username, virtual_users.chain(orgs)))
    }

    /// Mint a hub API token (Ed25519, [`crate::hub_token`]) for `user`, dated now: what
    /// `/callback_token` hands out.
    pub fn mint_hub_token(&self, user: &str) -> Result<String, StoreError> {
        let key = self
            .hub_key
            .as_ref()
            .ok_or(StoreError::NotConfigured("threebot_seed"))?;
        Ok(key.mint(user, Utc::now().timestamp()))
    }

    /// Mint a revocable hub JWT for `user`, valid for `ttl` (default: `hub_jwt.default_ttl`),
    /// and record it. The admin CLI and the token page call this.
    pub async fn issue_token(
        &self,
        user: &str,
        ttl: Option<Duration>,
        description: &str,
    ) -> Result<(String, TokenInfo), StoreError> {
        let hub = self.jwt.hub().ok_or(StoreError::NotConfigured("hub_jwt"))?;
        validate_repository_name(user)?;
        let ttl = ttl
            .or(self.hub_jwt_ttl)
            .filter(|ttl| !ttl.is_zero())
            .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
            .ok_or(StoreError::InvalidLifetime)?;
        // JWT times are whole seconds; store exactly what the token says.
        let created_at = DateTime::from_timestamp(Utc::now().timestamp(), 0)
            .ok_or(StoreError::InvalidLifetime)?;
        let expires_at = created_at
            .checked_add_signed(ttl)
            .ok_or(StoreError::InvalidLifetime)?;
        let jti = Uuid::new_v4();
        let claims = hub.claims(user, jti, created_at.timestamp(), expires_at.timestamp());
        let token = hub.sign(&claims)?;
        let info = TokenInfo {
            jti,
            username: user.to_owned(),
            description: description.to_owned(),
            created_at,
            expires_at,
            revoked_at: None,
        };
        self.store.record_token(&info).await?;
        Ok((token, info))
    }

    /// The hub JWTs of `user` (see [`AuthStore::list_tokens`]).
    pub async fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, StoreError> {
        self.store.list_tokens(user).await
    }

    /// Revoke one hub JWT of `user` (see [`AuthStore::revoke_token`]).
    pub async fn revoke_token(&self, user: &str, jti: Uuid) -> Result<bool, StoreError> {
        self.store.revoke_token(user, jti).await
    }

    /// Revoke every token of `user`, hub Ed25519 tokens included (see
    /// [`AuthStore::revoke_all`]).
    pub async fn revoke_all(&self, user: &str) -> Result<DateTime<Utc>, StoreError> {
        self.store.revoke_all(user).await
    }

    /// Constant-time so the guest token cannot be guessed byte by byte from response times
    /// (only its length can leak).
    fn is_guest_token(&self, token: &str) -> bool {
        self.guest_token
            .as_ref()
            .is_some_and(|guest| bool::from(guest.expose().as_bytes().ct_eq(token.as_bytes())))
    }

    async fn jwt_identity(
        &self,
        token: &str,
    ) -> Result<(String, Vec<String>, AuthMethod), AuthError> {
        let verified = self
            .jwt
            .verify(token)
            .map_err(|_| AuthError::InvalidToken)?;
        match verified {
            VerifiedJwt::External { username, scope } => {
                // The principal becomes a repository name: refuse what could never be one.
                validate_repository_name(&username).map_err(|_| AuthError::InvalidToken)?;
                let orgs = self.store.organisations_of(&username).await?;
                let granted = scope_accounts(&scope).map(str::to_owned);
                let accounts = accounts_list(&username, granted.chain(orgs));
                Ok((username, accounts, AuthMethod::Jwt))
            }
            VerifiedJwt::Hub {
                username,
                scope,
                jti,
            } => {
                validate_repository_name(&username).map_err(|_| AuthError::InvalidToken)?;
                self.check_hub_jwt_revocation(&username, jti).await?;
                // A hub JWT stands for a login through the hub, so it gets the accounts a hub
                // token of the same user gets (virtual users included).
                let hub_accounts = self.accounts_for(&username).await?;
                let granted = scope_accounts(&scope).map(str::to_owned);
                let accounts = accounts_list(&username, granted.chain(hub_accounts));
                Ok((username, accounts, AuthMethod::HubJwt))
            }
        }
    }

    /// [`AuthStore::revoke_all`] marks every recorded token revoked, so the `jti` record alone
    /// decides; the per-user revocation time is for hub Ed25519 tokens, which carry no id.
    async fn check_hub_jwt_revocation(&self, username: &str, jti: Uuid) -> Result<(), AuthError> {
        // A signed token whose record is gone was deleted on purpose: treat it as revoked.
        let state = self
            .store
            .token_state(jti)
            .await?
            .ok_or(AuthError::TokenRevoked)?;
        if state.username != username {
            return Err(AuthError::InvalidToken);
        }
        if state.revoked_at.is_some() {
            return Err(AuthError::TokenRevoked);
        }
        Ok(())
    }

    async fn hub_token_identity(
        &self,
        token: &str,
    ) -> Result<(String, Vec<String>, AuthMethod), AuthError> {
        let key = self.hub_key.as_ref().ok_or(AuthError::InvalidSignature)?;
        let claims = key.verify(token).map_err(|_| AuthError::InvalidSignature)?;
        validate_repository_name(&claims.user).map_err(|_| AuthError::InvalidSignature)?;
        let age = Utc::now().timestamp().saturating_sub(claims.issued_at);
        // A stamp ahead of our clock by more than the skew is a token nobody should hold: it
        // would be "issued after" every revocation and younger than any maximum age.
        let skew = i64::try_from(self.clock_skew.as_secs()).unwrap_or(i64::MAX);
        if age < skew.saturating_neg() {
            return Err(AuthError::TokenNotYetValid);
        }
        let max_age = i64::try_from(self.token_max_age.as_secs()).unwrap_or(i64::MAX);
        if age > max_age {
            return Err(AuthError::TokenExpired);
        }
        if let Some(before) = self.store.revoked_before(&claims.user).await?
            && issued_before(claims.issued_at, before)
        {
            return Err(AuthError::TokenRevoked);
        }
        let accounts = self.accounts_for(&claims.user).await?;
        Ok((claims.user, accounts, AuthMethod::HubToken))
    }
}

/// Whether a token stamped `issued_at` (whole seconds) predates a revocation at `revoked`.
/// A token stamped in the very second of the revocation is refused too: its stamp cannot tell
/// whether it came before, and refusing errs on the safe side.
fn issued_before(issued_at: i64, revoked: DateTime<Utc>) -> bool {
    issued_at <= revoked.timestamp()
}

/// Extract the token of `bearer <token>`: case-insensitive scheme, exactly one space, a
/// non-empty token without spaces.
fn bearer_token(value: &HeaderValue) -> Result<&str, AuthError> {
    let text = value.to_str().map_err(|_| AuthError::InvalidHeader)?;
    let (scheme, token) = text.split_once(' ').ok_or(AuthError::InvalidHeader)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::InvalidHeader);
    }
    Ok(token)
}

/// The current repository: the cookie's account if the caller has it, its own name without a
/// cookie, [`AuthError::Forbidden`] otherwise. The web `protected` guard uses it too.
pub fn select_active_user(
    username: &str,
    accounts: &[String],
    active_user_cookie: Option<&str>,
) -> Result<String, AuthError> {
    match active_user_cookie.filter(|cookie| !cookie.is_empty()) {
        None => Ok(username.to_owned()),
        Some(cookie) if accounts.iter().any(|account| account == cookie) => Ok(cookie.to_owned()),
        Some(_) => Err(AuthError::Forbidden),
    }
}

/// `username` first, then `extra` in order without duplicates, dropping names that could not
/// be repositories (an identity provider's scope is not trusted to be path-safe).
fn accounts_list(username: &str, extra: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut accounts = vec![username.to_owned()];
    for account in extra {
        if validate_repository_name(&account).is_ok() && !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    accounts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).expect("valid header text")
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_with_one_space() {
        for text in ["bearer abc", "Bearer abc", "BEARER a.b.c"] {
            assert!(bearer_token(&header(text)).is_ok(), "{text}");
        }
        for text in [
            "abc",
            "bearer",
            "bearer ",
            "bearer  abc",
            "bearer abc def",
            "basic abc",
            "bearerabc",
            "token abc",
        ] {
            assert!(
                matches!(bearer_token(&header(text)), Err(AuthError::InvalidHeader)),
                "{text}"
            );
        }
        let opaque = HeaderValue::from_bytes(b"bearer \xff").expect("opaque header");
        assert!(matches!(
            bearer_token(&opaque),
            Err(AuthError::InvalidHeader)
        ));
    }

    #[test]
    fn active_user_must_be_one_of_the_accounts() {
        let accounts = vec!["alice".to_owned(), "org".to_owned()];
        assert_eq!(
            select_active_user("alice", &accounts, None).ok().as_deref(),
            Some("alice")
        );
        assert_eq!(
            select_active_user("alice", &accounts, Some(""))
                .ok()
                .as_deref(),
            Some("alice")
        );
        assert_eq!(
            select_active_user("alice", &accounts, Some("org"))
                .ok()
                .as_deref(),
            Some("org")
        );
        assert!(matches!(
            select_active_user("alice", &accounts, Some("bob")),
            Err(AuthError::Forbidden)
        ));
    }

    #[test]
    fn accounts_are_deduplicated_and_path_safe() {
        let extra = ["org", "alice", "../etc", "", "org", "me", "other"].map(String::from);
        assert_eq!(accounts_list("alice", extra), ["alice", "org", "other"]);
    }

    #[test]
    fn revocation_covers_the_revocation_second() {
        let revoked = DateTime::from_timestamp(1000, 500_000_000).expect("valid time");
        assert!(issued_before(999, revoked));
        assert!(issued_before(1000, revoked));
        assert!(!issued_before(1001, revoked));
    }
}
