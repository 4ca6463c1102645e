//! Configuration of the gateway (`hub.toml` + `HUB_*` variables, see `hub-config`).

use std::net::SocketAddr;
use std::time::Duration;

use hub_auth::AuthConfig;
use hub_config::{CommonConfig, ConfigError, PublishConfig, Validate};
use hub_jobs::JobsConfig;
use serde::{Deserialize, Serialize};

use crate::forwarded::{InvalidProxy, TrustedProxies};

/// Everything the gateway reads at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Connections and logging shared with the workers.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Base URL of the public website (`public-website` of the original): every `Source:` URL
    /// and link the hub prints starts with it.
    pub public_url: String,
    /// Repositories flagged `official` (hub-api §6.2).
    pub official_repositories: Vec<String>,
    /// Listener and request handling.
    pub gateway: GatewaySettings,
    /// How flists refer to the chunk store.
    pub publish: PublishConfig,
    /// Authentication (hub-api §4).
    pub auth: AuthConfig,
    /// Queue and job settings.
    pub jobs: JobsConfig,
    /// Per-user limits and quotas.
    pub limits: LimitsConfig,
    /// Garbage collection of the chunk store (`hub-gateway gc`).
    pub gc: crate::gc::GcConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            common: CommonConfig::default(),
            public_url: "http://127.0.0.1:8080".into(),
            official_repositories: Vec::new(),
            gateway: GatewaySettings::default(),
            publish: PublishConfig::default(),
            auth: AuthConfig::default(),
            jobs: JobsConfig::default(),
            limits: LimitsConfig::default(),
            gc: crate::gc::GcConfig::default(),
        }
    }
}

/// The `[gateway]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewaySettings {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// gRPC listen address.
    pub grpc_listen: SocketAddr,
    /// How long the original hub's synchronous routes wait for their job before answering
    /// `504` (the job keeps running and stays pollable).
    #[serde(with = "humantime_serde")]
    pub sync_timeout: Duration,
    /// Maximum `?wait=` of a long-poll on a job.
    #[serde(with = "humantime_serde")]
    pub max_long_poll: Duration,
    /// Key sealing per-job registry credentials on the queue (64 hex characters = 32 bytes).
    /// Must be the same on the gateway and worker-docker.
    pub credentials_key: Option<String>,
    /// Honour `X-Forwarded-*` headers from loopback peers (a proxy on the same host). Kept for
    /// existing configurations: [`GatewaySettings::trusted_proxies`] says which peers are
    /// proxies, and a non-empty list replaces this switch. Off by default: a gateway reached
    /// directly must not print a host a client made up.
    pub trust_forwarded: bool,
    /// Addresses (`10.0.0.7`) and networks (`10.0.0.0/8`, `fd00::/8`) of the reverse proxies in
    /// front of the gateway. Only from these peers are `X-Forwarded-Host`, `-Proto`, `-Prefix`
    /// and `-For` honoured, and their connections are not counted per address (a proxy carries
    /// many clients).
    pub trusted_proxies: Vec<String>,
    /// How long a client may take to send a request's headers (also how long an idle
    /// keep-alive connection stays open); `0s` disables it.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long reading a request body may wait without receiving a byte before the request
    /// fails with `408`; a body that keeps arriving may take as long as it needs. `0s` disables
    /// it.
    #[serde(with = "humantime_serde")]
    pub body_idle_timeout: Duration,
    /// Connections one client address (an IPv6 /64) may hold open at once; more are answered
    /// `429` and closed. `0` = unlimited. Trusted proxies are not limited.
    pub max_connections_per_address: u32,
    /// Key signing the website's session cookie (hex or Base64, at least 32 bytes). Persistent so
    /// that a restart does not log everyone out (hub-api D25); when absent it is derived from
    /// `auth.threebot_seed` or `auth.hub_jwt.secret`, and only as a last resort made up at start.
    pub session_secret: Option<String>,
    /// Memory for whole flist files kept in front of the object store (downloads, `.md5`).
    pub flist_cache_bytes: u64,
    /// How long a cached repository listing may be served while its repository is unchanged;
    /// bounds how late a change of a crosslinked target shows up.
    #[serde(with = "humantime_serde")]
    pub listing_cache_ttl: Duration,
    /// How long an active job's row may be served from memory to pollers of `GET
    /// /api/jobs/{id}`; any event of the job received meanwhile retires it at once, so this
    /// only bounds the delay when an event is lost. `0s` reads every poll from PostgreSQL.
    #[serde(with = "humantime_serde")]
    pub active_job_cache_ttl: Duration,
    /// Debug mode (`debug` of the original): every web page shows a staging banner, so a test
    /// instance is never mistaken for the production hub.
    pub debug: bool,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            sync_timeout: Duration::from_secs(3600),
            max_long_poll: Duration::from_secs(60),
            credentials_key: None,
            trust_forwarded: false,
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            max_connections_per_address: 64,
            session_secret: None,
            flist_cache_bytes: 256 * 1024 * 1024,
            listing_cache_ttl: Duration::from_secs(2),
            active_job_cache_ttl: Duration::from_millis(250),
            debug: false,
        }
    }
}

impl GatewaySettings {
    /// The peers whose `X-Forwarded-*` headers are believed (`trusted_proxies`, or the loopback
    /// addresses under the former `trust_forwarded = true`).
    pub fn proxies(&self) -> Result<TrustedProxies, InvalidProxy> {
        TrustedProxies::new(&self.trusted_proxies, self.trust_forwarded)
    }

    /// Whether any peer's `X-Forwarded-*` headers may be honoured (which peers: see
    /// [`TrustedProxies`]).
    pub fn honours_forwarded(&self) -> bool {
        self.trust_forwarded || !self.trusted_proxies.is_empty()
    }
}

/// The `[limits]` table: protection against abuse, kept in Redis so every replica shares it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Authenticated API requests per user per minute (`429` with `Retry-After` beyond).
    pub requests_per_minute: u32,
    /// Failed authentications (wrong, forged, expired or revoked credentials) per client
    /// address per minute; beyond, every request from the address is answered `429` with
    /// `Retry-After` until the minute is over. 0 = unlimited. See [`crate::auth_limit`].
    pub auth_failures_per_minute: u32,
    /// Jobs one user may have queued or running at once (`429`).
    pub concurrent_jobs: u32,
    /// Largest accepted upload in bytes (`413`).
    pub upload_max_bytes: u64,
    /// Most entries one repository may hold (`403` with code `quota_exceeded`); 0 = unlimited.
    pub repository_max_entries: u64,
    /// Lifetime of the concurrent-job slot of a queued job whose end no gateway saw; slots of
    /// finished jobs are freed by their final event or reclaimed when a user reaches the limit.
    #[serde(with = "humantime_serde")]
    pub job_slot_ttl: Duration,
    /// Lease of a concurrent-job slot while its request stages the input (no job recorded
    /// yet), renewed every third of it: a gateway that dies mid-upload frees the slot after at
    /// most this long.
    #[serde(with = "humantime_serde")]
    pub job_slot_lease: Duration,
    /// Jobs that may wait for a worker, all users together; a new job beyond is refused with
    /// `503`, code `hub_busy`, before its upload is read. Bounds the queue and the staged
    /// uploads when the workers fall behind. 0 = unlimited.
    pub max_queued_jobs: u64,
    /// Bytes the staging bucket may hold (uploads waiting for their job, and partial ones); a
    /// new upload beyond is refused with `503`, code `hub_busy`, before it is read. 0 =
    /// unlimited.
    pub max_staged_bytes: u64,
    /// `Retry-After` of that refusal.
    #[serde(with = "humantime_serde")]
    pub busy_retry_after: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            auth_failures_per_minute: 30,
            concurrent_jobs: 8,
            upload_max_bytes: 10 * 1024 * 1024 * 1024,
            repository_max_entries: 10_000,
            job_slot_ttl: Duration::from_secs(24 * 3600),
            job_slot_lease: Duration::from_secs(30),
            max_queued_jobs: 1000,
            max_staged_bytes: 0,
            busy_retry_after: Duration::from_secs(30),
        }
    }
}

impl Validate for GatewayConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.publish.validate()?;
        self.auth
            .validate()
            .map_err(|e| ConfigError::invalid("auth", e.to_string()))?;
        self.jobs
            .validate()
            .map_err(|e| ConfigError::invalid("jobs", e.to_string()))?;
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "public_url",
                format!("`{}` must be an http(s) URL", self.public_url),
            ));
        }
        self.gateway
            .proxies()
            .map_err(|e| ConfigError::invalid("gateway.trusted_proxies", e.to_string()))?;
        // The staging sweep takes an upload idle this long for abandoned: a live one must never
        // pause that long.
        let idle = self.gateway.body_idle_timeout;
        if !idle.is_zero() && idle >= self.jobs.staging_orphan_after {
            return Err(ConfigError::invalid(
                "jobs.staging_orphan_after",
                "must exceed gateway.body_idle_timeout (a live upload pauses up to that long)",
            ));
        }
        if let Some(key) = &self.gateway.credentials_key
            && (key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::invalid(
                "gateway.credentials_key",
                "must be 64 hexadecimal characters (32 bytes)",
            ));
        }
        Ok(())
    }
}

impl LimitsConfig {
    /// The per-repository entry quota.
    pub fn entry_quota(&self) -> hub_db::EntryQuota {
        hub_db::EntryQuota::at_most(self.repository_max_entries)
    }
}

impl GatewayConfig {
    /// `public_url` without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hub_config::Validate;

    use super::GatewayConfig;

    fn orphan_error(config: &GatewayConfig) -> bool {
        config
            .validate()
            .is_err_and(|error| error.to_string().contains("staging_orphan_after"))
    }

    #[test]
    fn a_live_upload_may_pause_less_than_the_staging_grace_period() {
        let mut config = GatewayConfig::default();
        assert!(!orphan_error(&config), "the defaults agree");
        config.jobs.staging_orphan_after = config.gateway.body_idle_timeout;
        assert!(orphan_error(&config));
        config.gateway.body_idle_timeout = Duration::ZERO;
        assert!(
            !orphan_error(&config),
            "no idle timeout: the operator's choice"
        );
    }
}
