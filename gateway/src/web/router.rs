//! The website's routes: sign-in (ThreeFold Connect, local accounts), pages and forms (hub-api
//! §10). `/{repo}/{name}.md` shares its path with the downloads and is dispatched by
//! [`crate::app`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use super::{assets, forms, login, pages};
use crate::state::AppState;

/// Routes of the website. `/{repo}` and `/{repo}/tags/{tag}` are pages; the static names
/// (hub-api §3.4: `upload`, `merge`, `login`, …) win over them.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route(
            "/upload",
            // `POST /upload` answers JSON for the page's script.
            get(forms::upload_form)
                .post(forms::web_upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/upload-flist",
            // The upload limit is enforced while streaming into staging
            // (`limits.upload_max_bytes`), not by axum's 2 MB default.
            get(forms::upload_flist_form)
                .post(forms::upload_flist)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/merge", get(forms::merge_form).post(forms::merge))
        .route(
            "/docker-convert",
            get(forms::docker_form).post(forms::docker_convert),
        )
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
