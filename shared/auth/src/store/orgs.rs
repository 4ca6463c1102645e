//! Organisation membership: which users may act as an organisation's repository. Replaces the
//! static `threebot-users-map` and the `user:memberof:<org>` scopes of itsyou.online.

use hub_db::auth::org_members;

use super::AuthStore;
use crate::error::StoreError;
use hub_model::names::validate_repository_name;

/// Most rows returned by one listing (organisations of a user, members of an organisation);
/// keeps the per-request lookup bounded.
pub const MAX_LISTED: i64 = 1000;

impl AuthStore {
    /// Make `username` a member of `org`. False if it already was.
    pub async fn add_member(&self, org: &str, username: &str) -> Result<bool, StoreError> {
        validate_repository_name(org)?;
        validate_repository_name(username)?;
        Ok(org_members::add(self.pool(), org, username).await?)
    }

    /// Remove `username` from `org`. False if it was not a member.
    pub async fn remove_member(&self, org: &str, username: &str) -> Result<bool, StoreError> {
        Ok(org_members::remove(self.pool(), org, username).await?)
    }

    /// The organisations `username` belongs to, sorted.
    pub async fn organisations_of(&self, username: &str) -> Result<Vec<String>, StoreError> {
        Ok(org_members::organisations_of(self.pool(), username, MAX_LISTED).await?)
    }

    /// The members of `org`, sorted.
    pub async fn members_of(&self, org: &str) -> Result<Vec<String>, StoreError> {
        Ok(org_members::members_of(self.pool(), org, MAX_LISTED).await?)
    }

    /// Every account `username` may act as: itself first, then its organisations (sorted).
    /// This is the `accounts` list a web session keeps.
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
