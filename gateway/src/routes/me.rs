//! The authenticated API under `/api/flist/me…` (hub-api section 7).

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
