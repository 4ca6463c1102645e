//! Cap'n Proto values of the `entries` table (flist-formats §A.4): `Dir` and `ACI` messages.
//!
//! Decoding yields plain owned records so that the reader, the tests and the fuzz targets share
//! one validated view. Encoding borrows from the tree to avoid copying names.

use capnp::message::{Builder, HeapAllocator, ReaderOptions};
use capnp::serialize;

use super::flist_capnp::{a_c_i as aci, dir, file_block, inode, special};
use crate::{BlockRef, FlistError, Hash};

/// `File.blockSize` in units of 4 KiB: 128 = 512 KiB (A.4.4).
pub const BLOCK_SIZE_UNITS: u16 = 128;

/// A decoded `Dir` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord {
    /// Last path component; empty for the root.
    pub name: String,
    /// Relative path; empty for the root.
    pub location: String,
    /// Key of the parent directory (the root's own key for the root).
    pub parent: String,
    /// Stored directory size (4096).
    pub size: u64,
    /// ACL key of the directory.
    pub aclkey: String,
    /// `st_mtime` as u32.
    pub mtime: u32,
    /// `st_ctime` as u32.
    pub ctime: u32,
    /// The directory's entries in stored order.
    pub contents: Vec<InodeRecord>,
}

/// A decoded `Inode` (one directory entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeRecord {
    /// Entry name.
    pub name: String,
    /// Stored size.
    pub size: u64,
    /// ACL key.
    pub aclkey: String,
    /// `st_mtime` as u32.
    pub mtime: u32,
    /// `st_ctime` as u32.
    pub ctime: u32,
    /// Union branch.
    pub kind: InodeKind,
}

/// The `Inode.attributes` union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InodeKind {
    /// `SubDir`: key of the child's `Dir` row.
    Dir {
        /// Directory key.
        key: String,
    },
    /// `File`: chunks in file order (a null list reads as empty).
    File {
        /// `blockSize` as stored (128 in every conforming file).
        block_size: u16,
        /// Chunk references, each id and key exactly 16 bytes.
        blocks: Vec<BlockRef>,
    },
    /// `Link`: the symlink target.
    Link {
        /// Target text.
        target: String,
    },
    /// `Special`: device, FIFO or socket.
    Special {
        /// Raw `Special.type`: 0 socket, 1 block, 2 chardev, 3 fifopipe, 4 unknown (others are
        /// kept as read).
        kind: u16,
        /// `"maj,min"` for devices, `"(nothing)"` otherwise.
        data: Vec<u8>,
    },
    /// A union branch this schema does not know (written by a newer tool): readers skip it.
    Unknown(u16),
}

/// `Special.type` values.
pub mod special_type {
    /// `socket` (also what zflist writes for every special file).
    pub const SOCKET: u16 = 0;
    /// `block`.
    pub const BLOCK: u16 = 1;
    /// `chardev`.
    pub const CHARDEV: u16 = 2;
    /// `fifopipe`.
    pub const FIFO: u16 = 3;
    /// `unknown`.
    pub const UNKNOWN: u16 = 4;
}

/// A decoded `ACI` message (permissions of one ACL key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AciRecord {
    /// Owner name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Permission bits.
    pub mode: u16,
    /// Numeric owner; -1 in flists older than 2020-07.
    pub uid: i64,
    /// Numeric group; -1 in flists older than 2020-07.
    pub gid: i64,
}

fn read(bytes: &[u8]) -> Result<capnp::message::Reader<serialize::OwnedSegments>, FlistError> {
    // `read_message` copies into aligned words: SQLite blobs have no alignment guarantee. The
    // default traversal limit (64 MiB) is kept as the spec requires (A.4.1).
    let mut input = bytes;
    Ok(serialize::read_message(&mut input, ReaderOptions::new())?)
}

fn text(
    t: capnp::Result<capnp::text::Reader<'_>>,
    what: &'static str,
) -> Result<String, FlistError> {
    let t = t?;
    t.to_str()
        .map(str::to_owned)
        .map_err(|_| FlistError::Utf8 { what })
}

fn hash16(data: &[u8], what: &'static str) -> Result<Hash, FlistError> {
    if data.len() != 16 {
        return Err(FlistError::BadHashLength {
            what,
            got: data.len(),
            expected: 16,
        });
    }
    Hash::new(data).map_err(|_| FlistError::BadHashLength {
        what,
        got: data.len(),
        expected: 16,
    })
}

/// Decodes a `Dir` message (unpacked stream framing, any number of segments).
pub fn decode_dir(bytes: &[u8]) -> Result<DirRecord, FlistError> {
    let message = read(bytes)?;
    let d = message.get_root::<dir::Reader<'_>>()?;
    let list = d.get_contents()?;
    // A list of zero-sized structs costs nothing on the wire: without this bound a few bytes
    // could make us allocate millions of records. A real entry takes several words.
    if list.len() as usize > bytes.len() / 8 {
        return Err(FlistError::Capnp(capnp::Error::failed(format!(
            "{} entries cannot fit in {} bytes",
            list.len(),
            bytes.len()
        ))));
    }
    let mut contents = Vec::with_capacity(list.len() as usize);
    for entry in list.iter() {
        contents.push(decode_inode(entry)?);
    }
    Ok(DirRecord {
        name: text(d.get_name(), "directory name")?,
        location: text(d.get_location(), "directory location")?,
        parent: text(d.get_parent(), "parent key")?,
        size: d.get_size(),
        aclkey: text(d.get_aclkey(), "ACL key")?,
        mtime: d.get_modification_time(),
        ctime: d.get_creation_time(),
        contents,
    })
}

fn decode_inode(i: inode::Reader<'_>) -> Result<InodeRecord, FlistError> {
    use inode::attributes::Which;
    let kind = match i.get_attributes().which() {
        Ok(Which::Dir(sub)) => InodeKind::Dir {
            key: text(sub?.get_key(), "sub-directory key")?,
        },
        Ok(Which::File(file)) => {
            let file = file?;
            let mut blocks = Vec::new();
            if file.has_blocks() {
                let list = file.get_blocks()?;
                blocks.reserve(list.len() as usize);
                for b in list.iter() {
                    blocks.push(BlockRef {
                        id: hash16(b.get_hash()?, "block id")?,
                        key: hash16(b.get_key()?, "block key")?,
                    });
                }
            }
            InodeKind::File {
                block_size: file.get_block_size(),
                blocks,
            }
        }
        Ok(Which::Link(link)) => InodeKind::Link {
            target: text(link?.get_target(), "symlink target")?,
        },
        Ok(Which::Special(s)) => {
            let s = s?;
            let kind = match s.get_type() {
                Ok(t) => t as u16,
                Err(capnp::NotInSchema(n)) => n,
            };
            InodeKind::Special {
                kind,
                data: s.get_data()?.to_vec(),
            }
        }
        Err(capnp::NotInSchema(n)) => InodeKind::Unknown(n),
    };
    Ok(InodeRecord {
        name: text(i.get_name(), "entry name")?,
        size: i.get_size(),
        aclkey: text(i.get_aclkey(), "ACL key")?,
        mtime: i.get_modification_time(),
        ctime: i.get_creation_time(),
        kind,
    })
}

/// Decodes an `ACI` message.
pub fn decode_aci(bytes: &[u8]) -> Result<AciRecord, FlistError> {
    let message = read(bytes)?;
    let a = message.get_root::<aci::Reader<'_>>()?;
    Ok(AciRecord {
        uname: text(a.get_uname(), "user name")?,
        gname: text(a.get_gname(), "group name")?,
        mode: a.get_mode(),
        uid: a.get_uid(),
        gid: a.get_gid(),
    })
}

/// Encodes an `ACI` message: single segment, `rights` null, `id` 0 (A.4.4, D.4).
pub fn encode_aci(aci: &AciRecord, out: &mut Vec<u8>) -> Result<(), FlistError> {
    let words = 1 + 6 + text_words(&aci.uname) + text_words(&aci.gname);
    let mut message = Builder::new(HeapAllocator::new().first_segment_words(words));
    let mut a = message.init_root::<aci::Builder<'_>>();
    a.set_uname(aci.uname.as_str());
    a.set_gname(aci.gname.as_str());
    a.set_mode(aci.mode);
    a.set_uid(aci.uid);
    a.set_gid(aci.gid);
    out.clear();
    serialize::write_message(&mut *out, &message)?;
    Ok(())
}

/// Header fields of a `Dir` message to encode.
pub(crate) struct DirOut<'a> {
    pub name: &'a str,
    pub size: u64,
    pub location: &'a str,
    pub parent: &'a str,
    pub aclkey: &'a str,
    pub mtime: u32,
    pub ctime: u32,
}

/// One `Inode` to encode.
pub(crate) struct InodeOut<'a> {
    pub name: &'a str,
    pub size: u64,
    pub aclkey: &'a str,
    pub mtime: u32,
    pub ctime: u32,
    pub kind: InodeOutKind<'a>,
}

/// Union branch of an `Inode` to encode.
pub(crate) enum InodeOutKind<'a> {
    Dir {
        key: String,
    },
    File {
        block_size: u16,
        blocks: &'a [BlockRef],
    },
    Link {
        target: &'a str,
    },
    Special {
        kind: special::Type,
        data: Vec<u8>,
    },
}

/// Stored directory size of every `Dir` row (A.4.4).
pub(crate) const DIR_ROW_SIZE: u64 = 4096;

/// Encodes a `Dir` message into `out` (cleared first).
///
/// The first segment is sized from the content so that messages come out single-segment.
pub(crate) fn encode_dir(
    header: &DirOut<'_>,
    contents: &[InodeOut<'_>],
    out: &mut Vec<u8>,
) -> Result<(), FlistError> {
    let words = dir_words(header, contents);
    let mut message = Builder::new(HeapAllocator::new().first_segment_words(words));
    let mut d = message.init_root::<dir::Builder<'_>>();
    d.set_name(header.name);
    d.set_location(header.location);
    d.set_parent(header.parent);
    d.set_size(header.size);
    d.set_aclkey(header.aclkey);
    d.set_modification_time(header.mtime);
    d.set_creation_time(header.ctime);
    let len = u32::try_from(contents.len())
        .map_err(|_| FlistError::Unwritable("too many entries in one directory".into()))?;
    let mut list = d.init_contents(len);
    for (i, entry) in (0..len).zip(contents) {
        let mut n = list.reborrow().get(i);
        n.set_name(entry.name);
        n.set_size(entry.size);
        n.set_aclkey(entry.aclkey);
        n.set_modification_time(entry.mtime);
        n.set_creation_time(entry.ctime);
        let attrs = n.init_attributes();
        match &entry.kind {
            InodeOutKind::Dir { key } => attrs.init_dir().set_key(key.as_str()),
            InodeOutKind::File { block_size, blocks } => {
                let mut f = attrs.init_file();
                f.set_block_size(*block_size);
                // zflist leaves the list null for empty files; readers accept both.
                if !blocks.is_empty() {
                    let count = u32::try_from(blocks.len())
                        .map_err(|_| FlistError::Unwritable("file with too many blocks".into()))?;
                    let mut bl = f.init_blocks(count);
                    for (j, b) in (0..count).zip(blocks.iter()) {
                        let mut fb: file_block::Builder<'_> = bl.reborrow().get(j);
                        fb.set_hash(b.id.as_bytes());
                        fb.set_key(b.key.as_bytes());
                    }
                }
            }
            InodeOutKind::Link { target } => attrs.init_link().set_target(*target),
            InodeOutKind::Special { kind, data } => {
                let mut s = attrs.init_special();
                s.set_type(*kind);
                s.set_data(data);
            }
        }
    }
    out.clear();
    serialize::write_message(&mut *out, &message)?;
    Ok(())
}

/// Encodes a decoded `Dir` record back into a message (single segment), e.g. to craft test
/// files. Unknown union branches cannot be encoded and are left out; `Special.type` values
/// beyond the schema's enum become `unknown`.
pub fn encode_dir_record(record: &DirRecord) -> Result<Vec<u8>, FlistError> {
    let header = DirOut {
        name: &record.name,
        size: record.size,
        location: &record.location,
        parent: &record.parent,
        aclkey: &record.aclkey,
        mtime: record.mtime,
        ctime: record.ctime,
    };
    let contents: Vec<InodeOut<'_>> = record
        .contents
        .iter()
        .filter_map(|i| {
            let kind = match &i.kind {
                InodeKind::Dir { key } => InodeOutKind::Dir { key: key.clone() },
                InodeKind::File { block_size, blocks } => InodeOutKind::File {
                    block_size: *block_size,
                    blocks,
                },
                InodeKind::Link { target } => InodeOutKind::Link { target },
                InodeKind::Special { kind, data } => InodeOutKind::Special {
                    kind: special::Type::try_from(*kind).unwrap_or(special::Type::Unknown),
                    data: data.clone(),
                },
                InodeKind::Unknown(_) => return None,
            };
            Some(InodeOut {
                name: &i.name,
                size: i.size,
                aclkey: &i.aclkey,
                mtime: i.mtime,
                ctime: i.ctime,
                kind,
            })
        })
        .collect();
    let mut out = Vec::new();
    encode_dir(&header, &contents, &mut out)?;
    Ok(out)
}

/// Words needed for a Text value (NUL included), rounded up.
fn text_words(s: &str) -> u32 {
    words_for(s.len() + 1)
}

fn words_for(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(8)).unwrap_or(u32::MAX)
}

/// Exact size in words of a `Dir` message laid out by the builder.
fn dir_words(h: &DirOut<'_>, contents: &[InodeOut<'_>]) -> u32 {
    // Root pointer, Dir struct (2 data + 5 pointers), list tag.
    let mut w: u32 = 1 + 7 + 1;
    for s in [h.name, h.location, h.parent, h.aclkey] {
        w = w.saturating_add(text_words(s));
    }
    for e in contents {
        // Inode struct: 3 data + 3 pointers.
        let attr = match &e.kind {
            InodeOutKind::Dir { key } => 1 + text_words(key),
            InodeOutKind::File { blocks: [], .. } => 2,
            // File struct, list tag, per block 2 pointers + two 16-byte Data values.
            InodeOutKind::File { blocks, .. } => 3u32.saturating_add(
                u32::try_from(blocks.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(6),
            ),
            InodeOutKind::Link { target } => 1 + text_words(target),
            InodeOutKind::Special { data, .. } => 2 + words_for(data.len()),
        };
        w = w
            .saturating_add(6)
            .saturating_add(text_words(e.name))
            .saturating_add(text_words(e.aclkey))
            .saturating_add(attr);
    }
    w
}

#[cfg(test)]
mod tests;
