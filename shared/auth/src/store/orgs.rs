//! Organisation membership: which users may act as an organisation's repository. Replaces the
//! static `threebot-users-map` and the `user:memberof:<org>` scopes of itsyou.online.

use super::AuthStore;
use crate::error::StoreError;
use crate::names::validate_repository_name;

/// Most rows returned by one listing (organisations of a user, members of an organisation);
/// keeps the per-request lookup bounded.
pub const MAX_LISTED: i64 = 1000;

impl AuthStore {
    /// Make `username` a member of `org`. False if it already was.
    pub async fn add_member(&self, org: &str, username: &str) -> Result<bool, StoreError> {
        validate_repository_name(org)?;
        validate_repository_name(username)?;
        let done = sqlx::query(
            "INSERT INTO auth_org_members (org, username) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(org)
        .bind(username)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Remove `username` from `org`. False if it was not a member.
    pub async fn remove_member(&self, org: &str, username: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM auth_org_members WHERE org = $1 AND username = $2")
            .bind(org)
            .bind(username)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The organisations `username` belongs to, sorted.
    pub async fn organisations_of(&self, username: &str) -> Result<Vec<String>, StoreError> {
        let orgs = sqlx::query_scalar(
            "SELECT org FROM auth_org_members WHERE username = $1 ORDER BY org LIMIT $2",
        )
        .bind(username)
        .bind(MAX_LISTED)
        .fetch_all(self.pool())
        .await?;
        Ok(orgs)
    }

    /// The members of `org`, sorted.
    pub async fn members_of(&self, org: &str) -> Result<Vec<String>, StoreError> {
        let members = sqlx::query_scalar(
            "SELECT username FROM auth_org_members WHERE org = $1 ORDER BY username LIMIT $2",
        )
        .bind(org)
        .bind(MAX_LISTED)
        .fetch_all(self.pool())
        .await?;
        Ok(members)
    }

    /// Every account `username` may act as: itself first, then its organisations (sorted).
    /// This is the `accounts` list of a web session (§4.9).
    pub async fn accounts_of(&self, username: &str) -> Result<Vec<String>, StoreError> {
        let mut accounts = vec![username.to_owned()];
        accounts.extend(
            self.organisations_of(username)
                .await?
                .into_iter()
                .filter(|org| org != username),
        );
        Ok(accounts)
    }
}
