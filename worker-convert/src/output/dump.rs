//! The statistics and the contents dump the hub serves for a flist (hub-api 6, 6.6).

use hub_flist::{DumpEntry, Tree};
use serde::{Deserialize, Serialize};

/// The original hub's Stats object, keys in its order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The counts of `tree`, with `failure` 0.
    pub fn of(tree: &Tree) -> Self {
        let stats = tree.stats();
        Self {
            regular: stats.regular,
            symlink: stats.symlink,
            directory: stats.directory,
            special: stats.special,
            failure: 0,
            fullsize: stats.fullsize,
        }
    }

    /// As a JSON value (for job results and the flist row).
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "regular": self.regular,
            "symlink": self.symlink,
            "directory": self.directory,
            "special": self.special,
            "failure": self.failure,
            "fullsize": self.fullsize,
        })
    }
}

/// Body of `GET /api/flist/{repo}/{flist}`, member order as the original served it.
#[derive(Serialize)]
struct DumpBody<'a> {
    content: &'a [DumpEntry],
    regular: u64,
    symlink: u64,
    directory: u64,
    special: u64,
    failure: u64,
    fullsize: u64,
}

/// The statistics of `tree` and its contents dump serialised exactly as the gateway serves it
/// (Python `json.dumps` style, trailing newline). Walks the whole tree: call it from a
/// blocking thread.
pub fn contents_dump(tree: &Tree) -> Result<(Stats, Vec<u8>), serde_json::Error> {
    let stats = Stats::of(tree);
    let content = tree.dump();
    let body = DumpBody {
        content: &content,
        regular: stats.regular,
        symlink: stats.symlink,
        directory: stats.directory,
        special: stats.special,
        failure: stats.failure,
        fullsize: stats.fullsize,
    };
    Ok((stats, hub_apijson::to_vec(&body)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hub_flist::{Attr, NodeKind};

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
        let text = String::from_utf8(dump)?;
        let etc_size = tree.node(etc).kind.size();
        assert_eq!(
            text,
            format!(
                "{{\"content\": [{{\"size\": {etc_size}, \"path\": \"/etc\"}}, \
                 {{\"size\": 7, \"path\": \"/etc/hostname\"}}, \
                 {{\"size\": 8, \"path\": \"/etc/h\\u00e9\"}}], \
                 \"regular\": 1, \"symlink\": 1, \"directory\": 1, \"special\": 0, \
                 \"failure\": 0, \"fullsize\": 7}}\n"
            )
        );
        let json: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(json["fullsize"], stats.to_json()["fullsize"]);
        Ok(())
    }
}
