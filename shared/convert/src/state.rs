//! The tree under construction and what the producer threads share with it: file nodes
//! waiting for their block references, the captured readme, running totals.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hub_flist::chunk::CHUNK_SIZE;
use hub_flist::{Attr, BlockRef, NodeId, NodeKind, Tree};

use crate::pipeline::{Shared, Stopped, Submitter};
use crate::{ConvertError, Limits, Phase, Progress, ProgressReport};

/// Largest readme imported into the metadata; longer files are cut (they stay whole in the
/// tree).
pub(crate) const README_CAP: usize = 1 << 20;

/// Blocks of a file, as a range of pipeline sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Pending {
    first: u64,
    count: u64,
}

/// Text of a root `.README` / `.README.md` and the node it was read from.
#[derive(Debug, Default)]
pub(crate) struct Readme {
    plain: Option<(NodeId, String)>,
    markdown: Option<(NodeId, String)>,
}

impl Readme {
    /// Which readme slot a path fills, if any.
    pub(crate) fn wants(components: &[&str]) -> bool {
        matches!(components, [".README"] | [".README.md"])
    }

    fn set(&mut self, name: &str, id: NodeId, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).into_owned();
        if name == ".README" {
            self.plain = Some((id, text));
        } else {
            self.markdown = Some((id, text));
        }
    }

    /// The text to import: `.README` wins over `.README.md` (hub-api §11.1), and only if the
    /// file it came from is still in the tree (not replaced or deleted later).
    pub(crate) fn text(&self, tree: &Tree) -> Option<String> {
        let alive = |slot: &Option<(NodeId, String)>| {
            slot.as_ref()
                .filter(|(id, _)| {
                    tree.get(*id)
                        .is_some_and(|n| matches!(n.kind, NodeKind::File { .. }))
                })
                .map(|(_, text)| text.clone())
        };
        alive(&self.plain).or_else(|| alive(&self.markdown))
    }
}

/// Running totals over every layer of a conversion.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) entries: u64,
    pub(crate) compressed: u64,
    pub(crate) expanded: u64,
    /// Sum of the sizes entries declare (sparse files included at their logical size).
    pub(crate) declared: u64,
    pub(crate) content_bytes: u64,
}

/// A regular file about to be read into the tree.
pub(crate) struct NewFile<'a> {
    /// Parent directory.
    pub(crate) dir: NodeId,
    /// Entry name.
    pub(crate) name: &'a str,
    /// Attributes.
    pub(crate) attr: Attr,
    /// The size the source announced: fewer bytes means a truncated input. `None` reads to
    /// the end.
    pub(crate) expected: Option<u64>,
    /// Whether the content may become the flist's readme (a root `.README*`).
    pub(crate) readme: bool,
}

/// Everything a producer thread needs, moved to it for the duration of a run.
pub(crate) struct BuildState {
    pub(crate) tree: Tree,
    pub(crate) pending: HashMap<NodeId, Pending>,
    pub(crate) readme: Readme,
    pub(crate) totals: Totals,
    pub(crate) limits: Limits,
}

impl BuildState {
    pub(crate) fn new(limits: Limits) -> Self {
        BuildState {
            tree: Tree::new(Attr::default_dir()),
            pending: HashMap::new(),
            readme: Readme::default(),
            totals: Totals::default(),
            limits,
        }
    }

    /// Counts one more entry against the limit.
    pub(crate) fn count_entry(&mut self) -> Result<(), ConvertError> {
        self.totals.entries += 1;
        let max = self.limits.max_entries;
        if self.totals.entries > max {
            return Err(ConvertError::LimitExceeded {
                limit: "max_entries",
                value: self.totals.entries,
                max,
            });
        }
        Ok(())
    }

    /// Checks a path's length against the limit.
    pub(crate) fn check_path(&self, path: &str) -> Result<(), ConvertError> {
        let max = self.limits.max_path_len;
        if path.len() > max {
            return Err(ConvertError::LimitExceeded {
                limit: "max_path_len",
                value: path.len() as u64,
                max: max as u64,
            });
        }
        Ok(())
    }

    /// Counts a file's declared size against the expanded-size limit before reading it.
    pub(crate) fn declare(&mut self, size: u64) -> Result<(), ConvertError> {
        self.totals.declared = self.totals.declared.saturating_add(size);
        let max = self.limits.max_expanded_bytes;
        if self.totals.declared > max {
            return Err(ConvertError::LimitExceeded {
                limit: "max_expanded_bytes",
                value: self.totals.declared,
                max,
            });
        }
        Ok(())
    }

    /// Reads a file's content from `reader` into blocks and inserts it into the tree.
    pub(crate) fn add_file(
        &mut self,
        submitter: &mut Submitter,
        file: NewFile<'_>,
        reader: &mut dyn Read,
    ) -> Result<NodeId, ReadFailure> {
        let NewFile {
            dir,
            name,
            attr,
            expected,
            readme,
        } = file;
        let first = submitter.submitted();
        let mut size = 0u64;
        let mut head: Vec<u8> = Vec::new();
        loop {
            let want = match expected {
                Some(total) => (total - size).min(CHUNK_SIZE as u64),
                None => CHUNK_SIZE as u64,
            };
            if want == 0 {
                break;
            }
            let mut block = Vec::with_capacity(want as usize);
            reader
                .take(want)
                .read_to_end(&mut block)
                .map_err(ReadFailure::Io)?;
            let got = block.len() as u64;
            if got == 0 {
                break;
            }
            if readme && head.len() < README_CAP {
                let room = README_CAP - head.len();
                head.extend_from_slice(block.get(..room.min(block.len())).unwrap_or(&[]));
            }
            size += got;
            submitter
                .submit(Bytes::from(block))
                .map_err(|Stopped| ReadFailure::Stopped)?;
            if got < want {
                break;
            }
        }
        if let Some(total) = expected
            && size != total
        {
            return Err(ReadFailure::Truncated {
                expected: total,
                got: size,
            });
        }
        self.totals.content_bytes += size;
        let id = self
            .tree
            .insert(
                dir,
                name.to_owned(),
                attr,
                NodeKind::File {
                    size,
                    blocks: Arc::from(Vec::new()),
                },
            )
            .map_err(|e| ReadFailure::Invalid(e.to_string()))?;
        let pending = Pending {
            first,
            count: submitter.submitted() - first,
        };
        if pending.count > 0 {
            self.pending.insert(id, pending);
        }
        if readme {
            self.readme.set(name, id, &head);
        }
        Ok(id)
    }

    /// Makes `link` a copy of the file `target` (hard links share content).
    pub(crate) fn share_blocks(&mut self, target: NodeId, link: NodeId) {
        if let Some(p) = self.pending.get(&target).copied() {
            self.pending.insert(link, p);
        }
    }

    /// Fills in the block lists of every live file node, once the pipeline is finished.
    pub(crate) fn complete(&mut self, results: &[BlockRef]) -> Result<(), ConvertError> {
        let mut shared: HashMap<Pending, Arc<[BlockRef]>> = HashMap::new();
        for (id, p) in self.pending.drain() {
            let Some(node) = self.tree.get(id) else {
                continue; // replaced or deleted later in the archive
            };
            if !matches!(node.kind, NodeKind::File { .. }) {
                continue;
            }
            let blocks = match shared.get(&p) {
                Some(blocks) => Arc::clone(blocks),
                None => {
                    let slice = usize::try_from(p.first)
                        .ok()
                        .zip(usize::try_from(p.first + p.count).ok())
                        .and_then(|(a, b)| results.get(a..b))
                        .ok_or_else(|| {
                            ConvertError::Internal(format!(
                                "blocks {}..{} of {} were not produced",
                                p.first,
                                p.first + p.count,
                                self.tree.path(id)
                            ))
                        })?;
                    let blocks: Arc<[BlockRef]> = Arc::from(slice);
                    shared.insert(p, Arc::clone(&blocks));
                    blocks
                }
            };
            if let NodeKind::File { blocks: slot, .. } = &mut self.tree.node_mut(id).kind {
                *slot = blocks;
            }
        }
        Ok(())
    }
}

/// Why reading a file's content failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The reader failed (to be explained by the input's meter).
    Io(io::Error),
    /// The source had fewer bytes than announced.
    Truncated { expected: u64, got: u64 },
    /// The tree refused the entry.
    Invalid(String),
    /// The pipeline stopped (an error elsewhere).
    Stopped,
}

/// Sends progress reports at most every few MiB or thousand entries.
pub(crate) struct Reporter {
    progress: Arc<dyn Progress>,
    bytes_total: Option<u64>,
    last_bytes: u64,
    last_entries: u64,
}

impl Reporter {
    const BYTES_STEP: u64 = 4 << 20;
    const ENTRIES_STEP: u64 = 1024;

    pub(crate) fn new(progress: Arc<dyn Progress>, bytes_total: Option<u64>) -> Self {
        Reporter {
            progress,
            bytes_total,
            last_bytes: 0,
            last_entries: 0,
        }
    }

    /// Reports if enough happened since the last report (or always, with `force`).
    pub(crate) fn tick(
        &mut self,
        phase: Phase,
        bytes_in: u64,
        entries: u64,
        shared: &Shared,
        force: bool,
    ) {
        if !force
            && bytes_in < self.last_bytes + Self::BYTES_STEP
            && entries < self.last_entries + Self::ENTRIES_STEP
        {
            return;
        }
        self.last_bytes = bytes_in;
        self.last_entries = entries;
        self.progress.update(&ProgressReport {
            phase,
            bytes_in,
            bytes_total: self.bytes_total,
            entries,
            blocks_written: shared.blocks_written.load(Ordering::Relaxed),
            blocks_deduped: shared.blocks_deduped.load(Ordering::Relaxed),
        });
    }
}
