//! Namespaces and their key-value data, shared by all connections of one double.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// Settings a test can give a namespace when creating it directly (the same properties
/// `NSSET` changes).
#[derive(Debug, Clone)]
pub struct NamespaceSettings {
    /// Password required by `SELECT` for write access (and for any access when not public).
    pub password: Option<String>,
    /// With a password: `true` lets `SELECT <ns>` without password in, read-only.
    pub public: bool,
    /// Payload bytes allowed in the namespace; 0 is unlimited.
    pub maxsize: u64,
    /// Write-once: no overwrite, no delete.
    pub worm: bool,
}

impl Default for NamespaceSettings {
    fn default() -> Self {
        // 0-db's defaults for a new namespace.
        Self {
            password: None,
            public: true,
            maxsize: 0,
            worm: false,
        }
    }
}

/// One stored value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Write order, so `SCAN` can walk in the order 0-db's append-only files would.
    pub seq: u64,
    pub value: Bytes,
    pub timestamp: u32,
}

/// A namespace in user (key-value) mode.
#[derive(Debug)]
pub(crate) struct Namespace {
    pub name: Bytes,
    /// Distinguishes a namespace from a later one of the same name (after `NSDEL`/`NSNEW`).
    pub instance: u64,
    pub settings: NamespaceSettings,
    pub locked: bool,
    pub frozen: bool,
    pub entries: HashMap<Bytes, Entry>,
    /// Live keys by write order, so `SCAN` pages cost their own size, not the namespace's.
    pub order: BTreeMap<u64, Bytes>,
    /// Payload bytes ever appended: 0-db never frees space on overwrite or delete.
    pub data_size: u64,
    /// Bytes of index records ever appended (header plus one record and key per write).
    pub index_size: u64,
    pub next_seq: u64,
}

/// Size of an index file header in 0-db.
const INDEX_HEADER: u64 = 29;
/// Size of one index record without its key.
const INDEX_RECORD: u64 = 34;

impl Namespace {
    pub fn new(name: Bytes, instance: u64, settings: NamespaceSettings) -> Self {
        Self {
            name,
            instance,
            settings,
            locked: false,
            frozen: false,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            data_size: 0,
            index_size: INDEX_HEADER,
            next_seq: 0,
        }
    }

    /// Appends a write (set or delete tombstone) to the accounting of the append-only files.
    pub fn account_write(&mut self, key_len: usize, payload_len: usize) -> u64 {
        self.data_size += payload_len as u64;
        self.index_size += INDEX_RECORD + key_len as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}

/// All namespaces of a double. `default` always exists and always comes first.
#[derive(Debug)]
pub(crate) struct Catalog {
    namespaces: Vec<Namespace>,
    next_instance: u64,
}

/// Name of the namespace every connection starts in.
pub(crate) const DEFAULT_NAMESPACE: &[u8] = b"default";

impl Catalog {
    pub fn new() -> Self {
        let default = Namespace::new(
            Bytes::from_static(DEFAULT_NAMESPACE),
            0,
            NamespaceSettings::default(),
        );
        Self {
            namespaces: vec![default],
            next_instance: 1,
        }
    }

    pub fn get(&self, name: &[u8]) -> Option<&Namespace> {
        self.namespaces.iter().find(|ns| ns.name == name)
    }

    pub fn get_mut(&mut self, name: &[u8]) -> Option<&mut Namespace> {
        self.namespaces.iter_mut().find(|ns| ns.name == name)
    }

    /// The namespace a connection selected, unless it was deleted since.
    pub fn current_mut(&mut self, name: &[u8], instance: u64) -> Option<&mut Namespace> {
        self.namespaces
            .iter_mut()
            .find(|ns| ns.name == name && ns.instance == instance)
    }

    pub fn is_live(&self, name: &[u8], instance: u64) -> bool {
        self.namespaces
            .iter()
            .any(|ns| ns.name == name && ns.instance == instance)
    }

    /// Adds a namespace; `false` if the name is taken.
    pub fn create(&mut self, name: Bytes, settings: NamespaceSettings) -> bool {
        if self.get(&name).is_some() {
            return false;
        }
        let instance = self.next_instance;
        self.next_instance += 1;
        self.namespaces
            .push(Namespace::new(name, instance, settings));
        true
    }

    /// Removes a namespace; `false` if it does not exist.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        let before = self.namespaces.len();
        self.namespaces.retain(|ns| ns.name != name);
        self.namespaces.len() != before
    }

    pub fn names(&self) -> impl Iterator<Item = &Bytes> {
        self.namespaces.iter().map(|ns| &ns.name)
    }
}

/// Current time as 0-db stores it: 32-bit Unix seconds.
pub(crate) fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}
