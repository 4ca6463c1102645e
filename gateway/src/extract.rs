//! Request extractors shared by the routes.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use hub_auth::Identity;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::state::AppState;

/// Name of the cookie selecting the current account (hub-api §4.5).
pub const ACTIVE_USER_COOKIE: &str = "active-user";

/// An authenticated caller (the `apicall` guard of hub-api §4.2). `identity.user` is the current
/// repository: the only one the caller may write to.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = parts.headers.get(header::AUTHORIZATION);
        let cookie = cookie_value(parts, ACTIVE_USER_COOKIE);
        let identity = crate::auth_limit::authenticate(
            state,
            client_address(parts),
            authorization,
            cookie.as_deref(),
        )
        .await?;
        crate::limits::check_request_rate(state, &identity).await?;
        Ok(Self(identity))
    }
}

/// The address of the client a request comes from, for the limits kept per client.
///
/// The client the forwarded layer found (the right-most untrusted `X-Forwarded-For` hop behind a
/// trusted proxy, else the TCP peer), else the TCP peer; `None` for a router served without
/// peer addresses, where per-client limits do not apply. Every per-client limit takes the
/// address from here.
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    // The forwarded layer records the client behind a trusted proxy; without it (a router
    // served another way), the TCP peer.
    if let Some(crate::forwarded::ClientAddr(client)) = parts.extensions.get() {
        return Some(*client);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

/// [`client_address`] as an extractor, for handlers that authenticate on their own.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts)))
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// Whether the client asked for an asynchronous answer (`Prefer: respond-async`, RFC 7240):
/// the original hub's synchronous routes then answer `202` with the job at once.
#[derive(Debug, Clone, Copy)]
pub struct PreferAsync(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for PreferAsync {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let wants_async = parts
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|preference| preference.trim().eq_ignore_ascii_case("respond-async"));
        Ok(Self(wants_async))
    }
}

/// `axum::extract::Path` for the API: a path it cannot read is the catalogue's
/// [`ErrorKind::UnreadableRequest`], rendered like every other API error.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` for the API, with the catalogue's answer to a bad query.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The whole request body for the API (within the route's body limit), with the catalogue's
/// answer to a body that cannot be read or is too large.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(ApiError::from)
    }
}

/// Framework rejections keep their status and explanation.
macro_rules! unreadable_request_from {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                ApiError::new(ErrorKind::UnreadableRequest {
                    status: rejection.status(),
                    detail: rejection.body_text(),
                })
            }
        }
    )*};
}

unreadable_request_from!(PathRejection, QueryRejection, BytesRejection);

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header: a printable ASCII string of at most 255 characters.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_IDEMPOTENCY_KEY
                && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .ok_or(ErrorKind::InvalidIdempotencyKey)?;
    Ok(Some(key.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn idempotency_keys_are_checked() {
        let mut headers = HeaderMap::new();
        assert!(matches!(idempotency_key(&headers), Ok(None)));
        headers.insert("idempotency-key", "abc-123".parse().expect("header"));
        assert_eq!(
            idempotency_key(&headers).ok().flatten().as_deref(),
            Some("abc-123")
        );
        headers.insert("idempotency-key", "x".repeat(300).parse().expect("header"));
        assert!(idempotency_key(&headers).is_err());
    }

    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn finds_the_active_user_cookie_among_others() {
        let parts = parts(&[("cookie", "a=1; active-user=org.3bot"), ("cookie", "b=2")]);
        assert_eq!(
            cookie_value(&parts, ACTIVE_USER_COOKIE).as_deref(),
            Some("org.3bot")
        );
        assert_eq!(cookie_value(&parts, "missing"), None);
    }

    #[tokio::test]
    async fn prefer_respond_async() {
        let mut p = parts(&[("prefer", "return=minimal, respond-async")]);
        assert!(
            PreferAsync::from_request_parts(&mut p, &())
                .await
                .expect("infallible")
                .0
        );
        let mut p = parts(&[]);
        assert!(
            !PreferAsync::from_request_parts(&mut p, &())
                .await
                .expect("infallible")
                .0
        );
    }
}
