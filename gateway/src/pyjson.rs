//! JSON bodies serialised the way the original hub's Python `json.dumps` wrote them.
//!
//! Clients parse JSON, but scripts around the original hub `grep` its output, so the compat
//! routes keep Python's defaults (hub-api §2.1): separators `", "` and `": "`, every
//! non-ASCII character escaped as `\uXXXX` (UTF-16 surrogate pairs above the BMP), keys in
//! declaration order, and a trailing newline.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use hub_apijson::to_vec;

/// An `application/json` response in the original hub's JSON style.
pub struct PyJson<T>(pub T);

impl<T: Serialize> IntoResponse for PyJson<T> {
    fn into_response(self) -> Response {
        match to_vec(&self.0) {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(error) => {
                tracing::error!(%error, "cannot serialise a response body");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
