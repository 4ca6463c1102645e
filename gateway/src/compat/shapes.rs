//! The JSON objects of the original hub's read API (hub-api §6), in its key order.

use chrono::{DateTime, Utc};
use hub_db::entries::{EntryKind, ListedEntry, ListedKind, Lookup};
use serde::Serialize;

/// Size of a tag, and of a taglink (whose target is a tag directory): the original reported
/// the `stat` size of a directory.
const TAG_SIZE: &str = "0 KB";
const DIRECTORY_SIZE: &str = "4.00 KB";

/// `"%.2f KB"` of `bytes` / 1024 (Rust's `{:.2}` rounds half to even like Python's `%`).
pub fn size_string(bytes: i64) -> String {
    // Flist sizes are far below 2^53: the conversion is exact.
    format!("{:.2} KB", bytes as f64 / 1024.0)
}

/// Unix seconds, the integer the original's `updated`/`linktime` are.
pub fn unix(time: DateTime<Utc>) -> i64 {
    time.timestamp()
}

/// One element of a repository or tag listing (hub-api §6, "Entry").
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Entry)]
pub struct EntryJson<'a> {
    /// Entry name.
    name: &'a str,
    /// Size as the original wrote it: `"%.2f KB"`.
    size: String,
    /// Last change, Unix seconds.
    updated: i64,
    /// When the link was made, Unix seconds (links only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    linktime: Option<i64>,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::schemas::fields::entry_type)]
    kind: &'static str,
    /// What the link points to (links only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    target: Option<&'a str>,
}

impl<'a> From<&'a ListedEntry> for EntryJson<'a> {
    fn from(entry: &'a ListedEntry) -> Self {
        let pointer = |kind| Self {
            name: &entry.name,
            size: match (kind, entry.size) {
                (_, Some(size)) => size_string(size),
                ("taglink", None) => DIRECTORY_SIZE.to_owned(),
                // A dangling pointer: the original could not stat it; report nothing.
                (_, None) => size_string(0),
            },
            updated: unix(entry.updated),
            linktime: Some(unix(entry.linktime.unwrap_or(entry.updated))),
            kind,
            target: Some(entry.target.as_deref().unwrap_or_default()),
        };
        match entry.kind {
            ListedKind::Regular => Self {
                name: &entry.name,
                size: size_string(entry.size.unwrap_or(0)),
                updated: unix(entry.updated),
                linktime: None,
                kind: "regular",
                target: None,
            },
            ListedKind::Tag => Self {
                name: &entry.name,
                size: TAG_SIZE.to_owned(),
                updated: unix(entry.updated),
                linktime: None,
                kind: "tag",
                target: None,
            },
            ListedKind::Symlink => pointer("symlink"),
            ListedKind::Taglink => pointer("taglink"),
        }
    }
}

/// The Info object of `/light` and `INFO` (hub-api §6.7).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Info)]
pub struct InfoJson<'a> {
    /// Entry name.
    name: &'a str,
    /// Size of the flist in bytes.
    size: i64,
    /// Last change of the flist, Unix seconds.
    updated: i64,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::schemas::fields::info_type)]
    kind: &'static str,
    /// Hex MD5 of the flist; `null` for a dangling link.
    md5: Option<&'a str>,
    /// When the link was made, Unix seconds (links only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    linktime: Option<i64>,
    /// What the link points to (links only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    target: Option<&'a str>,
}

impl<'a> InfoJson<'a> {
    /// The Info of `name` resolved by `lookup`; `None` for what `/light` cannot address (a
    /// taglink, or a regular entry whose flist row vanished).
    pub fn new(name: &'a str, lookup: &'a Lookup) -> Option<Self> {
        let target = lookup.target.as_ref();
        match lookup.entry.kind {
            EntryKind::Regular => {
                let target = target?;
                Some(Self {
                    name,
                    size: target.flist.size,
                    updated: unix(target.updated_at),
                    kind: "regular",
                    md5: Some(&target.flist.md5),
                    linktime: None,
                    target: None,
                })
            }
            // A dangling link still has an Info: md5 `null` tells it (hub-api §6.7), `size` and
            // `updated` fall back to the link itself as in listings.
            EntryKind::Symlink => Some(Self {
                name,
                size: target.map_or(0, |t| t.flist.size),
                updated: unix(target.map_or(lookup.entry.updated_at, |t| t.updated_at)),
                kind: "symlink",
                md5: target.map(|t| t.flist.md5.as_str()),
                linktime: Some(unix(lookup.entry.updated_at)),
                target: Some(lookup.entry.raw_target.as_deref().unwrap_or_default()),
            }),
            EntryKind::Taglink => None,
        }
    }
}

/// `{"target": …}` of `/taglink` (hub-api §6.8).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Taglink)]
pub struct TaglinkJson {
    /// The cleaned pointer text.
    pub target: String,
}

/// `{"name", "official", "updated"}` of `/api/repositories` (hub-api §6.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Repository)]
pub struct RepositoryJson<'a> {
    /// Repository name.
    pub name: &'a str,
    /// In the configured official list.
    pub official: bool,
    /// Last change, Unix seconds.
    pub updated: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson;

    fn listed(kind: ListedKind, size: Option<i64>, target: Option<&str>) -> ListedEntry {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        ListedEntry {
            name: "n".into(),
            kind,
            size,
            updated: at(100),
            linktime: (kind != ListedKind::Regular && kind != ListedKind::Tag).then(|| at(50)),
            target: target.map(str::to_owned),
        }
    }

    fn dumps(entry: &ListedEntry) -> String {
        String::from_utf8(pyjson::to_vec(&EntryJson::from(entry)).unwrap_or_default())
            .unwrap_or_default()
    }

    #[test]
    fn sizes_round_like_python() {
        let cases = [
            (128, "0.12 KB"),
            (384, "0.38 KB"),
            (640, "0.62 KB"),
            (896, "0.88 KB"),
            (1152, "1.12 KB"),
            (2_557_153, "2497.22 KB"),
            (0, "0.00 KB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(size_string(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn entry_shapes_follow_the_spec() {
        assert_eq!(
            dumps(&listed(ListedKind::Regular, Some(1152), None)),
            "{\"name\": \"n\", \"size\": \"1.12 KB\", \"updated\": 100, \"type\": \"regular\"}\n"
        );
        assert_eq!(
            dumps(&listed(ListedKind::Symlink, Some(128), Some("o/x.flist"))),
            "{\"name\": \"n\", \"size\": \"0.12 KB\", \"updated\": 100, \"linktime\": 50, \
             \"type\": \"symlink\", \"target\": \"o/x.flist\"}\n"
        );
        assert_eq!(
            dumps(&listed(ListedKind::Taglink, None, Some("z/tags/v3"))),
            "{\"name\": \"n\", \"size\": \"4.00 KB\", \"updated\": 100, \"linktime\": 50, \
             \"type\": \"taglink\", \"target\": \"z/tags/v3\"}\n"
        );
        assert_eq!(
            dumps(&listed(ListedKind::Tag, None, None)),
            "{\"name\": \"n\", \"size\": \"0 KB\", \"updated\": 100, \"type\": \"tag\"}\n"
        );
    }
}
