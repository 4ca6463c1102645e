//! Self-hosted static assets (`/static/…`), compiled into the binary: no CDN, nothing to
//! install next to it.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/hub.css");
const JS: &str = include_str!("assets/hub.js");

/// `GET /static/{file}`.
#[utoipa::path(
    get,
    path = "/static/{file}",
    tag = "web",
    summary = "Self-hosted assets",
    responses(
        (status = 200, description = "`hub.css` or `hub.js`", content(
            (String = "text/css"),
            (String = "text/javascript"),
        )),
        (status = 404, description = "No such asset (empty body)"),
    ),
)]
pub async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "hub.css" => ("text/css; charset=utf-8", CSS),
        "hub.js" => ("text/javascript; charset=utf-8", JS),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
