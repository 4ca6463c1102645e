//! Anonymous downloads: flist files, checksums, `.txt` and `.json` info (hub-api section 8).

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
