//! SQLite plumbing shared by both formats: databases live in memory and move as bytes.

use rusqlite::{Connection, MAIN_DB, OptionalExtension};

use crate::FlistError;

/// Opens a read-only in-memory copy of a database file image.
pub(crate) fn open_bytes(bytes: &[u8]) -> Result<Connection, FlistError> {
    let mut conn = Connection::open_in_memory()?;
    conn.deserialize_read_exact(MAIN_DB, bytes, bytes.len(), true)?;
    // Fail early on non-database bytes instead of on the first query.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(conn)
}

/// A new in-memory database for a writer, with the given page size.
///
/// An in-memory database has no journal file and no sync, which is what makes building large
/// flists fast; its serialised image (see [`into_bytes`]) is an ordinary database file with a
/// rollback-journal header (bytes 18–19 = `01 01`), i.e. journal mode `delete` once on disk.
pub(crate) fn new_memory_db(page_size: u32) -> Result<Connection, FlistError> {
    let conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "page_size", page_size)?;
    conn.pragma_update(None, "encoding", "UTF-8")?;
    Ok(conn)
}

/// The database file image.
pub(crate) fn into_bytes(conn: Connection) -> Result<Vec<u8>, FlistError> {
    let bytes = conn.serialize(MAIN_DB)?.to_vec();
    Ok(bytes)
}

/// True if the database has a table of that name.
pub(crate) fn has_table(conn: &Connection, name: &str) -> Result<bool, FlistError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_round_trip_has_rollback_header() -> Result<(), FlistError> {
        let conn = new_memory_db(4096)?;
        conn.execute_batch("CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x');")?;
        let bytes = into_bytes(conn)?;
        assert!(bytes.starts_with(b"SQLite format 3\0"));
        assert_eq!(bytes.get(16..18), Some(&[0x10, 0x00][..]), "page size 4096");
        assert_eq!(bytes.get(18..20), Some(&[1, 1][..]), "rollback journal");
        let back = open_bytes(&bytes)?;
        assert!(has_table(&back, "t")?);
        assert!(!has_table(&back, "u")?);
        let a: String = back.query_row("SELECT a FROM t", [], |r| r.get(0))?;
        assert_eq!(a, "x");
        Ok(())
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(open_bytes(b"SQLite format 3\0 but then garbage").is_err());
        assert!(open_bytes(&[0u8; 4096]).is_err());
        assert!(open_bytes(&[]).is_err());
    }
}
