//! Cross-cutting HTTP behaviour of the original hub (hub-api §2.2, §2.3), applied around
//! the whole router before routing:
//!
//! * method names are matched in any letter case (`Post` is `POST`), as the original's
//!   framework upper-cases them;
//! * a trailing slash is ignored (`strict_slashes=False`);
//! * the non-standard `INFO /api/flist/{repo}/{flist}` is answered by the `/light` route;
//! * `OPTIONS` is answered everywhere, and CORS preflights succeed for `Authorization`;
//! * `Access-Control-Allow-Origin: *` is on every response;
//! * an unknown path under `/api/` has the JSON error body (hub-api D5: the original answered
//!   HTML there); wrong methods ([`method_not_allowed`]) and unreadable paths, queries and
//!   bodies (the extractors of [`crate::extract`]) go through the error catalogue too.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::normalize_path::NormalizePath;

use crate::error::{ApiError, ErrorKind, Shape};

/// Methods the hub answers, for `Allow` and preflights.
const ALLOW_METHODS: &str = "GET, HEAD, POST, DELETE, INFO, OPTIONS";
/// Request headers browsers may send cross-origin.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Original-Name, Prefer, \
                             Idempotency-Key, Last-Event-ID, Range, If-None-Match, \
                             If-Modified-Since";
/// Response headers scripts on other origins may read.
const EXPOSE_HEADERS: &str = "ETag, Last-Modified, Content-Range, Content-Length, Retry-After, \
                              Location";
/// How long browsers may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "86400";

/// Wrap the complete `app` router: its routes run behind the behaviour of this module. The
/// result is still a [`Router`] (an outer router whose only "route" is the app), so the binary
/// and the tests serve it the same way.
pub fn wrap(app: Router) -> Router {
    let app = NormalizePath::trim_trailing_slash(app.fallback(not_found));
    Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(error_shape))
        .layer(middleware::from_fn(info_method))
        .layer(middleware::from_fn(cors))
        .layer(middleware::from_fn(upper_case_method))
}

/// `Post`, `get`, `info`: route like `POST`, `GET`, `INFO`. The original's framework upper-cases
/// the method before routing and published clients rely on it (`curl -X Post`); hyper keeps
/// such names as extension methods, which no route matches. Outermost, so that every other
/// layer (CORS's `OPTIONS`, `INFO`) sees the upper-case name.
async fn upper_case_method(mut request: Request, next: Next) -> Response {
    if let Some(method) = upper_case(request.method()) {
        *request.method_mut() = method;
    }
    next.run(request).await
}

/// The upper-case form of `method` when it has lower-case letters.
fn upper_case(method: &Method) -> Option<Method> {
    let name = method.as_str();
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return None;
    }
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).ok()
}

/// Unknown routes: the JSON error under `/api/`, the website's 404 page elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    if is_api(uri.path()) {
        ApiError::new(ErrorKind::RouteNotFound).into_response()
    } else {
        crate::web::not_found_page()
    }
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Render the errors of the hub's own APIs (`/api/jobs`, `/api/blocks`, `/api/tokens`) with
/// their code; the original hub's routes keep its answers.
async fn error_shape(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let own_api = ["/api/jobs", "/api/blocks", "/api/tokens"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
    let shape = if own_api {
        Shape::Coded
    } else {
        Shape::Original
    };
    shape.scope(next.run(request)).await
}

/// Answer `OPTIONS` for every path; add `Access-Control-Allow-Origin: *` to everything else.
async fn cors(request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return (
            StatusCode::OK,
            [
                (header::ALLOW, ALLOW_METHODS),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS),
                (header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE),
            ],
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    response
}

/// `INFO /api/flist/{repo}/{flist}` becomes `GET /api/flist/{repo}/{flist}/light` (axum routes
/// standard methods only).
async fn info_method(mut request: Request, next: Next) -> Response {
    if request.method().as_str() == "INFO"
        && let Some(uri) = light_uri(request.uri())
    {
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri;
    }
    next.run(request).await
}

fn light_uri(uri: &Uri) -> Option<Uri> {
    let mut segments = uri.path().split('/').filter(|s| !s.is_empty());
    let (Some("api"), Some("flist"), Some(repo), Some(flist), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    if repo == "me" {
        return None;
    }
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("/api/flist/{repo}/{flist}/light{query}")
        .parse()
        .ok()
}

/// A known path asked with a method it does not serve: the catalogue's `405` under `/api/`, a
/// bare `405` elsewhere (axum adds `Allow` to both). [`crate::app`] installs it on every
/// route.
pub async fn method_not_allowed(uri: Uri) -> Response {
    if is_api(uri.path()) {
        ApiError::new(ErrorKind::MethodNotAllowed).into_response()
    } else {
        StatusCode::METHOD_NOT_ALLOWED.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_upper_cased() {
        let method = |name: &str| Method::from_bytes(name.as_bytes()).expect("method");
        assert_eq!(upper_case(&method("Post")), Some(Method::POST));
        assert_eq!(upper_case(&method("get")), Some(Method::GET));
        assert_eq!(upper_case(&method("options")), Some(Method::OPTIONS));
        assert_eq!(upper_case(&method("info")), Some(method("INFO")));
        assert_eq!(upper_case(&Method::DELETE), None);
        assert_eq!(upper_case(&method("INFO")), None);
    }

    #[test]
    fn info_is_rewritten_for_four_segment_flist_paths_only() {
        let light = |path: &str| light_uri(&path.parse().expect("uri")).map(|u| u.to_string());
        assert_eq!(
            light("/api/flist/tf-zos/zos:v3.flist").as_deref(),
            Some("/api/flist/tf-zos/zos:v3.flist/light")
        );
        assert_eq!(
            light("/api/flist/a/b/?x=1").as_deref(),
            Some("/api/flist/a/b/light?x=1")
        );
        assert_eq!(light("/api/flist/me/b"), None);
        assert_eq!(light("/api/flist/a"), None);
        assert_eq!(light("/api/flist/a/b/light"), None);
        assert_eq!(light("/a/b"), None);
    }
}
