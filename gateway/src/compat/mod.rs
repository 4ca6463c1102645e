//! What the original hub's routes share: name rules, JSON shapes, caches, the contents dump and
//! the URLs the hub prints.

pub mod body;
pub mod cache;
pub mod dump;
pub mod names;
pub mod shapes;
pub mod urls;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::GatewayConfig;
use cache::{FlistCache, SingleFlight, VersionedCache};

/// Memory for cached listings (per repository and global).
const LISTING_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Memory for cached contents dumps.
const DUMP_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Timeout of the login service's user lookup (ThreeFold Connect).
const LOGIN_SERVICE_TIMEOUT: Duration = Duration::from_secs(10);

/// Version of the global listings: number of repositories and their latest change.
pub type GlobalVersion = (i64, Option<DateTime<Utc>>);

/// Per-process state of the compatibility routes: caches only (everything they hold can be
/// rebuilt from PostgreSQL and the store) and the HTTP client of the sign-in flow.
pub struct Compat {
    /// Whole flist files by content hash.
    pub flists: FlistCache,
    /// Contents dumps by content hash (immutable).
    pub dumps: VersionedCache<()>,
    /// Repository listings by repository name, versioned by the repository's `updated_at`.
    pub listings: VersionedCache<DateTime<Utc>>,
    /// `/api/flist` and `/api/fileslist`, versioned by [`GlobalVersion`].
    pub global: VersionedCache<GlobalVersion>,
    /// Repository versions being read: a burst of listing requests for one repository costs
    /// one query, not one each.
    pub repository_versions: SingleFlight<String, Option<DateTime<Utc>>>,
    /// The global version being read.
    pub global_versions: SingleFlight<(), GlobalVersion>,
    /// Signs the website's session cookie.
    pub session_key: crate::session_key::SessionKey,
    /// Client for the login service (user public keys).
    pub http: reqwest::Client,
}

impl Compat {
    /// Caches sized from `config`, the session key from its secrets.
    pub fn new(config: &GatewayConfig) -> Self {
        let settings = &config.gateway;
        let flist_budget = usize::try_from(settings.flist_cache_bytes).unwrap_or(usize::MAX);
        Self {
            flists: FlistCache::new(flist_budget),
            dumps: VersionedCache::new(DUMP_CACHE_BYTES, Duration::MAX),
            listings: VersionedCache::new(LISTING_CACHE_BYTES, settings.listing_cache_ttl),
            global: VersionedCache::new(LISTING_CACHE_BYTES, settings.listing_cache_ttl),
            repository_versions: SingleFlight::default(),
            global_versions: SingleFlight::default(),
            session_key: crate::session_key::SessionKey::from_config(config),
            http: reqwest::Client::builder()
                .timeout(LOGIN_SERVICE_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }
}
