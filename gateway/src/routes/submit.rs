//! The original hub's routes that submit jobs: `/api/flist/me/upload`, `/upload-flist`,
//! `/merge/{target}` and `/docker`. Their handlers parse the request, call
//! [`crate::service::submit`], and answer through [`super::answer`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;

use super::{submit_docker, submit_merge, submit_upload};
use crate::state::AppState;

/// Routes of the original hub that submit jobs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/flist/me/upload",
            // The upload limit is enforced while streaming (`limits.upload_max_bytes`), not by
            // axum's 2 MB default.
            post(submit_upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/flist/me/upload-flist",
            post(submit_upload::upload_flist).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/flist/me/merge",
            post(submit_merge::merge_without_target),
        )
        .route(
            "/api/flist/me/merge/{target}",
            post(submit_merge::merge_into),
        )
        .route("/api/flist/me/docker", post(submit_docker::docker))
}
