//! Counters that let tests check how a client used the server.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the double's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted since start (or the last reset).
    pub connections_accepted: u64,
    /// Connections open when the snapshot was taken.
    pub open_connections: u64,
    /// Highest number of connections open at the same time.
    pub max_open_connections: u64,
    /// Requests that arrived on a connection before the previous request on the same connection
    /// was answered, i.e. the client pipelined (had two or more requests in flight).
    pub pipelined_requests: u64,
    /// Requests received, by upper-cased command name (unknown names included).
    pub commands: BTreeMap<String, u64>,
}

impl Stats {
    /// How many times `command` (upper case) was received.
    pub fn count(&self, command: &str) -> u64 {
        self.commands.get(command).copied().unwrap_or(0)
    }
}

/// Live counters, updated by the connection tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    max_open: AtomicU64,
    pipelined: AtomicU64,
    commands: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub fn connection_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_open.fetch_max(open, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn pipelined(&self) {
        self.pipelined.fetch_add(1, Ordering::Relaxed);
    }

    pub fn command(&self, name: &[u8]) {
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let mut commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *commands.entry(name).or_default() += 1;
    }

    pub fn snapshot(&self) -> Stats {
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Stats {
            connections_accepted: self.accepted.load(Ordering::Relaxed),
            open_connections: self.open.load(Ordering::Relaxed),
            max_open_connections: self.max_open.load(Ordering::Relaxed),
            pipelined_requests: self.pipelined.load(Ordering::Relaxed),
            commands,
        }
    }

    /// Zeroes everything but the open-connection gauge.
    pub fn reset(&self) {
        self.accepted.store(0, Ordering::Relaxed);
        self.max_open
            .store(self.open.load(Ordering::Relaxed), Ordering::Relaxed);
        self.pipelined.store(0, Ordering::Relaxed);
        self.commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}
