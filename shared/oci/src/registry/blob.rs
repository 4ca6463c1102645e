//! Streaming one blob out of a registry while checking its size and sha256 digest.
//!
//! A task downloads the blob and hands the bytes to the consumer through a bounded channel,
//! so a layer is never held in memory. The task verifies size and digest itself; when the
//! consumer stops early (a corrupt archive), it keeps reading to the end to tell a damaged
//! blob (digest mismatch: the registry's fault) from a bad image (the archive's fault).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use oci_client::Client;
use oci_client::errors::DigestError;
use oci_client::manifest::OciDescriptor;
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;
use tokio_util::task::AbortOnDropHandle;

use super::errors::RequestContext;
use crate::OciError;
use crate::tracker::Tracker;

/// Chunks buffered between the download and the consumer (reqwest yields ~8–64 KiB each).
const CHANNEL_DEPTH: usize = 32;

/// The download side of a blob: awaiting it gives the verification result.
pub(crate) type Download = AbortOnDropHandle<Result<(), OciError>>;

/// What the download task needs to know about its request.
pub(crate) struct BlobRequest {
    pub client: Arc<Client>,
    pub reference: oci_client::Reference,
    pub descriptor: OciDescriptor,
    pub image: String,
    pub registry: String,
    pub with_credentials: bool,
}

/// Starts downloading `request`'s blob; returns the reader of its bytes and the task. The
/// reader fails (instead of ending) if the download fails or the digest does not match.
pub(crate) fn spawn(
    request: BlobRequest,
    tracker: Arc<Tracker>,
) -> (impl AsyncRead + Send + Unpin + 'static, Download) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
    let task = tokio::spawn(async move {
        let result = download(&request, &tx, &tracker).await;
        if let Err(error) = &result {
            // The consumer may be gone already; then nobody needs the message.
            let _ = tx.send(Err(io::Error::other(error.to_string()))).await;
        }
        result
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        StreamReader::new(Box::pin(stream)),
        AbortOnDropHandle::new(task),
    )
}

async fn download(
    request: &BlobRequest,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    tracker: &Tracker,
) -> Result<(), OciError> {
    let descriptor = &request.descriptor;
    let expected = Expected::of(descriptor)?;
    let ctx = RequestContext {
        image: &request.image,
        registry: &request.registry,
        with_credentials: request.with_credentials,
        fetching: super::errors::Fetching::Blob,
    };
    let mut stream = request
        .client
        .pull_blob_stream(&request.reference, descriptor)
        .await
        .map_err(|e| ctx.error(e))?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut consumer_open = true;
    while let Some(item) = stream.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            // oci-client verifies too and ends with its own error; ours below is clearer.
            Err(e) if is_digest_error(&e) => break,
            Err(e) => {
                return Err(OciError::Unreachable {
                    registry: request.registry.clone(),
                    detail: format!("reading blob {}: {e}", descriptor.digest),
                });
            }
        };
        let n = chunk.len() as u64;
        received += n;
        if received > expected.size {
            return Err(expected.mismatch(format!(
                "more than the {} bytes the manifest announces",
                expected.size
            )));
        }
        // SHA-256 runs at over 1 GB/s here: a chunk costs microseconds, not worth a thread hop.
        hasher.update(&chunk);
        tracker.received(n);
        if consumer_open && tx.send(Ok(chunk)).await.is_err() {
            consumer_open = false;
        }
    }
    if received != expected.size {
        return Err(expected.mismatch(format!(
            "{received} bytes received, the manifest announces {}",
            expected.size
        )));
    }
    let actual = hex::encode(hasher.finalize());
    if actual != expected.hex {
        return Err(expected.mismatch(format!("its content hashes to sha256:{actual}")));
    }
    Ok(())
}

/// Size and digest a blob must have.
struct Expected {
    digest: String,
    hex: String,
    size: u64,
}

impl Expected {
    fn of(descriptor: &OciDescriptor) -> Result<Self, OciError> {
        let hex = sha256_hex(&descriptor.digest)?;
        let size = u64::try_from(descriptor.size).map_err(|_| {
            OciError::Unsupported(format!("blob {} has a negative size", descriptor.digest))
        })?;
        Ok(Expected {
            digest: descriptor.digest.clone(),
            hex: hex.to_owned(),
            size,
        })
    }

    fn mismatch(&self, detail: String) -> OciError {
        OciError::DigestMismatch {
            digest: self.digest.clone(),
            detail,
        }
    }
}

/// The hex part of a `sha256:<64 hex>` digest; other algorithms are not supported.
pub(crate) fn sha256_hex(digest: &str) -> Result<&str, OciError> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hex)
        }
        _ => Err(OciError::Unsupported(format!(
            "digest {digest:?} (only sha256 digests are supported)"
        ))),
    }
}

fn is_digest_error(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<DigestError>().is_some())
}

/// The sha256 digest (`sha256:<hex>`) of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let hello = sha256_digest(b"hello");
        assert_eq!(
            hello,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(sha256_hex(&hello).is_ok());
        assert!(sha256_hex("sha512:abcd").is_err());
        assert!(sha256_hex("sha256:xyz").is_err());
        assert!(sha256_hex(&format!("sha256:{}", "g".repeat(64))).is_err());
    }
}
