//! Command semantics of 0-db v2.0.7 in user mode, with its exact error sentences.
//!
//! This module holds the connection state and dispatch, `AUTH` and `SELECT`; data commands
//! live in `data`, namespace administration in `admin`.

mod admin;
mod data;

use std::sync::Mutex;

use bytes::Bytes;

use crate::faults::Faults;
use crate::namespace::{Catalog, DEFAULT_NAMESPACE, Namespace};
use crate::resp::Reply;

/// Longest `SELECT` password.
const MAX_SELECT_PASSWORD: usize = 255;
/// Longest `AUTH` password.
const MAX_AUTH_PASSWORD: usize = 128;

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
            b"NSINFO" => admin::nsinfo(&catalog, args),
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
