//! Listing a 0-db namespace with `SCAN` (`zero-db.md` 4.1): pages of `[key, size,
//! timestamp]` in write order, each with an opaque cursor for the next call, until
//! `-No more data`. A page's length depends on time, not on a count, so the loop never
//! assumes one.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::stream::BoxStream;
use redis::Value;
use tokio::sync::mpsc;

use super::pool::{Pool, Reply};
use super::unexpected;
use crate::{StoreError, StoredBlock};

/// Listed blocks buffered between the `SCAN` loop and the consumer.
const LIST_BUFFER: usize = 4096;

/// 0-db's answer to `SCAN` past the last key (or on an empty namespace).
const NO_MORE_DATA: &str = "No more data";

/// Streams every key after `cursor` (from the first key when `None`).
pub(super) fn list(
    pool: Arc<Pool>,
    cursor: Option<Vec<u8>>,
) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
    let (sender, receiver) = mpsc::channel(LIST_BUFFER);
    tokio::spawn(async move {
        if let Err(error) = scan(&pool, cursor, &sender).await {
            let _ = sender.send(Err(error)).await;
        }
    });
    Box::pin(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

/// One `SCAN` at a time (0-db stalls on pipelined requests); stops when the consumer is gone.
async fn scan(
    pool: &Pool,
    mut cursor: Option<Vec<u8>>,
    sender: &mpsc::Sender<Result<StoredBlock, StoreError>>,
) -> Result<(), StoreError> {
    loop {
        let mut command = redis::cmd("SCAN");
        if let Some(cursor) = &cursor {
            command.arg(cursor.as_slice());
        }
        let (next, blocks) = match pool.run(&command).await? {
            Reply::ServerError(message) if message == NO_MORE_DATA => return Ok(()),
            Reply::Value(value) => parse_page(pool, value)?,
            other => return Err(unexpected(pool, "SCAN", other)),
        };
        // A page that does not move the cursor would make this loop spin forever.
        if blocks.is_empty() && cursor.as_ref() == Some(&next) {
            return Err(pool.protocol("SCAN returned an empty page at the same cursor".into()));
        }
        let last = blocks.len().saturating_sub(1);
        for (index, mut block) in blocks.into_iter().enumerate() {
            if index == last {
                block.cursor = Some(next.clone());
            }
            if sender.send(Ok(block)).await.is_err() {
                return Ok(());
            }
        }
        cursor = Some(next);
    }
}

/// `*2`: the cursor for the next call, then `*n` of `[key, :size, :timestamp]`.
fn parse_page(pool: &Pool, value: Value) -> Result<(Vec<u8>, Vec<StoredBlock>), StoreError> {
    let bad = |what: &str| pool.protocol(format!("malformed SCAN reply: {what}"));
    let Value::Array(parts) = value else {
        return Err(bad("not an array"));
    };
    let [Value::BulkString(cursor), Value::Array(items)] =
        <[Value; 2]>::try_from(parts).map_err(|_| bad("expected [cursor, entries]"))?
    else {
        return Err(bad("expected [cursor, entries]"));
    };
    let mut blocks = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(fields) = item else {
            return Err(bad("entry is not an array"));
        };
        let [
            Value::BulkString(id),
            Value::Int(size),
            Value::Int(timestamp),
        ] = <[Value; 3]>::try_from(fields).map_err(|_| bad("entry is not [key, size, time]"))?
        else {
            return Err(bad("entry is not [key, size, time]"));
        };
        let size = u64::try_from(size).map_err(|_| bad("negative size"))?;
        let seconds = u64::try_from(timestamp).map_err(|_| bad("negative timestamp"))?;
        blocks.push(StoredBlock {
            id,
            size,
            modified: UNIX_EPOCH + Duration::from_secs(seconds),
            cursor: None,
        });
    }
    Ok((cursor, blocks))
}
