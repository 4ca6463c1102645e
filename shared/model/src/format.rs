//! The two flist formats: their one spelling, their file extensions and how to recognise them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An flist format. Spelled `flist` or `fl` everywhere: file extensions, the `format` column
/// and API parameter, job results, configuration (`publish.default_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `.flist`: 0-flist, the original hub's (gzip of a tar holding a SQLite database of
    /// Cap'n Proto messages).
    Flist,
    /// `.fl`: rfs v2 "FungiList" (a bare SQLite database).
    Fl,
}

/// A string that names no flist format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid format `{0}` (flist or fl)")]
pub struct UnknownFormat(pub String);

/// First bytes of every gzip stream.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// First 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

impl Format {
    /// Both formats, the original hub's first.
    pub const ALL: [Format; 2] = [Format::Flist, Format::Fl];

    /// The format's name, which is also its file extension without the dot: `flist` or `fl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Flist => "flist",
            Format::Fl => "fl",
        }
    }

    /// File extension without the dot (the same string as [`Format::as_str`]).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// Length in bytes of block ids and keys: 16 (BLAKE2b-16) or 32 (BLAKE2b-32).
    pub fn hash_len(self) -> usize {
        match self {
            Format::Flist => 16,
            Format::Fl => 32,
        }
    }

    /// The format whose extension ends `name` (`x.flist`, `x.fl`, also a bare `.fl`),
    /// case-sensitive as zos is. `a.fl.flist` is a `.flist`, `a.flist.fl` a `.fl`.
    pub fn of_suffix(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| {
            name.strip_suffix(format.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
        })
    }

    /// Format named by a file name's extension, the name having something before it:
    /// `x.flist` and `x.fl`, not `.flist`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::of_suffix(name).filter(|format| name.len() > format.as_str().len() + 1)
    }

    /// `name` without its `.flist` or `.fl` extension (unchanged when it has neither).
    pub fn strip_extension(name: &str) -> &str {
        match Self::of_suffix(name) {
            Some(format) => &name[..name.len() - format.as_str().len() - 1],
            None => name,
        }
    }

    /// `stem.<extension>`.
    pub fn file_name(self, stem: &str) -> String {
        format!("{stem}.{}", self.as_str())
    }

    /// `name` with this format's extension: a `.flist` or `.fl` extension already there is
    /// replaced, anything else kept (`foo` and `foo.flist` name the same flist).
    pub fn with_extension(self, name: &str) -> String {
        self.file_name(Self::strip_extension(name))
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
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

impl Serialize for Format {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The OpenAPI schema: a string, one of [`Format::ALL`]'s spellings.
#[cfg(feature = "utoipa")]
impl utoipa::PartialSchema for Format {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .description(Some("Flist format: `flist` (0-flist) or `fl` (rfs v2)"))
            .into()
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::ToSchema for Format {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.as_str().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.extension());
            let json = serde_json::to_string(&format).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", format.as_str()));
            assert_eq!(serde_json::from_str::<Format>(&json).ok(), Some(format));
        }
        assert_eq!(Format::Flist.as_str(), "flist");
        assert_eq!(Format::Fl.as_str(), "fl");
        assert_eq!(
            "tar".parse::<Format>().map_err(|e| e.to_string()),
            Err("invalid format `tar` (flist or fl)".to_owned())
        );
        assert!("FL".parse::<Format>().is_err());
        assert!(serde_json::from_str::<Format>("\"zip\"").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(Format::from_name("a.flist"), Some(Format::Flist));
        assert_eq!(Format::from_name("repo/alpine-latest.fl"), Some(Format::Fl));
        assert_eq!(Format::from_name("a.fl.flist"), Some(Format::Flist));
        assert_eq!(Format::from_name("a.flist.fl"), Some(Format::Fl));
        assert_eq!(Format::from_name(".flist"), None);
        assert_eq!(Format::of_suffix(".fl"), Some(Format::Fl));
        assert_eq!(Format::from_name("a.tar.gz"), None);
        assert_eq!(Format::from_name("flist"), None);
        assert_eq!(Format::of_suffix("aflist"), None);
        assert_eq!(Format::of_suffix("a.FL"), None);
        assert_eq!(Format::Fl.hash_len(), 32);
        assert_eq!(Format::Flist.hash_len(), 16);
    }

    #[test]
    fn extensions_are_replaced_not_stacked() {
        assert_eq!(Format::Flist.with_extension("app"), "app.flist");
        assert_eq!(Format::Fl.with_extension("app.flist"), "app.fl");
        assert_eq!(Format::Flist.with_extension("app.fl"), "app.flist");
        assert_eq!(Format::Fl.with_extension("v1.2"), "v1.2.fl");
        assert_eq!(Format::strip_extension("a.fl.flist"), "a.fl");
        assert_eq!(Format::strip_extension("a.md5"), "a.md5");
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
