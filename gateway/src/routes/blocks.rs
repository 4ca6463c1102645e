//! Chunk upload API for self-made flists (`/api/blocks/…`).

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
