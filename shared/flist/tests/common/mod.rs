//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use rusqlite::Connection;

/// Path of a file under `tests/data/`.
pub fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Bytes of a file under `tests/data/`.
pub fn read_data(path: &str) -> Vec<u8> {
    std::fs::read(data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Gunzips a `.flist` and returns the tar stream.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("gunzip: {e}"));
    out
}

/// The `flistdb.sqlite3` image inside a `.flist`.
pub fn flist_db(bytes: &[u8]) -> Vec<u8> {
    let tar = gunzip(bytes);
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().unwrap_or_else(|e| panic!("tar: {e}")) {
        let mut entry = entry.unwrap_or_else(|e| panic!("tar entry: {e}"));
        if entry.path_bytes().ends_with(b"flistdb.sqlite3") {
            let mut db = Vec::new();
            entry
                .read_to_end(&mut db)
                .unwrap_or_else(|e| panic!("tar read: {e}"));
            return db;
        }
    }
    panic!("no database in the archive");
}

/// An in-memory connection on a database image, written to a temporary file first so that
/// journal-mode queries see what a reader on disk sees.
pub fn open_db(image: &[u8]) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("db.sqlite3");
    std::fs::write(&path, image).unwrap_or_else(|e| panic!("write: {e}"));
    let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
    (dir, conn)
}

/// Runs a query returning one integer.
pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
