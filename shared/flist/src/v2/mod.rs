//! The `.fl` format (rfs FungiList, "v2"): a bare SQLite database of inodes (flist-formats Part B).

mod batch;
pub mod mode;
mod reader;
mod writer;

pub use writer::SCHEMA;

use crate::{FlistError, Metadata, Tree};

/// Reads a `.fl` file image: tree, tags and routes.
pub(crate) fn read(bytes: &[u8]) -> Result<(Tree, Metadata), FlistError> {
    reader::read_db(bytes)
}

/// Writes a `.fl` file image.
pub(crate) fn write(tree: &Tree, meta: &Metadata) -> Result<Vec<u8>, FlistError> {
    writer::write_db(tree, meta)
}
