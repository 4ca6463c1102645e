//! Reading a staged upload into a conversion.

use hub_jobs::Queue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Bytes buffered between the staged upload and the converter.
pub const PIPE_CAPACITY: usize = 256 * 1024;

/// How copying the upload into the converter ended.
#[derive(Debug)]
pub enum Fed {
    /// Everything was handed over (or the converter stopped reading, having decided the
    /// outcome itself); the number of bytes handed over.
    Done(u64),
    /// Reading the staged upload failed: whatever the converter concludes from the cut-off
    /// stream, the cause is the staging store, not the archive.
    ReadFailed(std::io::Error),
}

/// Copy `upload` into `pipe` (the converter's end of a [`tokio::io::duplex`]) and close it.
///
/// The converter needs a `'static` reader, which the staged upload is not; the pipe bridges
/// the two while both run in the job's task, with bounded memory.
pub async fn feed(mut upload: impl AsyncRead + Unpin, mut pipe: DuplexStream) -> Fed {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = match upload.read(&mut buffer).await {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) => return Fed::ReadFailed(err),
        };
        let Some(chunk) = buffer.get(..read) else {
            break;
        };
        if pipe.write_all(chunk).await.is_err() {
            // The converter dropped its end: it finished or failed on what it had.
            return Fed::Done(total);
        }
        total += read as u64;
    }
    // Closing our end is the converter's end-of-file.
    let _ = pipe.shutdown().await;
    Fed::Done(total)
}

/// Size of the staged upload `name`, for progress percentages; `None` when it cannot be
/// looked up (progress then shows item counts only).
pub async fn staged_size(queue: &Queue, name: &str) -> Option<u64> {
    let bucket = queue
        .jetstream()
        .get_object_store(queue.names().uploads_bucket())
        .await
        .map_err(|err| tracing::debug!(%err, "cannot open the uploads bucket"))
        .ok()?;
    let info = bucket
        .info(name)
        .await
        .map_err(|err| tracing::debug!(%err, object = name, "cannot read an upload's size"))
        .ok()?;
    u64::try_from(info.size).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn feeds_everything_then_closes() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (pipe, mut converter) = tokio::io::duplex(PIPE_CAPACITY);
        let reading = async {
            let mut out = Vec::new();
            converter.read_to_end(&mut out).await.map(|_| out)
        };
        let (fed, out) = tokio::join!(feed(&data[..], pipe), reading);
        assert!(
            matches!(fed, Fed::Done(n) if n == data.len() as u64),
            "{fed:?}"
        );
        assert_eq!(out.ok(), Some(data));
    }

    #[tokio::test]
    async fn a_converter_that_stops_reading_ends_the_feed() {
        let data = vec![7u8; 4 * PIPE_CAPACITY];
        let (pipe, converter) = tokio::io::duplex(1024);
        drop(converter);
        assert!(matches!(feed(&data[..], pipe).await, Fed::Done(0)));
    }

    struct Broken;

    impl AsyncRead for Broken {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()))
        }
    }

    #[tokio::test]
    async fn read_errors_are_reported_as_such() {
        let (pipe, _converter) = tokio::io::duplex(1024);
        assert!(matches!(feed(Broken, pipe).await, Fed::ReadFailed(_)));
    }
}
