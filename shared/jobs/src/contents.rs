//! What the hub serves about a flist's contents (hub-api 6, 6.6): the statistics object and
//! the contents dump.
//!
//! Workers precompute both when they store a flist ([`crate::FlistFile`]); the gateway reads
//! the statistics back from job results and computes the dump of a row stored without one.
//! Defining the shape once here keeps what a worker stores and what the gateway computes
//! byte-identical.

use hub_flist::{DumpEntry, Tree};
use serde::{Deserialize, Serialize};

/// The original hub's Stats object (hub-api 6), keys in its order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Regular files.
    pub regular: u64,
    /// Symbolic links.
    pub symlink: u64,
    /// Directories, the root excluded.
    pub directory: u64,
    /// Devices, FIFOs and sockets.
    pub special: u64,
    /// Files that failed (for a homemade flist: files with a missing chunk).
    pub failure: u64,
    /// Sum of the regular files' sizes.
    pub fullsize: u64,
}

impl Stats {
    /// The counts of `tree`, with `failure` 0. Walks the whole tree.
    pub fn of(tree: &Tree) -> Self {
        let counts = tree.stats();
        Self {
            regular: counts.regular,
            symlink: counts.symlink,
            directory: counts.directory,
            special: counts.special,
            failure: 0,
            fullsize: counts.fullsize,
        }
    }

    /// As a JSON value (job results, the flist row).
    pub fn to_json(self) -> serde_json::Value {
        // Six integers always serialise; the default is never produced.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The statistics inside a job result or event payload: its `stats`, `files.response`,
    /// `flist` or `response` member, or the value itself; zeros when none of them holds
    /// statistics. Each job kind reports them where the original hub's reply for it had them.
    pub fn found_in(value: &serde_json::Value) -> Self {
        let candidates = [
            value.get("stats"),
            value.get("files").and_then(|files| files.get("response")),
            value.get("flist"),
            value.get("response"),
            Some(value),
        ];
        candidates
            .into_iter()
            .flatten()
            .filter(|candidate| candidate.get("regular").is_some())
            .find_map(|candidate| Self::deserialize(candidate).ok())
            .unwrap_or_default()
    }
}

/// Body of `GET /api/flist/{repo}/{flist}` (hub-api 6.6), members in the original's order.
#[derive(Serialize)]
struct ContentsDump<'a> {
    content: &'a [DumpEntry],
    #[serde(flatten)]
    stats: Stats,
}

/// The statistics of `tree` and its contents dump serialised exactly as the gateway serves it
/// (Python `json.dumps` style, trailing newline). Walks the whole tree: call it from a
/// blocking thread.
pub fn contents_dump(tree: &Tree) -> Result<(Stats, Vec<u8>), serde_json::Error> {
    let stats = Stats::of(tree);
    let content = tree.dump();
    let body = hub_apijson::to_vec(&ContentsDump {
        content: &content,
        stats,
    })?;
    Ok((stats, body))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hub_flist::{Attr, NodeKind};
    use serde_json::json;

    use super::*;

    #[test]
    fn dump_has_the_served_shape() -> Result<(), Box<dyn std::error::Error>> {
        let mut tree = Tree::new(Attr::default_dir());
        let etc = tree.mkdir_all("etc", &Attr::default_dir())?;
        let file = NodeKind::File {
            size: 7,
            blocks: Arc::from(Vec::new()),
        };
        tree.insert(etc, "hostname".into(), Attr::with_mode(0o644), file)?;
        let link = NodeKind::Symlink {
            target: "hostname".into(),
        };
        tree.insert(etc, "hé".into(), Attr::with_mode(0o777), link)?;
        let (stats, dump) = contents_dump(&tree)?;
        assert_eq!(
            stats,
            Stats {
                regular: 1,
                symlink: 1,
                directory: 1,
                special: 0,
                failure: 0,
                fullsize: 7
            }
        );
        let etc_size = tree.node(etc).kind.size();
        assert_eq!(
            String::from_utf8(dump)?,
            format!(
                "{{\"content\": [{{\"size\": {etc_size}, \"path\": \"/etc\"}}, \
                 {{\"size\": 7, \"path\": \"/etc/hostname\"}}, \
                 {{\"size\": 8, \"path\": \"/etc/h\\u00e9\"}}], \
                 \"regular\": 1, \"symlink\": 1, \"directory\": 1, \"special\": 0, \
                 \"failure\": 0, \"fullsize\": 7}}\n"
            )
        );
        assert_eq!(
            stats.to_json(),
            json!({"regular": 1, "symlink": 1, "directory": 1, "special": 0, "failure": 0,
                   "fullsize": 7})
        );
        Ok(())
    }

    #[test]
    fn an_empty_tree_dumps_an_empty_content_list() -> Result<(), Box<dyn std::error::Error>> {
        let (stats, dump) = contents_dump(&Tree::new(Attr::default_dir()))?;
        assert_eq!(stats, Stats::default());
        assert_eq!(
            String::from_utf8(dump)?,
            "{\"content\": [], \"regular\": 0, \"symlink\": 0, \"directory\": 0, \
             \"special\": 0, \"failure\": 0, \"fullsize\": 0}\n"
        );
        Ok(())
    }

    #[test]
    fn stats_are_found_wherever_they_are() {
        assert_eq!(Stats::found_in(&json!({"regular": 5})).regular, 5);
        let nested = json!({"files": {"response": {"regular": 6}}});
        assert_eq!(Stats::found_in(&nested).regular, 6);
        let result = json!({"name": "a.flist", "stats": {"regular": 7, "fullsize": 9}});
        assert_eq!(
            Stats::found_in(&result),
            Stats {
                regular: 7,
                fullsize: 9,
                ..Stats::default()
            }
        );
        assert_eq!(Stats::found_in(&json!({"other": 1})), Stats::default());
    }
}
