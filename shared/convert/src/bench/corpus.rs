//! A reproducible benchmark corpus: many small text files, some multi-MiB binaries, some
//! duplicates and symbolic links, from a seeded generator (the same seed gives the same bytes
//! on every machine and version).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CorpusStats {
    /// Regular files.
    pub files: u64,
    /// Directories (the root excluded).
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Bytes in regular files.
    pub bytes: u64,
    /// Bytes in files that duplicate another file.
    pub duplicate_bytes: u64,
    /// Bytes in binary files.
    pub binary_bytes: u64,
}

/// SplitMix64: tiny, fast and fully specified, so corpora are reproducible forever.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "flist",
    "block",
    "store",
    "chunk",
    "hub",
    "image",
    "layer",
    "archive",
    "kernel",
    "config",
    "service",
    "network",
    "storage",
    "container",
    "runtime",
    "process",
    "memory",
    "thread",
    "socket",
    "buffer",
    "request",
    "response",
    "handler",
    "module",
    "library",
    "function",
    "variable",
    "return",
    "error",
    "value",
    "string",
    "number",
    "option",
    "result",
    "system",
    "device",
    "driver",
];

/// Shares of the corpus by bytes: text, binaries, duplicates.
const TEXT_SHARE: f64 = 0.40;
const BINARY_SHARE: f64 = 0.45;
const FILES_PER_DIR: u64 = 200;

/// Writes a corpus of about `size` bytes under `dir` (created; must not exist or be empty).
pub fn generate(dir: &Path, size: u64, seed: u64) -> io::Result<CorpusStats> {
    fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut stats = CorpusStats::default();
    let mut text_bytes = 0u64;
    let mut files: Vec<(PathBuf, u64)> = Vec::new();
    let mut buf = Vec::with_capacity(8 << 20);
    while stats.bytes < size {
        let n = stats.files;
        let sub = dir.join(format!("d{:04}", n / FILES_PER_DIR));
        if n.is_multiple_of(FILES_PER_DIR) {
            fs::create_dir_all(&sub)?;
            stats.dirs += 1;
        }
        let total = stats.bytes.max(1) as f64;
        let text_gap = TEXT_SHARE * total - text_bytes as f64;
        let binary_gap = BINARY_SHARE * total - stats.binary_bytes as f64;
        let dup_gap = (1.0 - TEXT_SHARE - BINARY_SHARE) * total - stats.duplicate_bytes as f64;
        let path;
        let len;
        if dup_gap > text_gap.max(binary_gap) && !files.is_empty() {
            let pick = rng.range(0, files.len() as u64) as usize;
            let Some((source, source_len)) = files.get(pick).cloned() else {
                continue;
            };
            path = sub.join(format!("dup{n:07}"));
            fs::copy(&source, &path)?;
            len = source_len;
            stats.duplicate_bytes += len;
        } else if binary_gap > text_gap {
            len = rng.range(1 << 20, 8 << 20);
            binary(&mut rng, len as usize, &mut buf);
            path = sub.join(format!("bin{n:07}.so"));
            fs::write(&path, &buf)?;
            stats.binary_bytes += len;
        } else {
            // Mostly small files, a few medium ones.
            len = if rng.range(0, 20) == 0 {
                rng.range(64 << 10, 512 << 10)
            } else {
                rng.range(256, 24 << 10)
            };
            text(&mut rng, len as usize, &mut buf);
            path = sub.join(format!("f{n:07}.txt"));
            fs::write(&path, &buf)?;
            text_bytes += len;
        }
        if n.is_multiple_of(97) {
            let link = sub.join(format!("link{n:07}"));
            let target = path.file_name().map(PathBuf::from).unwrap_or_default();
            std::os::unix::fs::symlink(target, link)?;
            stats.symlinks += 1;
        }
        files.push((path, len));
        stats.files += 1;
        stats.bytes += len;
    }
    Ok(stats)
}

/// Words separated by spaces and newlines: compresses like source code or documentation.
fn text(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    out.clear();
    while out.len() < len {
        let r = rng.next();
        for shift in [0u32, 16, 32, 48] {
            let i = ((r >> shift) & 0xffff) as usize;
            out.extend_from_slice(WORDS[i % WORDS.len()].as_bytes());
            out.push(if i.is_multiple_of(11) { b'\n' } else { b' ' });
        }
    }
    out.truncate(len);
}

/// Half incompressible noise, half repeated 4 KiB pages (like zero-padded sections of
/// executables), in 64 KiB runs.
fn binary(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut page = [0u8; 4096];
    for chunk in page.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
    }
    while out.len() < len {
        if rng.next().is_multiple_of(2) {
            for _ in 0..(64 << 10) / 8 {
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
        } else {
            for _ in 0..16 {
                out.extend_from_slice(&page);
            }
        }
    }
    out.truncate(len);
}

/// Writes `dir` as a gzip-compressed tar (default compression level) at `out`; returns its
/// size.
pub fn write_tar_gz(dir: &Path, out: &Path) -> io::Result<u64> {
    let file = io::BufWriter::with_capacity(1 << 20, fs::File::create(out)?);
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir)?;
    let mut file = tar.into_inner()?.finish()?;
    file.flush()?;
    Ok(fs::metadata(out)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_sized() -> io::Result<()> {
        let a = tempfile_dir("a")?;
        let b = tempfile_dir("b")?;
        let sa = generate(&a, 12 << 20, 7)?;
        let sb = generate(&b, 12 << 20, 7)?;
        assert_eq!(sa, sb);
        assert!(sa.bytes >= 12 << 20 && sa.bytes < 24 << 20, "{sa:?}");
        assert!(sa.duplicate_bytes > 0 && sa.binary_bytes > 0 && sa.symlinks > 0);
        for entry in fs::read_dir(a.join("d0000"))? {
            let path = entry?.path();
            let twin = b.join("d0000").join(path.file_name().unwrap_or_default());
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_file() {
                assert_eq!(fs::read(&path)?, fs::read(&twin)?, "{}", path.display());
            }
        }
        fs::remove_dir_all(&a)?;
        fs::remove_dir_all(&b)?;
        Ok(())
    }

    fn tempfile_dir(name: &str) -> io::Result<PathBuf> {
        let dir =
            std::env::temp_dir().join(format!("hub-convert-corpus-{name}-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        Ok(dir)
    }
}
