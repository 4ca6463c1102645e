//! The job API (`/api/jobs…`) and the original progress stream `/listen/{jobid}` (hub-api section 9).

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
