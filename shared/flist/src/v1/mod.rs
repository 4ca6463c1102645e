//! The `.flist` format (0-flist, "v1"): gzip + tar + SQLite of Cap'n Proto messages (spec
//! Part A).

mod codec;
mod container;
#[rustfmt::skip]
// Generated code: lints of this workspace do not apply (its setters unwrap on impossible
// allocation errors).
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused_qualifications, dead_code, missing_docs)]
mod flist_capnp;
mod keys;
mod reader;
mod writer;

pub use codec::{
    AciRecord, BLOCK_SIZE_UNITS, DirRecord, InodeKind, InodeRecord, decode_aci, decode_dir,
    encode_aci, encode_dir_record, special_type,
};
pub use keys::{acl_key, dir_key, legacy_acl_key, normalize_path};

use crate::{FlistError, Metadata, Tree};

/// Reads a `.flist` file image: tree and `metadata` table.
pub(crate) fn read(bytes: &[u8], limit: u64) -> Result<(Tree, Metadata), FlistError> {
    let db = container::extract_db(bytes, limit)?;
    reader::read_db(&db)
}

/// Writes a `.flist` file image.
pub(crate) fn write(tree: &Tree, meta: &Metadata) -> Result<Vec<u8>, FlistError> {
    let db = writer::write_db(tree, meta)?;
    container::pack_db(&db)
}

/// Reads the tree from a bare `flistdb.sqlite3` image (no gzip or tar around it).
pub fn read_database(db: &[u8]) -> Result<(Tree, Metadata), FlistError> {
    reader::read_db(db)
}

/// Writes the bare `flistdb.sqlite3` image of a tree (no gzip or tar around it).
pub fn write_database(tree: &Tree, meta: &Metadata) -> Result<Vec<u8>, FlistError> {
    writer::write_db(tree, meta)
}
