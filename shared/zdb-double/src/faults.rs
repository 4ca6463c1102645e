//! Fault injection: lets tests simulate a flaky or failing 0-db.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Switches that change how the double answers. Shared by all connections; changes apply to
/// the next request.
#[derive(Debug)]
pub struct Faults {
    reply_delay_micros: AtomicU64,
    drop_requests: AtomicU64,
    failing_writes: AtomicU64,
    /// Bumped to make every open connection close.
    kill_epoch: watch::Sender<u64>,
}

impl Faults {
    pub(crate) fn new() -> Self {
        Self {
            reply_delay_micros: AtomicU64::new(0),
            drop_requests: AtomicU64::new(0),
            failing_writes: AtomicU64::new(0),
            kill_epoch: watch::Sender::new(0),
        }
    }

    /// Waits `delay` before sending each reply (0 turns it off).
    pub fn set_reply_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.reply_delay_micros.store(micros, Ordering::Relaxed);
    }

    /// Closes the connection instead of answering the next `count` requests (any command).
    pub fn drop_next_requests(&self, count: u64) {
        self.drop_requests.store(count, Ordering::Relaxed);
    }

    /// Answers the next `count` writes that would store data with
    /// `-Cannot write data right now` (`u64::MAX`: until changed).
    pub fn fail_next_writes(&self, count: u64) {
        self.failing_writes.store(count, Ordering::Relaxed);
    }

    /// Closes every connection open right now; the listener keeps accepting new ones.
    pub fn drop_connections(&self) {
        self.kill_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.set_reply_delay(Duration::ZERO);
        self.drop_next_requests(0);
        self.fail_next_writes(0);
    }

    pub(crate) fn reply_delay(&self) -> Duration {
        Duration::from_micros(self.reply_delay_micros.load(Ordering::Relaxed))
    }

    /// Consumes one "drop this request" token, if any.
    pub(crate) fn take_drop(&self) -> bool {
        take_token(&self.drop_requests)
    }

    /// Consumes one "fail this write" token, if any.
    pub(crate) fn take_write_failure(&self) -> bool {
        take_token(&self.failing_writes)
    }

    pub(crate) fn kill_signal(&self) -> watch::Receiver<u64> {
        self.kill_epoch.subscribe()
    }
}

/// Decrements a counter unless it is 0; `u64::MAX` means "forever" and is never decremented.
fn take_token(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| match n {
            0 => None,
            u64::MAX => Some(u64::MAX),
            n => Some(n - 1),
        })
        .is_ok()
}
