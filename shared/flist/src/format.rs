//! The two flist formats and how to recognise them.

use std::fmt;

/// An flist format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `.flist`: 0-flist (gzip of a tar holding a SQLite database of Cap'n Proto messages).
    Flist,
    /// `.fl`: rfs v2 "FungiList" (a bare SQLite database).
    Fl,
}

/// First bytes of every gzip stream.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// First 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

impl Format {
    /// File extension without the dot: `flist` or `fl`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Flist => "flist",
            Format::Fl => "fl",
        }
    }

    /// Length in bytes of block ids and keys: 16 (BLAKE2b-16) or 32 (BLAKE2b-32).
    pub fn hash_len(self) -> usize {
        match self {
            Format::Flist => 16,
            Format::Fl => 32,
        }
    }

    /// Format named by a file name's extension (`x.flist`, `x.fl`), case-sensitive as zos is.
    pub fn from_name(name: &str) -> Option<Self> {
        // `rsplit_once` so that `a.fl.flist` is a `.flist` and `a.flist.fl` a `.fl`.
        match name.rsplit_once('.') {
            Some((stem, "flist")) if !stem.is_empty() => Some(Format::Flist),
            Some((stem, "fl")) if !stem.is_empty() => Some(Format::Fl),
            _ => None,
        }
    }

    /// Format of a file from its first bytes: gzip magic for `.flist`, the SQLite header for
    /// `.fl`.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(GZIP_MAGIC) {
            Some(Format::Flist)
        } else if bytes.starts_with(SQLITE_MAGIC) {
            Some(Format::Fl)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ".{}", self.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Format::from_name("a.flist"), Some(Format::Flist));
        assert_eq!(Format::from_name("repo/alpine-latest.fl"), Some(Format::Fl));
        assert_eq!(Format::from_name("a.fl.flist"), Some(Format::Flist));
        assert_eq!(Format::from_name(".flist"), None);
        assert_eq!(Format::from_name("a.tar.gz"), None);
        assert_eq!(Format::from_name("flist"), None);
        assert_eq!(Format::Flist.extension(), "flist");
        assert_eq!(Format::Fl.hash_len(), 32);
        assert_eq!(Format::Flist.hash_len(), 16);
    }

    #[test]
    fn detection() {
        assert_eq!(Format::detect(&[0x1f, 0x8b, 8, 0]), Some(Format::Flist));
        assert_eq!(Format::detect(b"SQLite format 3\0rest"), Some(Format::Fl));
        assert_eq!(Format::detect(b"SQLite format 3"), None);
        assert_eq!(Format::detect(b""), None);
        assert_eq!(Format::detect(b"PK\x03\x04"), None);
    }
}
