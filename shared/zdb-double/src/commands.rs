//! Command semantics of 0-db v2.0.7 in user mode, with its exact error sentences.

use std::sync::Mutex;

use bytes::Bytes;

use crate::faults::Faults;
use crate::namespace::{Catalog, DEFAULT_NAMESPACE, Entry, Namespace, NamespaceSettings, unix_now};
use crate::resp::Reply;

/// Longest key in user mode.
const MAX_KEY: usize = 255;
/// Longest namespace name.
const MAX_NAMESPACE: usize = 128;
/// Longest `NSSET` value.
const MAX_NSSET_VALUE: usize = 63;
/// Longest `SELECT` password.
const MAX_SELECT_PASSWORD: usize = 255;
/// Longest `AUTH` password.
const MAX_AUTH_PASSWORD: usize = 128;
/// Keys returned by one `SCAN` call. 0-db slices by time; a fixed count is enough for clients
/// that loop until `-No more data`, as they must.
const SCAN_PAGE: usize = 128;
/// Length of a `SCAN` cursor in 0-db.
const SCAN_CURSOR: usize = 17;
/// Free space reported by `NSINFO`: the double keeps data in memory, so any large figure will do.
const REPORTED_FREE_SPACE: u64 = 1 << 40;

/// What to do after a request.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub reply: Reply,
    /// Close the connection after sending the reply.
    pub close: bool,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Self {
            reply,
            close: false,
        }
    }
}

fn err(text: &str) -> Reply {
    Reply::error(text)
}

/// Server-wide things a command may need.
pub(crate) struct Server<'a> {
    pub catalog: &'a Mutex<Catalog>,
    pub admin_password: Option<&'a str>,
    pub faults: &'a Faults,
}

/// Per-connection state.
#[derive(Debug)]
pub(crate) struct Session {
    namespace: Bytes,
    instance: u64,
    writable: bool,
    admin: bool,
}

impl Session {
    /// A new connection: in `default`, writable, admin only when no admin password is set.
    pub fn new(admin_password: Option<&str>) -> Self {
        Self {
            namespace: Bytes::from_static(DEFAULT_NAMESPACE),
            instance: 0,
            writable: true,
            admin: admin_password.is_none(),
        }
    }

    /// Runs one request (`args` holds at least the command name).
    pub fn execute(&mut self, server: &Server<'_>, args: &[Bytes]) -> Outcome {
        let Some(name) = args.first() else {
            return err("Missing arguments").into();
        };
        let name = name.to_ascii_uppercase();
        let mut catalog = server
            .catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !catalog.is_live(&self.namespace, self.instance) {
            return Outcome {
                reply: err("Your active namespace is not available anymore (probably removed)."),
                close: true,
            };
        }
        let reply = match name.as_slice() {
            b"PING" => Reply::Simple("PONG".to_owned()),
            b"TIME" => time(),
            b"INFO" => info(&catalog),
            b"AUTH" => self.auth(server.admin_password, args),
            b"SELECT" => self.select(&catalog, args),
            b"SET" | b"SETX" => self.set(&mut catalog, server.faults, args),
            b"GET" => self.get(&mut catalog, args),
            b"EXISTS" => self.exists(&mut catalog, args),
            b"DEL" => self.del(&mut catalog, args),
            b"DBSIZE" => self.dbsize(&mut catalog, args),
            b"SCAN" | b"SCANX" => self.scan(&mut catalog, args),
            b"NSNEW" => self.nsnew(&mut catalog, args),
            b"NSDEL" => self.nsdel(&mut catalog, args),
            b"NSSET" => self.nsset(&mut catalog, args),
            b"NSINFO" => nsinfo(&catalog, args),
            b"NSLIST" => Reply::Array(catalog.names().cloned().map(Reply::Bulk).collect()),
            _ => err("Command not supported"),
        };
        reply.into()
    }

    fn current<'c>(&self, catalog: &'c mut Catalog) -> Option<&'c mut Namespace> {
        catalog.current_mut(&self.namespace, self.instance)
    }

    fn auth(&mut self, admin_password: Option<&str>, args: &[Bytes]) -> Reply {
        match args {
            [_, password] => {
                let Some(expected) = admin_password else {
                    return err("Authentication disabled");
                };
                if password.len() > MAX_AUTH_PASSWORD {
                    return err("Password too long");
                }
                if password == expected.as_bytes() {
                    self.admin = true;
                    Reply::ok()
                } else {
                    err("Access denied")
                }
            }
            [_, method, _] if !method.eq_ignore_ascii_case(b"SECURE") => {
                err("Only SECURE extra method supported")
            }
            // The SHA-1 challenge flow is not emulated.
            [_, _, _] => err("Command not supported"),
            _ => err("Unexpected arguments"),
        }
    }

    fn select(&mut self, catalog: &Catalog, args: &[Bytes]) -> Reply {
        let (name, password) = match args {
            [_] | [] => return err("Invalid argument"),
            [_, name] => (name, None),
            [_, name, password] => (name, Some(password)),
            [_, _, method, _] if !method.eq_ignore_ascii_case(b"SECURE") => {
                return err("Only SECURE extra method supported");
            }
            // SELECT … SECURE needs an AUTH SECURE CHALLENGE first, which is not emulated.
            [_, _, _, _] => {
                return err("No CHALLENGE requested, secure authentication not available");
            }
            _ => return err("Too many arguments"),
        };
        if password.is_some_and(|pw| pw.len() > MAX_SELECT_PASSWORD) {
            return err("Password too long");
        }
        let Some(ns) = catalog.get(name) else {
            return err("Namespace not found");
        };
        let writable = match (&ns.settings.password, password) {
            (None, _) => true,
            (Some(expected), Some(given)) => {
                if expected.as_bytes() != given.as_ref() {
                    return err("Access denied");
                }
                true
            }
            (Some(_), None) if ns.settings.public => false,
            (Some(_), None) => return err("Namespace protected and private"),
        };
        self.namespace = ns.name.clone();
        self.instance = ns.instance;
        self.writable = writable;
        Reply::ok()
    }

    /// Checks shared by commands that modify the namespace.
    fn writable_namespace<'c>(&self, catalog: &'c mut Catalog) -> Result<&'c mut Namespace, Reply> {
        let writable = self.writable;
        let ns = self
            .current(catalog)
            .ok_or_else(|| err("Namespace not found"))?;
        if !writable {
            return Err(err("Namespace is in read-only mode"));
        }
        if ns.frozen {
            return Err(err("Namespace is temporarily frozen (read-write disabled)"));
        }
        if ns.locked {
            return Err(err("Namespace is temporarily locked (read-only)"));
        }
        Ok(ns)
    }

    /// Checks shared by commands that read the namespace.
    fn readable_namespace<'c>(&self, catalog: &'c mut Catalog) -> Result<&'c mut Namespace, Reply> {
        let ns = self
            .current(catalog)
            .ok_or_else(|| err("Namespace not found"))?;
        if ns.frozen {
            return Err(err("Namespace is temporarily frozen (read-write disabled)"));
        }
        Ok(ns)
    }

    fn set(&self, catalog: &mut Catalog, faults: &Faults, args: &[Bytes]) -> Reply {
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
        ns.entries.insert(
            key.clone(),
            Entry {
                seq,
                value: value.clone(),
                timestamp: unix_now(),
            },
        );
        Reply::Bulk(key.clone())
    }

    fn get(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
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

    fn exists(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
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

    fn del(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
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
        if ns.entries.remove(key).is_none() {
            return err("Key not found");
        }
        // The tombstone is an append like any other write.
        ns.account_write(key.len(), 0);
        Reply::ok()
    }

    fn dbsize(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if args.len() != 1 {
            return err("Unexpected arguments");
        }
        // Works even on a frozen namespace.
        let entries = self.current(catalog).map_or(0, |ns| ns.entries.len());
        Reply::Int(i64::try_from(entries).unwrap_or(i64::MAX))
    }

    fn scan(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
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
        let mut page: Vec<(&Bytes, &Entry)> = ns
            .entries
            .iter()
            .filter(|(_, entry)| after.is_none_or(|seq| entry.seq > seq))
            .collect();
        page.sort_unstable_by_key(|(_, entry)| entry.seq);
        page.truncate(SCAN_PAGE);
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

    fn nsnew(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if !self.admin {
            return err("Permission denied");
        }
        let [_, name] = args else {
            return err("Unexpected arguments");
        };
        if name.len() > MAX_NAMESPACE {
            return err("Namespace too long");
        }
        let forbidden = name.as_ref() == DEFAULT_NAMESPACE
            || name.as_ref() == b"."
            || name.as_ref() == b".."
            || name.contains(&b'/');
        if forbidden {
            return err("This name is not allowed");
        }
        if !catalog.create(name.clone(), NamespaceSettings::default()) {
            return err("This namespace is not available");
        }
        Reply::ok()
    }

    fn nsdel(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if !self.admin {
            return err("Permission denied");
        }
        let [_, name] = args else {
            return err("Unexpected arguments");
        };
        if name.as_ref() == DEFAULT_NAMESPACE {
            return err("Cannot remove default namespace");
        }
        if catalog.get(name).is_none() {
            return err("This namespace doesn't exists");
        }
        if *name == self.namespace {
            return err("Cannot remove namespace you're currently using.");
        }
        catalog.remove(name);
        Reply::ok()
    }

    fn nsset(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if !self.admin {
            return err("Permission denied");
        }
        let [_, name, property, value] = args else {
            return err("Unexpected arguments");
        };
        let Some(ns) = catalog.get_mut(name) else {
            return err("Namespace not found");
        };
        if value.len() > MAX_NSSET_VALUE {
            return err("Argument too long");
        }
        let property = property.to_ascii_lowercase();
        let is_default = ns.name.as_ref() == DEFAULT_NAMESPACE;
        if is_default && !matches!(property.as_slice(), b"mode" | b"lock" | b"freeze") {
            return err("Cannot update default namespace");
        }
        let flag = value.first() == Some(&b'1');
        match property.as_slice() {
            b"password" => {
                ns.settings.password =
                    (value.as_ref() != b"*").then(|| String::from_utf8_lossy(value).into_owned());
            }
            b"public" => ns.settings.public = flag,
            b"worm" => ns.settings.worm = flag,
            b"lock" => ns.locked = flag,
            b"freeze" => ns.frozen = flag,
            // atoll semantics: anything unparsable counts as 0 (unlimited).
            b"maxsize" => {
                ns.settings.maxsize = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(0);
            }
            // The double behaves like a server started with `--mode user`.
            b"mode" => {
                return err("This server instance is configured to use a single runtime mode");
            }
            _ => return err("Invalid property"),
        }
        Reply::ok()
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

fn time() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ])
}

fn info(catalog: &Catalog) -> Reply {
    let namespaces = catalog.names().count();
    let text = format!(
        "# server\nserver_name: 0-db (zdb)\nserver_revision: hub-zdb-double\nengine_revision: v2.0.7\n\n\
         # clients\nclients_lifetime: 0\n\n\
         # internals\nnamespaces: {namespaces}\nsequential_key_size: 8\ndata_version: 3\nindex_version: 4\nmode: userkey\n\n\
         # stats\nnetworks_rx: 0\nnetworks_tx: 0\n"
    );
    Reply::Bulk(Bytes::from(text))
}

fn nsinfo(catalog: &Catalog, args: &[Bytes]) -> Reply {
    let [_, name] = args else {
        return err("Unexpected arguments");
    };
    let Some(ns) = catalog.get(name) else {
        return err("Namespace not found");
    };
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    let settings = &ns.settings;
    let mut text = format!(
        "# namespace\nname: {}\nentries: {}\npublic: {}\nworm: {}\nlocked: {}\npassword: {}\n\
         data_size_bytes: {}\ndata_size_mb: {:.2}\ndata_limits_bytes: {}\n\
         index_size_bytes: {}\nindex_size_kb: {:.2}\nnext_internal_id: 0x{:08x}\nmode: userkey\n\
         stats_index_io_errors: 0\nstats_index_io_error_last: 0\nstats_index_faults: 0\n\
         stats_data_io_errors: 0\nstats_data_io_error_last: 0\nstats_data_faults: 0\n",
        String::from_utf8_lossy(&ns.name),
        ns.entries.len(),
        yes_no(settings.public),
        yes_no(settings.worm),
        yes_no(ns.locked),
        yes_no(settings.password.is_some()),
        ns.data_size,
        ns.data_size as f64 / (1024.0 * 1024.0),
        settings.maxsize,
        ns.index_size,
        ns.index_size as f64 / 1024.0,
        ns.next_seq,
    );
    if settings.maxsize > 0 {
        let available = settings.maxsize.saturating_sub(ns.data_size);
        text.push_str(&format!("space_available: {available}\n"));
    }
    let free_mb = REPORTED_FREE_SPACE as f64 / (1024.0 * 1024.0);
    text.push_str(&format!(
        "index_disk_freespace_bytes: {REPORTED_FREE_SPACE}\nindex_disk_freespace_mb: {free_mb:.2}\n\
         data_disk_freespace_bytes: {REPORTED_FREE_SPACE}\ndata_disk_freespace_mb: {free_mb:.2}\n"
    ));
    Reply::Bulk(Bytes::from(text))
}
