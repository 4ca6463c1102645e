//! Bounded in-process caches in front of PostgreSQL and the object store.
//!
//! * [`ByteLru`]: least-recently-used entries within a byte budget.
//! * [`FlistCache`]: whole flist files by content hash. Content-addressed, so an entry can never
//!   be stale; concurrent misses for the same file share one fetch (thousands of nodes download
//!   the same flist at once after a release).
//! * [`VersionedCache`]: serialised listings, served while the version the caller read from the
//!   database (a repository's `updated_at`) is unchanged and the entry is younger than a TTL.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hub_store::{ObjectId, ObjectStore, StoreError};
use lru::LruCache;
use tokio::sync::OnceCell;

use super::body::JsonBody;

/// An LRU map whose values have a byte size; the total stays within `budget`.
pub struct ByteLru<K: Hash + Eq, V> {
    entries: LruCache<K, (V, usize)>,
    bytes: usize,
    budget: usize,
}

impl<K: Hash + Eq, V> ByteLru<K, V> {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
            budget,
        }
    }

    /// The value of `key`, now the most recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    /// Insert `value` of `size` bytes, evicting the least recently used entries to make room.
    /// A value larger than an eighth of the budget is not kept: one huge file must not flush
    /// everything else.
    pub fn put(&mut self, key: K, value: V, size: usize) {
        if size > self.budget / 8 {
            return;
        }
        if let Some((_, old)) = self.entries.put(key, (value, size)) {
            self.bytes -= old;
        }
        self.bytes += size;
        while self.bytes > self.budget {
            match self.entries.pop_lru() {
                Some((_, (_, evicted))) => self.bytes -= evicted,
                None => break,
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A poisoned cache lock only means another request panicked mid-update of plain data; the
/// cache stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Concurrent calls for the same key share one execution: the first caller runs it, the
/// others wait for its result. A failure is returned to the caller that ran it; waiters then
/// run their own attempt.
pub struct SingleFlight<K, V> {
    inflight: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    /// The result of `run` for `key`, shared with every concurrent caller for the same key.
    pub async fn run<F, Fut, E>(&self, key: &K, run: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = lock(&self.inflight).entry(key.clone()).or_default().clone();
        let result = cell.get_or_try_init(run).await.cloned();
        // Whoever finishes first retires the cell, so that later calls run afresh.
        let mut inflight = lock(&self.inflight);
        if inflight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            inflight.remove(key);
        }
        result
    }
}

/// Why a flist file could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The database names an object the store does not have.
    #[error("object {0} is missing from the store")]
    Missing(ObjectId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whole flist files by content hash, in front of [`ObjectStore::get`].
pub struct FlistCache {
    files: Mutex<ByteLru<ObjectId, Bytes>>,
    fetches: SingleFlight<ObjectId, Bytes>,
}

impl FlistCache {
    /// A cache of at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            files: Mutex::new(ByteLru::new(budget)),
            fetches: SingleFlight::default(),
        }
    }

    /// The bytes of object `id`, from memory or fetched once from `objects`.
    pub async fn get(&self, objects: &ObjectStore, id: ObjectId) -> Result<Bytes, FetchError> {
        if let Some(bytes) = lock(&self.files).get(&id) {
            return Ok(bytes.clone());
        }
        self.fetches
            .run(&id, || async {
                let bytes = fetch(objects, id).await?.ok_or(FetchError::Missing(id))?;
                lock(&self.files).put(id, bytes.clone(), bytes.len());
                Ok(bytes)
            })
            .await
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> usize {
        lock(&self.files).bytes()
    }
}

/// `ObjectStore::get` driven on a blocking thread: its future is not provably `Send`
/// (rust-lang/rust#110338, as hub-jobs notes for `put`), and handlers' futures must be.
async fn fetch(objects: &ObjectStore, id: ObjectId) -> Result<Option<Bytes>, StoreError> {
    let objects = objects.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(objects.get(&id)))
        .await
        .map_err(StoreError::from)?
}

/// Serialised bodies valid while their source's version is unchanged, for at most a TTL.
pub struct VersionedCache<V> {
    entries: Mutex<ByteLru<String, (V, Instant, JsonBody)>>,
    ttl: Duration,
    /// Bodies being built, per key and version: when an entry expires or its source changes,
    /// the burst of requests that follows costs one build, not one each.
    builds: SingleFlight<(String, V), JsonBody>,
}

impl<V: Clone + Hash + Eq> VersionedCache<V> {
    /// A cache of at most `budget` bytes whose entries live at most `ttl`.
    pub fn new(budget: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(ByteLru::new(budget)),
            ttl,
            builds: SingleFlight::default(),
        }
    }

    /// The body of `key` at `version`: cached, else built by `build` (once for all concurrent
    /// callers asking for the same key and version) and cached.
    pub async fn get_or_build<F, Fut, E>(
        &self,
        key: &str,
        version: V,
        build: F,
    ) -> Result<JsonBody, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<JsonBody, E>>,
    {
        if let Some(body) = self.get(key, &version) {
            return Ok(body);
        }
        let flight = (key.to_owned(), version);
        self.builds
            .run(&flight, || async {
                let body = build().await?;
                self.put(key, flight.1.clone(), body.clone());
                Ok(body)
            })
            .await
    }

    /// The body cached for `key` at `version`, unless it expired.
    fn get(&self, key: &str, version: &V) -> Option<JsonBody> {
        let mut entries = lock(&self.entries);
        let (cached_version, at, body) = entries.get(&key.to_owned())?;
        (cached_version == version && at.elapsed() < self.ttl).then(|| body.clone())
    }

    /// Remember `body` for `key` at `version`.
    fn put(&self, key: &str, version: V, body: JsonBody) {
        let size = body.memory() + key.len();
        lock(&self.entries).put(key.to_owned(), (version, Instant::now(), body), size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_lru_evicts_least_recently_used_within_budget() {
        let mut lru = ByteLru::new(800);
        lru.put(1, "a", 100);
        lru.put(2, "b", 100);
        assert_eq!(lru.get(&1), Some(&"a"));
        for key in 3..=8 {
            lru.put(key, "x", 100);
        }
        // 8 × 100 = budget; one more evicts the least recently used, which is 2 (1 was read).
        lru.put(9, "y", 100);
        assert_eq!(lru.bytes(), 800);
        assert_eq!(lru.get(&2), None);
        assert_eq!(lru.get(&1), Some(&"a"));
        // Replacing a key accounts for the old size.
        lru.put(1, "c", 50);
        assert_eq!(lru.bytes(), 750);
        // Too large for the cache: not kept.
        lru.put(10, "huge", 101);
        assert_eq!(lru.get(&10), None);
        assert_eq!(lru.len(), 8);
    }

    #[tokio::test]
    async fn single_flight_shares_one_run() {
        let flight = SingleFlight::<&str, u32>::default();
        let runs = std::sync::atomic::AtomicU32::new(0);
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let call = || async {
            let mut gate = gate_rx.clone();
            flight
                .run(&"k", || async {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    // Hold the run open until every caller joined.
                    let _ = gate.wait_for(|open| *open).await;
                    Ok::<_, ()>(7)
                })
                .await
        };
        let waiters = futures::future::join_all((0..10).map(|_| call()));
        let opener = async {
            tokio::task::yield_now().await;
            let _ = gate_tx.send(true);
        };
        let (results, ()) = tokio::join!(waiters, opener);
        assert!(results.iter().all(|r| *r == Ok(7)));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Finished runs are retired: the next call runs again.
        assert_eq!(flight.run(&"k", || async { Ok::<_, ()>(8) }).await, Ok(8));
    }

    #[tokio::test]
    async fn versioned_cache_builds_once_per_key_and_version() {
        let cache = Arc::new(VersionedCache::new(1 << 20, Duration::from_secs(60)));
        let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (cache, builds) = (Arc::clone(&cache), Arc::clone(&builds));
            tasks.push(tokio::spawn(async move {
                let version = i % 2; // two versions: two builds
                cache
                    .get_or_build("repo", version, || async move {
                        builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let body = format!("[{version}]");
                        Ok::<_, std::convert::Infallible>(JsonBody::plain(Bytes::from(body)))
                    })
                    .await
                    .map(|body| (version, body))
            }));
        }
        for task in tasks {
            let (version, body) = task.await.expect("task").expect("build");
            assert_eq!(body.json().as_ref(), format!("[{version}]").as_bytes());
        }
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn versioned_cache_checks_version_and_age() {
        let json = |body: &JsonBody| body.json().clone();
        let cache = VersionedCache::new(1 << 20, Duration::from_secs(60));
        cache.put("repo", 1, JsonBody::plain(Bytes::from_static(b"[]\n")));
        assert_eq!(
            cache.get("repo", &1).map(|b| json(&b)).as_deref(),
            Some(&b"[]\n"[..])
        );
        assert!(cache.get("repo", &2).is_none());
        assert!(cache.get("other", &1).is_none());
        let expired = VersionedCache::new(1 << 20, Duration::ZERO);
        expired.put("repo", 1, JsonBody::plain(Bytes::from_static(b"[]\n")));
        assert!(expired.get("repo", &1).is_none());
    }
}
