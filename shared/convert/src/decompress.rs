//! Compression detection by magic bytes, and byte meters that enforce the size limits while
//! streaming.

use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{ConvertError, Limits};

/// Read-ahead on the compressed input: large reads keep the per-call cost of the async bridge
/// and the decoders negligible.
const INPUT_BUFFER: usize = 256 * 1024;
/// Buffer on the decompressed side: tar reads 512-byte headers, which would otherwise each
/// call into the decoder.
const TAR_BUFFER: usize = 128 * 1024;
/// Bytes looked at to recognise the format (a whole tar header).
const HEAD: usize = 512;

/// The compression of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A bare tar.
    None,
    /// gzip (one or more members, as `gzip -dc` reads them).
    Gzip,
    /// Zstandard.
    Zstd,
    /// xz.
    Xz,
    /// bzip2.
    Bzip2,
}

impl Compression {
    /// Recognises a compression from the first bytes of a file; a bare tar is recognised by
    /// its header (`ustar` magic, or a valid checksum for old v7 archives).
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else if head.starts_with(b"BZh") {
            Some(Compression::Bzip2)
        } else if looks_like_tar(head) {
            Some(Compression::None)
        } else {
            None
        }
    }
}

fn looks_like_tar(head: &[u8]) -> bool {
    let Some(block) = head.get(..HEAD) else {
        return false;
    };
    if block.get(257..262) == Some(b"ustar") || block.iter().all(|b| *b == 0) {
        return true;
    }
    // v7 header: the checksum field (octal, bytes 148..156) matches the header's byte sum
    // computed with the field itself read as spaces.
    let stored = block.get(148..156).and_then(|field| {
        let text = std::str::from_utf8(field).ok()?;
        u32::from_str_radix(text.trim_matches(|c: char| c == ' ' || c == '\0'), 8).ok()
    });
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum();
    stored == Some(sum)
}

/// Byte counters of one input, shared by the readers that enforce the limits and by the
/// producer that reports progress.
#[derive(Debug)]
pub(crate) struct Meter {
    limits: Limits,
    /// Compressed bytes read, including earlier layers of the same conversion.
    compressed: AtomicU64,
    /// Decompressed bytes produced, including earlier layers.
    expanded: AtomicU64,
    /// The first limit broken; readers report it as an opaque I/O error.
    violation: Mutex<Option<(&'static str, u64, u64)>>,
    /// Set when the input source itself failed (as opposed to the data being corrupt).
    source_failed: AtomicBool,
}

impl Meter {
    /// A meter starting from the totals of earlier layers.
    pub(crate) fn new(limits: &Limits, compressed: u64, expanded: u64) -> Arc<Meter> {
        Arc::new(Meter {
            limits: limits.clone(),
            compressed: AtomicU64::new(compressed),
            expanded: AtomicU64::new(expanded),
            violation: Mutex::new(None),
            source_failed: AtomicBool::new(false),
        })
    }

    pub(crate) fn compressed(&self) -> u64 {
        self.compressed.load(Ordering::Relaxed)
    }

    pub(crate) fn expanded(&self) -> u64 {
        self.expanded.load(Ordering::Relaxed)
    }

    fn violate(&self, limit: &'static str, value: u64, max: u64) -> io::Error {
        let mut slot = self
            .violation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert((limit, value, max));
        io::Error::other(format!("{limit} exceeded"))
    }

    /// Translates an I/O error met while reading the archive: a broken limit or a failing
    /// source takes precedence over the generic "corrupt archive".
    pub(crate) fn explain(&self, error: io::Error, entry: Option<&str>) -> ConvertError {
        let violation = *self
            .violation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((limit, value, max)) = violation {
            ConvertError::LimitExceeded { limit, value, max }
        } else if self.source_failed.load(Ordering::Relaxed) {
            ConvertError::Input(error)
        } else if error.kind() == io::ErrorKind::UnexpectedEof {
            ConvertError::invalid(entry, format!("truncated archive: {error}"))
        } else {
            ConvertError::invalid(entry, error.to_string())
        }
    }
}

/// Counts compressed bytes and marks source failures.
struct SourceReader<R> {
    inner: R,
    meter: Arc<Meter>,
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(error) => {
                self.meter.source_failed.store(true, Ordering::Relaxed);
                return Err(error);
            }
        };
        let total = self.meter.compressed.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let max = self.meter.limits.max_compressed_bytes;
        if total > max {
            return Err(self.meter.violate("max_compressed_bytes", total, max));
        }
        Ok(n)
    }
}

/// Counts decompressed bytes; enforces the expanded size and the compression ratio.
struct ExpandedReader<R> {
    inner: R,
    meter: Arc<Meter>,
}

impl<R: Read> Read for ExpandedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let meter = &self.meter;
        let total = meter.expanded.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let limits = &meter.limits;
        if total > limits.max_expanded_bytes {
            return Err(meter.violate("max_expanded_bytes", total, limits.max_expanded_bytes));
        }
        if total > Limits::RATIO_FLOOR {
            let ratio = total / meter.compressed().max(1);
            if ratio > limits.max_ratio {
                return Err(meter.violate("max_ratio", ratio, limits.max_ratio));
            }
        }
        Ok(n)
    }
}

/// Opens the decompressed tar stream of `input`, detecting the compression from its first
/// bytes.
pub(crate) fn open<R: Read + Send + 'static>(
    input: R,
    meter: &Arc<Meter>,
) -> Result<(Compression, Box<dyn Read + Send>), ConvertError> {
    let mut source = SourceReader {
        inner: input,
        meter: Arc::clone(meter),
    };
    let mut head = Vec::with_capacity(HEAD);
    (&mut source)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| meter.explain(e, None))?;
    let compression = Compression::detect(&head).ok_or(ConvertError::UnknownFormat)?;
    let buffered = BufReader::with_capacity(INPUT_BUFFER, io::Cursor::new(head).chain(source));
    let meter = Arc::clone(meter);
    let tar: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(ExpandedReader {
            inner: buffered,
            meter,
        }),
        Compression::Gzip => expanded(flate2::bufread::MultiGzDecoder::new(buffered), meter),
        Compression::Zstd => expanded(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| ConvertError::invalid(None, format!("zstd: {e}")))?,
            meter,
        ),
        Compression::Xz => expanded(xz2::bufread::XzDecoder::new_multi_decoder(buffered), meter),
        Compression::Bzip2 => expanded(bzip2::bufread::MultiBzDecoder::new(buffered), meter),
    };
    Ok((compression, tar))
}

fn expanded<R: Read + Send + 'static>(decoder: R, meter: Arc<Meter>) -> Box<dyn Read + Send> {
    Box::new(BufReader::with_capacity(
        TAR_BUFFER,
        ExpandedReader {
            inner: decoder,
            meter,
        },
    ))
}

/// Reads `reader` to its end, discarding the bytes: after tar's end-of-archive marker the
/// decoder must still reach the end of the stream, so that a corrupt or truncated tail (and
/// the gzip CRC) is checked.
pub(crate) fn drain(mut reader: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::detect(b"\xfd7zXZ\x00rest"),
            Some(Compression::Xz)
        );
        assert_eq!(Compression::detect(b"BZh91AY"), Some(Compression::Bzip2));
        assert_eq!(Compression::detect(&[0u8; 512]), Some(Compression::None));
        assert_eq!(Compression::detect(b"garbage"), None);
        assert_eq!(Compression::detect(&[7u8; 512]), None);
        let mut header = tar::Header::new_old();
        header.set_path("a").ok();
        header.set_size(0);
        header.set_cksum();
        assert_eq!(
            Compression::detect(header.as_bytes()),
            Some(Compression::None)
        );
        let mut header = tar::Header::new_gnu();
        header.set_path("a").ok();
        header.set_cksum();
        assert_eq!(
            Compression::detect(header.as_bytes()),
            Some(Compression::None)
        );
    }
}
