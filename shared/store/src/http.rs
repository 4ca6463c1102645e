//! Read-only `http://` / `https://` block store, resolved as rfs resolves such `.fl` routes
//! (flist-formats B.6): `GET <base>/<hex[0:2]>/<hex id>`, then `GET <base>/<hex id>` when the
//! first answers 404. No authentication beyond what the URL itself carries; the answer must be
//! the stored (encrypted) bytes, identity encoded. The hub's gateway serves its store this way
//! at `<hub>/api/blocks`.
//!
//! Every fetched block is checked against its id (BLAKE2b-N of the bytes, N = the id's
//! length): a cache or proxy in between must not be able to hand out other content.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::StatusCode;
use tokio::sync::Semaphore;

use crate::error::{invalid, without_password};
use crate::{BlockStore, MAX_VALUE_SIZE, Route, StoreError, check_key};

/// Requests in flight to one HTTP store; more wait for a slot (a whole-tree unpack asks for
/// thousands of blocks at once).
pub const HTTP_CONCURRENCY: usize = 32;

/// Longest wait for a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a single request may take, body included (an 8 MiB block over a slow link).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A read-only block store behind an HTTP base URL.
#[derive(Debug, Clone)]
pub struct HttpStore {
    /// Base URL without trailing `/`.
    base: Arc<str>,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
}

/// What one path answered.
enum Fetched {
    Found(Bytes),
    Missing,
}

impl HttpStore {
    /// A store reading blocks below `base` (`http(s)://host[:port][/path]`). Opening does no
    /// network I/O.
    pub fn new(base: &str) -> Result<Self, StoreError> {
        let parsed = url::Url::parse(base).map_err(|err| invalid(base, &err.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(base, "expected an http:// or https:// URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid(base, "no host given"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                base,
                "block URLs take no query or fragment (readers append /<id>)",
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| invalid(base, &format!("cannot build an HTTP client: {err}")))?;
        Ok(Self {
            base: Arc::from(base.trim_end_matches('/')),
            client,
            slots: Arc::new(Semaphore::new(HTTP_CONCURRENCY)),
        })
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            url: self.url(),
            reason: reason.to_string(),
        }
    }

    /// Turn a non-success status into the error it means: the server's trouble is transient
    /// (5xx, 429, 408), anything else is an unexpected answer.
    fn status_error(&self, url: &str, status: StatusCode) -> StoreError {
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            self.unavailable(format!("GET {} answered {status}", without_password(url)))
        } else {
            StoreError::Protocol {
                url: self.url(),
                message: format!("GET {} answered {status}", without_password(url)),
            }
        }
    }

    /// One `GET`: the body on 200, `Missing` on 404.
    async fn fetch(&self, url: &str, id: &[u8]) -> Result<Fetched, StoreError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| self.unavailable("store closed"))?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|err| self.unavailable(without_password(&err.to_string())))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Fetched::Missing);
        }
        if status != StatusCode::OK {
            return Err(self.status_error(url, status));
        }
        let too_large = |size: u64| StoreError::Protocol {
            url: self.url(),
            message: format!(
                "block {} is {size} bytes, more than the {MAX_VALUE_SIZE}-byte limit",
                hex::encode(id)
            ),
        };
        if let Some(size) = response.content_length()
            && size > MAX_VALUE_SIZE as u64
        {
            return Err(too_large(size));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|err| self.unavailable(without_password(&err.to_string())))?;
        if bytes.len() > MAX_VALUE_SIZE {
            return Err(too_large(bytes.len() as u64));
        }
        if bytes.is_empty() {
            return Err(StoreError::EmptyValue {
                url: self.url(),
                key: hex::encode(id),
            });
        }
        Ok(Fetched::Found(bytes))
    }

    /// The two paths rfs tries, in its order.
    fn paths(&self, id: &[u8]) -> [String; 2] {
        let hex = hex::encode(id);
        let prefix = hex.get(..2).unwrap_or_default();
        [
            format!("{}/{prefix}/{hex}", self.base),
            format!("{}/{hex}", self.base),
        ]
    }
}

/// Whether `data` is the content of block `id`: BLAKE2b with the id's length as its output
/// size (16 for `.flist` chunks, 32 for `.fl` blocks). Other lengths are not content hashes
/// and are not checked.
fn matches_id(id: &[u8], data: &[u8]) -> bool {
    if !(1..=64).contains(&id.len()) {
        return true;
    }
    blake2b_simd::Params::new()
        .hash_length(id.len())
        .hash(data)
        .as_bytes()
        == id
}

#[async_trait]
impl BlockStore for HttpStore {
    async fn get(&self, id: &[u8]) -> Result<Option<Bytes>, StoreError> {
        check_key(id)?;
        for url in self.paths(id) {
            match self.fetch(&url, id).await? {
                Fetched::Missing => continue,
                Fetched::Found(bytes) => {
                    let check = bytes.clone();
                    let owned = id.to_vec();
                    let valid = if check.len() > 64 * 1024 {
                        tokio::task::spawn_blocking(move || matches_id(&owned, &check)).await?
                    } else {
                        matches_id(&owned, &check)
                    };
                    if !valid {
                        return Err(StoreError::Protocol {
                            url: self.url(),
                            message: format!(
                                "GET {} answered bytes that do not hash to the block id",
                                without_password(&url)
                            ),
                        });
                    }
                    return Ok(Some(bytes));
                }
            }
        }
        Ok(None)
    }

    async fn set(&self, _id: &[u8], _data: Bytes) -> Result<(), StoreError> {
        Err(StoreError::Unsupported {
            url: self.url(),
            operation: "writing blocks (http stores are read-only)",
        })
    }

    async fn exists(&self, id: &[u8]) -> Result<bool, StoreError> {
        check_key(id)?;
        for url in self.paths(id) {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| self.unavailable("store closed"))?;
            let response = self
                .client
                .head(&url)
                .send()
                .await
                .map_err(|err| self.unavailable(without_password(&err.to_string())))?;
            match response.status() {
                StatusCode::OK => return Ok(true),
                StatusCode::NOT_FOUND => continue,
                status => return Err(self.status_error(&url, status)),
            }
        }
        Ok(false)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Any HTTP answer means the server is there; the base itself need not be a resource.
        self.client
            .head(self.base.as_ref())
            .send()
            .await
            .map(drop)
            .map_err(|err| self.unavailable(without_password(&err.to_string())))
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route {
            start: u8::MIN,
            end: u8::MAX,
            url: self.url(),
        }]
    }

    fn url(&self) -> String {
        without_password(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        let store = HttpStore::new("https://hub.example/api/blocks/").expect("valid");
        assert_eq!(store.url(), "https://hub.example/api/blocks");
        let id = [0xd1, 0x39];
        assert_eq!(
            store.paths(&id),
            [
                "https://hub.example/api/blocks/d1/d139".to_owned(),
                "https://hub.example/api/blocks/d139".to_owned(),
            ]
        );
        for bad in [
            "ftp://hub.example/x",
            "https://hub.example/x?y=1",
            "https://hub.example/x#y",
            "http://",
        ] {
            assert!(HttpStore::new(bad).is_err(), "{bad}");
        }
        let secret = HttpStore::new("https://u:secret@hub.example/b").expect("valid");
        assert!(!secret.url().contains("secret"));
    }

    #[test]
    fn content_is_checked_against_the_id() {
        let data = b"encrypted block";
        let id = blake2b_simd::Params::new()
            .hash_length(32)
            .hash(data)
            .as_bytes()
            .to_vec();
        assert!(matches_id(&id, data));
        assert!(!matches_id(&id, b"something else"));
    }
}
