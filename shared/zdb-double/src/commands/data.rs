//! Data commands: `SET`, `GET`, `EXISTS`, `DEL`, `DBSIZE`, `SCAN`.

use bytes::Bytes;

use super::{Session, err};
use crate::faults::Faults;
use crate::namespace::{Catalog, Entry, unix_now};
use crate::resp::Reply;

/// Longest key in user mode.
const MAX_KEY: usize = 255;
/// Keys returned by one `SCAN` call. 0-db slices by time; a fixed count is enough for clients
/// that loop until `-No more data`, as they must.
const SCAN_PAGE: usize = 128;
/// Length of a `SCAN` cursor in 0-db.
const SCAN_CURSOR: usize = 17;

impl Session {
    pub(super) fn set(&self, catalog: &mut Catalog, faults: &Faults, args: &[Bytes]) -> Reply {
        let (key, value) = match args {
            [_, key, value] => (key, value),
            // The timestamp form is for replication; the forced timestamp is not emulated.
            [_, key, value, _] if self.admin => (key, value),
            [_, _, _, _] => return err("Permission denied"),
            _ => return err("Unexpected arguments"),
        };
        let ns = match self.writable_namespace(catalog) {
            Ok(ns) => ns,
            Err(reply) => return reply,
        };
        if key.is_empty() {
            return err("Invalid argument, key needed");
        }
        if key.len() > MAX_KEY {
            return err("Key too large");
        }
        if let Some(existing) = ns.entries.get(key) {
            if ns.settings.worm {
                return err("Namespace is protected by worm mode");
            }
            if existing.value == value {
                return Reply::Nil;
            }
        }
        let maxsize = ns.settings.maxsize;
        if maxsize > 0 && ns.data_size.saturating_add(value.len() as u64) > maxsize {
            return err("No space left on this namespace");
        }
        if faults.take_write_failure() {
            return err("Cannot write data right now");
        }
        let seq = ns.account_write(key.len(), value.len());
        let previous = ns.entries.insert(
            key.clone(),
            Entry {
                seq,
                value: value.clone(),
                timestamp: unix_now(),
            },
        );
        // An overwrite moves the key to the end of the write order.
        if let Some(previous) = previous {
            ns.order.remove(&previous.seq);
        }
        ns.order.insert(seq, key.clone());
        Reply::Bulk(key.clone())
    }

    pub(super) fn get(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        let [_, key] = args else {
            return err("Unexpected arguments");
        };
        let ns = match self.readable_namespace(catalog) {
            Ok(ns) => ns,
            Err(reply) => return reply,
        };
        if let Some(reply) = invalid_lookup_key(key) {
            return reply;
        }
        ns.entries
            .get(key)
            .map_or(Reply::Nil, |entry| Reply::Bulk(entry.value.clone()))
    }

    pub(super) fn exists(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        let [_, key] = args else {
            return err("Unexpected arguments");
        };
        let ns = match self.readable_namespace(catalog) {
            Ok(ns) => ns,
            Err(reply) => return reply,
        };
        if let Some(reply) = invalid_lookup_key(key) {
            return reply;
        }
        Reply::Int(i64::from(ns.entries.contains_key(key)))
    }

    pub(super) fn del(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        let key = match args {
            [_, key] => key,
            [_, key, _] if self.admin => key,
            [_, _, _] => return err("Permission denied"),
            _ => return err("Unexpected arguments"),
        };
        let ns = match self.writable_namespace(catalog) {
            Ok(ns) => ns,
            Err(reply) => return reply,
        };
        if let Some(reply) = invalid_lookup_key(key) {
            return reply;
        }
        if ns.settings.worm {
            return err("Cannot delete a key when namespace is in worm mode");
        }
        let Some(removed) = ns.entries.remove(key) else {
            return err("Key not found");
        };
        ns.order.remove(&removed.seq);
        // The tombstone is an append like any other write.
        ns.account_write(key.len(), 0);
        Reply::ok()
    }

    pub(super) fn dbsize(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if args.len() != 1 {
            return err("Unexpected arguments");
        }
        // Works even on a frozen namespace.
        let entries = self.current(catalog).map_or(0, |ns| ns.entries.len());
        Reply::Int(i64::try_from(entries).unwrap_or(i64::MAX))
    }

    pub(super) fn scan(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        let after = match args {
            [_] => None,
            [_, cursor] => match decode_cursor(cursor) {
                Some(seq) => Some(seq),
                None => return err("Invalid key format"),
            },
            _ => return err("Unexpected arguments"),
        };
        let ns = match self.readable_namespace(catalog) {
            Ok(ns) => ns,
            Err(reply) => return reply,
        };
        let start = after.map_or(0, |seq| seq.saturating_add(1));
        let page: Vec<(&Bytes, &Entry)> = ns
            .order
            .range(start..)
            .filter_map(|(_, key)| ns.entries.get_key_value(key))
            .take(SCAN_PAGE)
            .collect();
        let Some(last_seq) = page.last().map(|(_, entry)| entry.seq) else {
            return err("No more data");
        };
        let items = page
            .into_iter()
            .map(|(key, entry)| {
                Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Int(i64::try_from(entry.value.len()).unwrap_or(i64::MAX)),
                    Reply::Int(i64::from(entry.timestamp)),
                ])
            })
            .collect();
        Reply::Array(vec![
            Reply::Bulk(encode_cursor(last_seq)),
            Reply::Array(items),
        ])
    }
}

/// Validation of keys given to `GET`, `EXISTS` and `DEL`.
fn invalid_lookup_key(key: &[u8]) -> Option<Reply> {
    if key.is_empty() {
        Some(err("Invalid argument"))
    } else if key.len() > MAX_KEY {
        Some(err("Invalid key"))
    } else {
        None
    }
}

fn encode_cursor(seq: u64) -> Bytes {
    let mut cursor = vec![0u8; SCAN_CURSOR];
    if let Some(head) = cursor.get_mut(..8) {
        head.copy_from_slice(&seq.to_le_bytes());
    }
    Bytes::from(cursor)
}

fn decode_cursor(cursor: &[u8]) -> Option<u64> {
    if cursor.len() != SCAN_CURSOR {
        return None;
    }
    let head: [u8; 8] = cursor.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(head))
}
