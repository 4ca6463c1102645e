//! Cross-cutting HTTP behaviour of the original hub (hub-api §2.2, §2.3), applied around
//! the whole router before routing:
//!
//! * method names are matched in any letter case (`Post` is `POST`), as the original's
//!   framework upper-cases them;
//! * a trailing slash is ignored (`strict_slashes=False`);
//! * the non-standard `INFO /api/flist/{repo}/{flist}` is answered by the `/light` route;
//! * `OPTIONS` is answered everywhere, and CORS preflights succeed for `Authorization`
//!   (tower-http's [`CorsLayer`], plus [`options_allow`] for what it cannot write);
//! * `Access-Control-Allow-Origin: *` is on every response ([`CorsLayer`]);
//! * every request runs in a span with its method, route template, status and latency
//!   (tower-http's [`TraceLayer`]);
//! * an unknown path under `/api/` has the JSON error body (hub-api D5: the original answered
//!   HTML there); wrong methods ([`method_not_allowed`]) and unreadable paths, queries and
//!   bodies (the extractors of [`crate::extract`]) go through the error catalogue too.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders, Vary};
use tower_http::normalize_path::NormalizePath;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::{ApiError, ErrorKind, Shape};

/// Methods the hub answers, for `Allow` and preflights.
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "DELETE", "INFO", "OPTIONS"];
/// The same, as the `Allow` header lists them.
const ALLOW_METHODS: &str = "GET, HEAD, POST, DELETE, INFO, OPTIONS";
/// Request headers browsers may send cross-origin.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Original-Name, Prefer, \
                             Idempotency-Key, Last-Event-ID, Range, If-None-Match, \
                             If-Modified-Since";
/// Response headers scripts on other origins may read.
const EXPOSE_HEADERS: [HeaderName; 6] = [
    header::ETAG,
    header::LAST_MODIFIED,
    header::CONTENT_RANGE,
    header::CONTENT_LENGTH,
    header::RETRY_AFTER,
    header::LOCATION,
];
/// How long browsers may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// Wrap the complete `app` router: its routes run behind the behaviour of this module. The
/// result is still a [`Router`] (an outer router whose only "route" is the app), so the binary
/// and the tests serve it the same way.
pub fn wrap(app: Router) -> Router {
    // Inside the router, where the route template of the request is known.
    let app = app
        .fallback(not_found)
        .layer(middleware::from_fn(record_route));
    let app = NormalizePath::trim_trailing_slash(app);
    Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(error_shape))
        .layer(middleware::from_fn(info_method))
        .layer(cors())
        .layer(middleware::from_fn(options_allow))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(answered)
                // A failure of this hub is logged with its cause where it is answered
                // (`ApiError`); the span has its status.
                .on_failure(()),
        )
        .layer(middleware::from_fn(upper_case_method))
}

/// The span of a request: its method and, once routed, its route template (never the path
/// itself, which may carry a token: `/token/{token}`), status and latency. Headers and bodies
/// are left out.
fn request_span(request: &Request) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

/// Record the route template of the request in its span (routed requests only).
async fn record_route(request: Request, next: Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        Span::current().record("route", route.as_str());
    }
    next.run(request).await
}

/// Record the answer's status and latency in the request's span.
fn answered(response: &Response, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record(
        "latency_ms",
        u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
    );
    tracing::debug!("answered");
}

/// `Access-Control-Allow-Origin: *` on every response; every `OPTIONS` answered at once with
/// the preflight headers.
fn cors() -> CorsLayer {
    let methods: Vec<Method> = METHODS
        .iter()
        .filter_map(|method| Method::from_bytes(method.as_bytes()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods(AllowMethods::list(methods))
        .expose_headers(ExposeHeaders::list(EXPOSE_HEADERS))
        .max_age(PREFLIGHT_MAX_AGE)
        // The answers do not depend on the origin (`*`) nor on what a preflight asks.
        .vary(Vary::list([]))
}

/// What the hub adds to [`CorsLayer`]'s answer to `OPTIONS` (hub-api §2.3: answered everywhere,
/// preflights allow `Authorization, Content-Type, X-Original-Name`): `Allow`, which is no CORS
/// header, and `Access-Control-Allow-Headers` in the spec's spelling, which the layer would
/// lower-case (it takes header names).
async fn options_allow(request: Request, next: Next) -> Response {
    let options = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if options {
        let headers = response.headers_mut();
        headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW_METHODS));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
    }
    response
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
    use std::io;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;
    use tracing_subscriber::fmt::format::FmtSpan;

    use super::*;

    /// What a subscriber wrote.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut logs = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            logs.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        fn text(&self) -> String {
            let logs = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            String::from_utf8_lossy(&logs).into_owned()
        }
    }

    #[tokio::test]
    async fn requests_run_in_a_span_with_route_status_and_latency_only() {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_span_events(FmtSpan::CLOSE)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app = wrap(Router::new().route("/token/{token}", get(|| async { "shown" })));
        let request = Request::get("/token/secret-token?q=private")
            .header(header::AUTHORIZATION, "bearer hidden-credential")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let text = logs.text();
        for field in [
            "method=GET",
            "route=\"/token/{token}\"",
            "status=200",
            "latency_ms=",
        ] {
            assert!(text.contains(field), "{field} in {text}");
        }
        for secret in ["secret-token", "private", "hidden-credential"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[tokio::test]
    async fn options_is_answered_everywhere_with_allow() {
        let app = wrap(Router::new().route("/a", get(|| async { "a" })));
        for path in ["/a", "/nowhere"] {
            let request = Request::builder()
                .method(Method::OPTIONS)
                .uri(path)
                .body(Body::empty())
                .expect("request");
            let response = app.clone().oneshot(request).await.expect("response");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::ALLOW], ALLOW_METHODS, "{path}");
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], ALLOW_HEADERS);
            assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "86400");
            assert!(headers.get(header::VARY).is_none(), "{path}");
        }
        let request = Request::get("/a").body(Body::empty()).expect("request");
        let response = app.oneshot(request).await.expect("response");
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
                .to_str()
                .unwrap_or_default()
                .contains("retry-after")
        );
        assert!(headers.get(header::ALLOW).is_none());
    }

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
