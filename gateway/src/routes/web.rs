//! Web sign-in (ThreeFold Connect, local accounts) and the website's pages (hub-api section 10).
//! The handlers live in [`crate::web`]; `/{repo}/{name}.md` is served by the downloads router.

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;
use crate::web::{assets, login, pages};

/// Routes of this module. `/{repo}` and `/{repo}/tags/{tag}` are pages; the static names of
/// spec 3.4 win over them.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/upload", get(pages::upload_form))
        .route("/upload-flist", get(pages::upload_flist_form))
        .route("/merge", get(pages::merge_form))
        .route("/docker-convert", get(pages::docker_form))
        .route("/readonly", get(pages::readonly))
        .route("/login", get(login::login))
        .route("/login-method", get(login::login_method))
        .route("/login-local", post(login::login_local))
        .route("/logout", get(login::logout))
        .route("/token", get(login::token))
        .route("/token/{token}", get(pages::token_page))
        .route("/callback_threebot", get(login::callback_threebot))
        .route("/callback_token", get(login::callback_token))
        .route("/static/{file}", get(assets::asset))
        .route("/{repo}", get(pages::repository))
        .route("/{repo}/tags/{tag}", get(pages::tag))
}
