//! Malicious and broken archives, each refused with its specific error.

mod common;

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{convert, opts};
use hub_convert::{ConvertError, ConvertOptions, Limits, NoProgress};
use hub_flist::Format;
use hub_store::SharedStore;
use hub_testkit::{TarBuilder, dir_store, gzip, noise, raw_header};
use tokio::io::{AsyncRead, ReadBuf};

async fn rejected(bytes: Vec<u8>, opts: &ConvertOptions) -> ConvertError {
    let (_s, store) = dir_store().await.expect("dir store");
    match convert(bytes, &store, opts).await {
        Ok(conv) => panic!("accepted: {:?}", conv.flist.tree.dump()),
        Err(e) => e,
    }
}

fn unsafe_entry(err: &ConvertError) -> &str {
    match err {
        ConvertError::UnsafePath { entry, .. } => entry,
        other => panic!("expected an unsafe path, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal() {
    let o = opts(Format::Fl);
    for path in ["../x", "a/../../x", "/etc/passwd", "./../../etc/shadow"] {
        let bytes = TarBuilder::new()
            .raw(
                &raw_header(path, tar::EntryType::Regular, 4).expect("raw header"),
                b"evil",
            )
            .finish()
            .expect("tar");
        let err = rejected(gzip(&bytes).expect("gzip"), &o).await;
        assert_eq!(unsafe_entry(&err), path, "{err}");
        assert_eq!(err.code(), "unsafe_path");
    }
    // A `..` that stays inside the root is fine.
    let bytes = TarBuilder::new()
        .raw(
            &raw_header("a/../b", tar::EntryType::Regular, 2).expect("raw header"),
            b"ok",
        )
        .finish()
        .expect("tar");
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert(bytes, &store, &o).await.expect("inner .. is safe");
    assert!(conv.flist.tree.lookup("b").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_escapes() {
    let o = opts(Format::Flist);
    let cases = [
        ("link", "/etc", "link/passwd"),
        ("link", "../..", "link/x"),
        ("d/inner", "/", "d/inner/../inner/x"),
    ];
    for (link, target, through) in cases {
        let bytes = TarBuilder::new()
            .symlink(link, target)
            .raw(
                &raw_header(through, tar::EntryType::Regular, 1).expect("raw header"),
                b"x",
            )
            .finish()
            .expect("tar");
        let err = rejected(bytes, &o).await;
        assert_eq!(unsafe_entry(&err), through, "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    // A hard link through a symlink is refused the same way.
    let bytes = TarBuilder::new()
        .symlink("etc", "/etc")
        .raw(
            &raw_header("shadow", tar::EntryType::Link, 0).expect("raw header"),
            b"",
        )
        .finish()
        .expect("tar");
    let mut bytes = bytes;
    // Point the hard link at `etc/shadow` by rewriting the link name of the second header.
    let second = 512;
    let mut h = tar::Header::from_byte_slice(&bytes[second..second + 512]).clone();
    h.set_link_name("etc/shadow").expect("link name");
    h.set_cksum();
    bytes[second..second + 512].copy_from_slice(h.as_bytes());
    let err = rejected(bytes, &o).await;
    assert_eq!(err.code(), "unsafe_path", "{err}");
}

/// `count` gzip members each inflating to 1 MiB of zeros, after a tar header announcing a
/// file of `declared` MiB: a bomb of a few MB expanding to `count` MiB.
fn bomb(count: usize, declared: u64) -> Vec<u8> {
    let mut header = raw_header("zeros", tar::EntryType::Regular, 0).expect("raw header");
    header.set_size(declared << 20);
    header.set_cksum();
    let mut out = gzip(header.as_bytes()).expect("gzip");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 1 << 20]).expect("gzip");
    let member = e.finish().expect("gzip");
    for _ in 0..count {
        out.extend_from_slice(&member);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_is_stopped_early() {
    let bytes = bomb(4096, 4096); // 4 GiB of zeros from about 4 MB
    assert!(bytes.len() < 8 << 20, "bomb of {} bytes", bytes.len());
    let started = Instant::now();
    let err = rejected(bytes.clone(), &opts(Format::Fl)).await;
    assert!(
        matches!(
            err,
            ConvertError::LimitExceeded {
                limit: "max_ratio",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // Without the ratio check, the expanded-size limit stops it: from the declared size
    // before reading, or from the decompressed stream when the header understates it (the
    // zeros after a 1 MiB file are read as the end of the tar, then drained).
    let mut o = opts(Format::Fl);
    o.limits = Limits {
        max_ratio: u64::MAX,
        max_expanded_bytes: 64 << 20,
        ..Limits::default()
    };
    for bytes in [bytes.clone(), bomb(4096, 1)] {
        let err = rejected(bytes, &o).await;
        assert!(
            matches!(
                err,
                ConvertError::LimitExceeded {
                    limit: "max_expanded_bytes",
                    ..
                }
            ),
            "{err}"
        );
    }
    // And the compressed-size limit, with a small maximum.
    o.limits.max_expanded_bytes = u64::MAX;
    o.limits.max_compressed_bytes = 100_000;
    let err = rejected(bytes, &o).await;
    assert!(
        matches!(
            err,
            ConvertError::LimitExceeded {
                limit: "max_compressed_bytes",
                ..
            }
        ),
        "{err}"
    );
}

/// A tar of `count` empty files, generated while it is read (never held in memory).
struct ManyEmpty {
    next: u64,
    count: u64,
    pending: Vec<u8>,
    pos: usize,
}

impl AsyncRead for ManyEmpty {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while buf.remaining() > 0 {
            if self.pos == self.pending.len() {
                if self.next > self.count {
                    break;
                }
                self.pending = if self.next == self.count {
                    vec![0u8; 1024] // end-of-archive
                } else {
                    raw_header(
                        &format!("d{}/f{}", self.next % 100, self.next),
                        tar::EntryType::Regular,
                        0,
                    )
                    .expect("raw header")
                    .as_bytes()
                    .to_vec()
                };
                self.pos = 0;
                self.next += 1;
            }
            let n = buf.remaining().min(self.pending.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.pending[start..start + n]);
            self.pos += n;
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_empty_entries_hit_the_entry_limit() {
    let (_s, store) = dir_store().await.expect("dir store");
    let mut o = opts(Format::Fl);
    o.limits.max_entries = 50_000;
    let input = ManyEmpty {
        next: 0,
        count: 1_000_000,
        pending: Vec::new(),
        pos: 0,
    };
    let err =
        hub_convert::convert_archive(input, SharedStore::clone(&store), &o, Arc::new(NoProgress))
            .await
            .expect_err("over the entry limit");
    assert!(
        matches!(
            err,
            ConvertError::LimitExceeded {
                limit: "max_entries",
                value: 50_001,
                max: 50_000
            }
        ),
        "{err}"
    );
    // Under the limit the same generator converts (smaller count to keep the test quick).
    let input = ManyEmpty {
        next: 0,
        count: 20_000,
        pending: Vec::new(),
        pos: 0,
    };
    let conv = hub_convert::convert_archive(input, store, &o, Arc::new(NoProgress))
        .await
        .expect("under the limit");
    assert_eq!(conv.flist.tree.stats().regular, 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_corrupt_streams() {
    let tar = TarBuilder::new()
        .file("a", 0o644, &noise(300_000, 1))
        .file("b", 0o644, &noise(300_000, 2))
        .finish()
        .expect("tar");
    for (name, compress) in common::compressions() {
        let full = compress(&tar);
        let cut = full[..full.len() / 2].to_vec();
        let err = rejected(cut, &opts(Format::Fl)).await;
        assert_eq!(err.code(), "invalid_archive", "{name}: {err}");
        assert!(err.to_string().contains("truncated"), "{name}: {err}");
    }
    // A flipped byte inside the deflate data (or the CRC) is an error, never a partial flist.
    let mut gz = gzip(&tar).expect("gzip");
    let middle = gz.len() / 2;
    gz[middle] ^= 0x55;
    let err = rejected(gz, &opts(Format::Fl)).await;
    assert_eq!(err.code(), "invalid_archive", "{err}");
    // Losing the gzip trailer (CRC and size) after the tar end is noticed too.
    let gz = gzip(&tar).expect("gzip");
    let err = rejected(gz[..gz.len() - 4].to_vec(), &opts(Format::Fl)).await;
    assert_eq!(err.code(), "invalid_archive", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_an_unknown_format() {
    for bytes in [
        b"this is not an archive at all".to_vec(),
        vec![0x42; 4096],
        Vec::new(),
    ] {
        let err = rejected(bytes, &opts(Format::Fl)).await;
        assert!(matches!(err, ConvertError::UnknownFormat), "{err}");
        assert_eq!(err.code(), "unknown_format");
    }
    // Compressed garbage is detected by its container but is no tar.
    let err = rejected(gzip(&[7u8; 4096]).expect("gzip"), &opts(Format::Fl)).await;
    assert_eq!(err.code(), "invalid_archive", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_when_disallowed() {
    let mut o = opts(Format::Fl);
    o.limits.allow_devices = false;
    let bytes = TarBuilder::new()
        .file("ok", 0o644, b"fine")
        .device("dev/sda", tar::EntryType::Block, 8, 0)
        .finish()
        .expect("tar");
    let err = rejected(bytes, &o).await;
    assert!(
        matches!(&err, ConvertError::DeviceNotAllowed { entry } if entry == "dev/sda"),
        "{err}"
    );
    // FIFOs are not devices.
    let (_s, store) = dir_store().await.expect("dir store");
    let bytes = TarBuilder::new().fifo("pipe").finish().expect("tar");
    assert!(convert(bytes, &store, &o).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_paths() {
    let mut o = opts(Format::Fl);
    o.limits.max_path_len = 200;
    let long = format!("{}/file", "x".repeat(250));
    let bytes = TarBuilder::new()
        .file(&long, 0o644, b"x")
        .finish()
        .expect("tar");
    let err = rejected(bytes, &o).await;
    assert!(
        matches!(
            err,
            ConvertError::LimitExceeded {
                limit: "max_path_len",
                value: 255,
                max: 200
            }
        ),
        "{err}"
    );
}
