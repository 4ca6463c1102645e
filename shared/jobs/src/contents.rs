//! What the hub serves about a flist's contents (hub-api §6, §6.6): the statistics object and
//! the contents dump.
//!
//! Workers precompute both when they store a flist ([`crate::FlistFile`]); the gateway reads
//! the statistics back from job results and computes the dump of a row stored without one.
//! Defining the shape once here keeps what a worker stores and what the gateway computes
//! byte-identical.

use hub_flist::{DumpEntry, Tree};
use serde::Serialize;

pub use hub_model::Stats;

/// The counts of `tree`, with `failure` 0. Walks the whole tree.
pub fn stats_of(tree: &Tree) -> Stats {
    let counts = tree.stats();
    Stats {
        regular: counts.regular,
        symlink: counts.symlink,
        directory: counts.directory,
        special: counts.special,
        failure: 0,
        fullsize: counts.fullsize,
    }
}

/// Body of `GET /api/flist/{repo}/{flist}` (hub-api §6.6), members in the original's order.
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
    let stats = stats_of(tree);
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
}
