//! Inserts of many rows as multi-row `INSERT … VALUES (…), (…)` statements.
//!
//! One execution per row pays SQLite's per-statement work (reset, VDBE start, and for the
//! `AUTOINCREMENT` inode table a read and write of `sqlite_sequence`) for every row; batching
//! pays it once per [`ROWS`] rows. The rows, their order and so the database are the same.

use rusqlite::{Connection, Statement};

/// Rows per statement (at most 64 × 10 parameters: far below SQLite's 32,766).
const ROWS: usize = 64;

/// Binds one row's values at parameters `first..first + columns` (1-based).
pub(super) type Bind<R> = fn(&mut Statement<'_>, usize, &R) -> rusqlite::Result<()>;

/// Buffers rows of type `R` and inserts them [`ROWS`] at a time.
pub(super) struct BatchInsert<'c, R> {
    conn: &'c Connection,
    /// `INSERT INTO table (columns) VALUES`
    head: &'static str,
    columns: usize,
    bind: Bind<R>,
    rows: Vec<R>,
    full: Option<Statement<'c>>,
}

impl<'c, R> BatchInsert<'c, R> {
    /// Inserts into `head` (`INSERT INTO t (a, b) VALUES`) rows of `columns` values.
    pub(super) fn new(
        conn: &'c Connection,
        head: &'static str,
        columns: usize,
        bind: Bind<R>,
    ) -> Self {
        Self {
            conn,
            head,
            columns,
            bind,
            rows: Vec::with_capacity(ROWS),
            full: None,
        }
    }

    /// Queue `row`; a full batch is inserted at once.
    pub(super) fn push(&mut self, row: R) -> rusqlite::Result<()> {
        self.rows.push(row);
        if self.rows.len() == ROWS {
            let statement = match &mut self.full {
                Some(statement) => statement,
                None => self
                    .full
                    .insert(self.conn.prepare(&sql(self.head, self.columns, ROWS))?),
            };
            insert(statement, self.columns, self.bind, &self.rows)?;
            self.rows.clear();
        }
        Ok(())
    }

    /// Insert the rows still queued.
    pub(super) fn finish(mut self) -> rusqlite::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut statement = self
            .conn
            .prepare(&sql(self.head, self.columns, self.rows.len()))?;
        insert(&mut statement, self.columns, self.bind, &self.rows)?;
        self.rows.clear();
        Ok(())
    }
}

fn insert<R>(
    statement: &mut Statement<'_>,
    columns: usize,
    bind: Bind<R>,
    rows: &[R],
) -> rusqlite::Result<()> {
    for (index, row) in rows.iter().enumerate() {
        bind(statement, 1 + index * columns, row)?;
    }
    statement.raw_execute()?;
    Ok(())
}

/// `head (?, …), (?, …)…` for `rows` rows of `columns` values.
fn sql(head: &str, columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!("{head} {}", vec![row; rows].join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind_pair(
        statement: &mut Statement<'_>,
        first: usize,
        row: &(i64, String),
    ) -> rusqlite::Result<()> {
        statement.raw_bind_parameter(first, row.0)?;
        statement.raw_bind_parameter(first + 1, row.1.as_str())
    }

    #[test]
    fn every_row_is_inserted_in_order_whatever_the_count() -> rusqlite::Result<()> {
        for count in [0, 1, ROWS - 1, ROWS, ROWS + 1, 3 * ROWS + 5] {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)")?;
            let mut batch = BatchInsert::new(&conn, "INSERT INTO t (id, v) VALUES", 2, bind_pair);
            for id in 1..=count {
                batch.push((id as i64, format!("row {id}")))?;
            }
            batch.finish()?;
            let rows: Vec<(i64, String)> = conn
                .prepare("SELECT id, v FROM t ORDER BY rowid")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let expected: Vec<(i64, String)> = (1..=count)
                .map(|id| (id as i64, format!("row {id}")))
                .collect();
            assert_eq!(rows, expected, "{count} rows");
        }
        Ok(())
    }

    #[test]
    fn statements_have_one_placeholder_per_value() {
        assert_eq!(
            sql("INSERT INTO t (a, b) VALUES", 2, 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
