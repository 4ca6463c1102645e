//! PostgreSQL records of the authentication layer (migration `20261125000200_auth.sql`): issued
//! hub JWTs, per-user revocation times, organisation memberships and local accounts.

mod local_users;
mod orgs;
mod tokens;

pub use local_users::MAX_PASSWORD_BYTES;
pub use orgs::MAX_LISTED;
pub use tokens::{MAX_LISTED_TOKENS, TokenInfo};

use hub_db::PgPool;

/// Access to the `auth_*` tables.
#[derive(Debug, Clone)]
pub struct AuthStore {
    pool: PgPool,
}

impl AuthStore {
    /// Use `pool`; the migrations must have run.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
