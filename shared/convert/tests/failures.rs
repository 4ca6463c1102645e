//! Store failures and cancellation: errors surface promptly with the right classification,
//! and an abandoned conversion stops working.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::opts;
use hub_convert::{ConvertError, NoProgress, convert_archive};
use hub_flist::Format;
use hub_store::SharedStore;
use hub_testkit::{TarBuilder, dir_store, noise, raw_header, zdb_store};
use tokio::io::{AsyncRead, ReadBuf};

fn archive() -> Vec<u8> {
    let mut tar = TarBuilder::new();
    for i in 0..8 {
        tar = tar.file(&format!("f{i}"), 0o644, &noise(700_000, i + 1));
    }
    tar.finish().expect("tar")
}

async fn run(store: SharedStore) -> Result<hub_convert::Conversion, ConvertError> {
    let options = opts(Format::Fl);
    let fut = convert_archive(
        std::io::Cursor::new(archive()),
        store,
        &options,
        Arc::new(NoProgress),
    );
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("the conversion must end, not hang")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_are_transient_errors() {
    let (zdb, store) = zdb_store("blocks").await.expect("0-db double");
    zdb.faults().fail_next_writes(u64::MAX);
    let err = run(store).await.expect_err("writes refused");
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.code(), "store_unavailable");
    zdb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_a_transient_error() {
    let (zdb, store) = zdb_store("blocks").await.expect("0-db double");
    zdb.stop().await;
    let err = run(store).await.expect_err("store down");
    assert!(err.is_transient(), "{err}");
    zdb.shutdown().await;
}

/// A tar whose single file never ends: distinct bytes forever.
struct Endless {
    header: Vec<u8>,
    sent: usize,
    state: u64,
}

impl AsyncRead for Endless {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.sent < self.header.len() {
            let n = buf.remaining().min(self.header.len() - self.sent);
            let start = self.sent;
            buf.put_slice(&self.header[start..start + n]);
            self.sent += n;
            return Poll::Ready(Ok(()));
        }
        while buf.remaining() >= 8 {
            self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let word = self.state.to_le_bytes();
            buf.put_slice(&word);
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_conversion_stops() {
    let (dir, store) = dir_store().await.expect("dir store");
    let header = raw_header("endless", tar::EntryType::Regular, 32 << 30).expect("raw header");
    let input = Endless {
        header: header.as_bytes().to_vec(),
        sent: 0,
        state: 1,
    };
    let options = opts(Format::Fl);
    let fut = convert_archive(input, store, &options, Arc::new(NoProgress));
    let timed_out = tokio::time::timeout(Duration::from_millis(1500), fut).await;
    assert!(timed_out.is_err(), "an endless archive cannot finish");
    let count = || walk_count(dir.path());
    // Writes in flight settle, then nothing more is stored.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let settled = count();
    assert!(settled > 0, "blocks were being stored");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        count(),
        settled,
        "work continued after the conversion was dropped"
    );
}

fn walk_count(root: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}
