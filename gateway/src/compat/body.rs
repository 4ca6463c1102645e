//! Serialised JSON bodies that are cached and served many times: compressed once when they are
//! stored, so that every client that accepts `gzip` (browsers, curl `--compressed`, Python
//! `requests`, Go's `net/http`) gets the small copy without a compression per request.

use std::io::Write;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue};

/// Bodies smaller than this are sent as they are: the saving would not pay for the header.
const COMPRESS_FROM: usize = 1024;

/// A JSON body and, when worth it, its gzip-compressed copy.
#[derive(Clone, Debug)]
pub struct JsonBody {
    plain: Bytes,
    gzip: Option<Bytes>,
}

impl JsonBody {
    /// `plain` without a compressed copy (small or rarely served bodies).
    pub fn plain(plain: Bytes) -> Self {
        Self { plain, gzip: None }
    }

    /// `plain` and its gzip copy, compressed here (CPU work: call it from a blocking context
    /// for large bodies, see [`JsonBody::compress`]).
    pub fn compressed(plain: Bytes) -> Self {
        let gzip = (plain.len() >= COMPRESS_FROM)
            .then(|| gzip(&plain))
            .flatten()
            .filter(|gzip| gzip.len() < plain.len());
        Self { plain, gzip }
    }

    /// [`JsonBody::compressed`] on the blocking pool; the plain body alone if that fails.
    pub async fn compress(plain: Bytes) -> Self {
        if plain.len() < COMPRESS_FROM {
            return Self::plain(plain);
        }
        let copy = plain.clone();
        tokio::task::spawn_blocking(move || Self::compressed(copy))
            .await
            .unwrap_or_else(|_| Self::plain(plain))
    }

    /// The uncompressed JSON.
    pub fn json(&self) -> &Bytes {
        &self.plain
    }

    /// Bytes held in memory (both copies).
    pub fn memory(&self) -> usize {
        self.plain.len() + self.gzip.as_ref().map_or(0, Bytes::len)
    }

    /// The response for a request with `headers`: the gzip copy when the client accepts it.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let json = HeaderValue::from_static("application/json");
        let vary = HeaderValue::from_static("accept-encoding");
        match &self.gzip {
            Some(gzip) if accepts_gzip(headers) => (
                [
                    (CONTENT_TYPE, json),
                    (CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                    (VARY, vary),
                ],
                gzip.clone(),
            )
                .into_response(),
            Some(_) => ([(CONTENT_TYPE, json), (VARY, vary)], self.plain.clone()).into_response(),
            None => ([(CONTENT_TYPE, json)], self.plain.clone()).into_response(),
        }
    }
}

fn gzip(plain: &[u8]) -> Option<Bytes> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::new(6));
    encoder.write_all(plain).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

/// Whether `Accept-Encoding` allows `gzip` (RFC 9110 12.5.3): named (or `x-gzip`, or `*`)
/// with a non-zero quality. An explicit `gzip;q=0` refuses it even when `*` is accepted.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let accepted = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .all(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return accepted;
            }
            if coding == "*" {
                star = accepted;
            }
        }
    }
    star
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn headers(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_str(accept).expect("header"),
        );
        headers
    }

    #[test]
    fn accept_encoding_is_parsed_with_qualities() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("br;q=1.0, gzip;q=0.8, *;q=0.1")));
        assert!(accepts_gzip(&headers("*")));
        assert!(accepts_gzip(&headers("x-gzip")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("*, gzip;q=0")));
        assert!(!accepts_gzip(&headers("gzip;q=0.000")));
        assert!(!accepts_gzip(&headers("br, deflate")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&headers("gzip;q=abc")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn large_bodies_are_served_compressed_to_those_who_accept_it() {
        let json = Bytes::from(format!("[{}]", vec!["\"entry\""; 1000].join(",")));
        let body = JsonBody::compress(json.clone()).await;
        assert!(body.memory() < 2 * json.len());

        let response = body.respond(&headers("gzip, deflate"));
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[VARY], "accept-encoding");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut inflated)
            .expect("gzip");
        assert_eq!(inflated, json);

        let response = body.respond(&HeaderMap::new());
        assert!(response.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(response.headers()[VARY], "accept-encoding");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(bytes, json);
    }

    #[tokio::test]
    async fn small_bodies_are_never_compressed() {
        let body = JsonBody::compress(Bytes::from_static(b"[\"a\"]")).await;
        let response = body.respond(&headers("gzip"));
        assert!(response.headers().get(CONTENT_ENCODING).is_none());
        assert!(response.headers().get(VARY).is_none());
    }
}
