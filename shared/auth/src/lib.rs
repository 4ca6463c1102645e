//! Authentication for the hub's HTTP gateway: the API guard every `/api/flist/me…` route passes
//! (the original's `apicall`) and everything it rests on.
//!
//! * [`Authenticator::authenticate`] turns an `Authorization` header and `active-user` cookie
//!   into an [`Identity`] or an [`AuthError`] carrying the exact status and message of the
//!   spec's error catalogue. It accepts the guest token, JWTs of configured issuers, the hub's
//!   own revocable JWTs and the original hub's Ed25519 tokens ([`hub_token`]).
//! * [`AuthStore`] keeps issued tokens, revocations, organisation memberships and local accounts
//!   in PostgreSQL (migration `shared/db/migrations/20261125000200_auth.sql`).
//! * [`threebot`] implements the ThreeFold Connect login. The name rules are hub-model's
//!   [`hub_model::names`].
//!
//! No HTTP framework is involved: the gateway adapts these types in a few lines.
//!
//! ```no_run
//! # async fn guard(
//! #     config: hub_auth::AuthConfig,
//! #     pool: hub_db::PgPool,
//! #     headers: http::HeaderMap,
//! #     active_user_cookie: Option<&str>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let auth = hub_auth::Authenticator::new(&config, pool).await?;
//! match auth
//!     .authenticate(headers.get(http::header::AUTHORIZATION), active_user_cookie)
//!     .await
//! {
//!     // Writes go to `identity.user` only.
//!     Ok(identity) => println!("{} acts as {}", identity.username, identity.user),
//!     // Answer `err.status()` with `{"status": "error", "message": err.message()}`.
//!     Err(err) => println!("{} {}", err.status(), err.message()),
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod config;
mod error;
mod guard;
pub mod hub_token;
mod jwt;
mod store;
pub mod threebot;

pub use config::{AuthConfig, ConfigError};
pub use error::{AuthError, StoreError};
pub use guard::{ADMINISTRATOR, AuthMethod, Authenticator, GUEST, Identity, select_active_user};
pub use hub_token::mint_hub_token;
pub use store::{AuthStore, MAX_LISTED, MAX_LISTED_TOKENS, MAX_PASSWORD_BYTES, TokenInfo};
