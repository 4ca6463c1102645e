//! Web sign-in (ThreeFold Connect, local accounts) and the website's pages (hub-api section 10).

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
