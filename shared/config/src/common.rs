//! Settings every hub service shares.

use hub_model::Format;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Validate};

/// Connection settings and logging shared by the gateway and the workers.
///
/// Embed it in a binary's configuration with `#[serde(flatten)]`, so the keys stay top-level
/// (`database_url`, `HUB_DATABASE_URL`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    /// PostgreSQL connection URL.
    pub database_url: String,
    /// Maximum PostgreSQL connections of this process.
    pub database_max_connections: u32,
    /// NATS server URL (JetStream must be enabled).
    pub nats_url: String,
    /// Prefix of every NATS stream, subject and bucket this hub uses, so several hubs (or test
    /// runs) can share one NATS server.
    pub nats_prefix: String,
    /// Redis URL (rate limits and counters).
    pub redis_url: String,
    /// Chunk store: `dir://PATH`, `zdb://[:password@]host:port[/namespace]`, or a router spec
    /// `00-7f=URL,80-ff=URL`.
    pub store: String,
    /// Logging.
    pub log: LogConfig,
    /// OTLP/gRPC endpoint for traces (e.g. `http://127.0.0.1:4317`); none disables export.
    pub otlp_endpoint: Option<String>,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/hub".into(),
            database_max_connections: 16,
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_prefix: "hub".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            store: "dir://.hub/store".into(),
            log: LogConfig::default(),
            otlp_endpoint: None,
        }
    }
}

impl Validate for CommonConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        require_scheme(
            "database_url",
            &self.database_url,
            &["postgres", "postgresql"],
        )?;
        require_scheme("nats_url", &self.nats_url, &["nats", "tls", "ws", "wss"])?;
        require_scheme("redis_url", &self.redis_url, &["redis", "rediss", "unix"])?;
        if self.store.trim().is_empty() {
            return Err(ConfigError::invalid("store", "must name a chunk store"));
        }
        if self.nats_prefix.is_empty()
            || !self
                .nats_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::invalid(
                "nats_prefix",
                "must be non-empty and contain only letters, digits, '_' and '-'",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::invalid(
                "database_max_connections",
                "must be at least 1",
            ));
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            require_scheme("otlp_endpoint", endpoint, &["http", "https"])?;
        }
        Ok(())
    }
}

/// Log output settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `pretty` for humans, `json` for log collectors.
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info,hub_gateway=debug`. `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when attached to a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

fn require_scheme(key: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let scheme = value.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some(scheme) if schemes.contains(&scheme) => Ok(()),
        _ => Err(ConfigError::invalid(
            key,
            format!("`{value}` must be a URL with scheme {}", schemes.join(", ")),
        )),
    }
}

/// How published flists refer to the chunk store, shared by the gateway (which reports it) and
/// the workers (which write it into flists). The `[publish]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishConfig {
    /// Format of new flists when a request does not choose: `flist` (the original hub's, what
    /// existing nodes mount with g8ufs) or `fl` (rfs v2). Any other value stops the process
    /// at start.
    pub default_format: Format,
    /// Public 0-db endpoint written as `backend` metadata into `.flist` files and shown as
    /// `Storage:` (hub-api §11.1 step 6, 8.3): the address nodes read chunks from.
    pub backend_host: String,
    /// Port of the public 0-db endpoint.
    pub backend_port: u16,
    /// Namespace of the public 0-db endpoint (publicly readable, no password).
    pub backend_namespace: String,
    /// Route rows written into `.fl` files (`[<start>-<end>=]<url>`, rfs syntax). Empty: the
    /// chunk store's own routes with passwords stripped.
    pub fl_routes: Vec<String>,
    /// The hub's public block URL (`http(s)://host[:port]/api/blocks`), written as the only
    /// route (ids 00-ff) of every `.fl` the workers publish, instead of `fl_routes` or the
    /// store's routes: readers then fetch blocks from the gateway's `GET /api/blocks/…`, as
    /// rfs resolves `http(s)://` routes. Unset: routes as above. rfs 2.0.x (zos nodes) cannot
    /// mount such a `.fl` (flist-formats B.6: no `http` store there), so leave it unset for
    /// nodes; it serves rfs releases that read HTTP routes, CDNs in front of the hub and
    /// `hubctl`.
    pub block_url: Option<String>,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            default_format: Format::Flist,
            backend_host: "127.0.0.1".into(),
            backend_port: 9900,
            backend_namespace: "default".into(),
            fl_routes: Vec::new(),
            block_url: None,
        }
    }
}

impl Validate for PublishConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.backend_host.is_empty() {
            return Err(ConfigError::invalid(
                "publish.backend_host",
                "must not be empty",
            ));
        }
        if self.backend_namespace.is_empty() {
            return Err(ConfigError::invalid(
                "publish.backend_namespace",
                "must not be empty",
            ));
        }
        if let Some(url) = &self.block_url {
            validate_block_url(url)?;
        }
        Ok(())
    }
}

/// `publish.block_url` must be an absolute `http(s)` URL with a host and nothing after the
/// path: readers append `/<hex[0:2]>/<hex>` to it, so a query, a fragment, a password (route
/// tables are published) or a separator inside a route spec (`,`, whitespace) would break it.
fn validate_block_url(url: &str) -> Result<(), ConfigError> {
    const KEY: &str = "publish.block_url";
    let bad = |why: &str| ConfigError::invalid(KEY, format!("`{url}` {why}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("must be an http:// or https:// URL"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad("must be an http:// or https:// URL"));
    }
    if url.contains(|c: char| c == ',' || c == '?' || c == '#' || c.is_whitespace()) {
        return Err(bad(
            "must not contain a query, a fragment, commas or spaces",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(
            "must not carry credentials (route tables are published)",
        ));
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
        .map_or(authority, |(host, _)| host);
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if url.ends_with('/') {
        return Err(bad("must not end with `/` (readers append `/<id>`)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(block_url: &str) -> Result<(), ConfigError> {
        PublishConfig {
            block_url: Some(block_url.to_owned()),
            ..PublishConfig::default()
        }
        .validate()
    }

    #[test]
    fn block_url_must_be_a_plain_http_url() {
        for good in [
            "http://127.0.0.1:8080/api/blocks",
            "https://hub.example/api/blocks",
            "https://[::1]:8443/api/blocks",
        ] {
            assert!(publish(good).is_ok(), "{good}");
        }
        for bad in [
            "hub.example/api/blocks",
            "zdb://hub.example:9900",
            "ftp://hub.example/blocks",
            "https://user:secret@hub.example/api/blocks",
            "https://hub.example/api/blocks?x=1",
            "https://hub.example/api/blocks#x",
            "https://hub.example/a,b",
            "https://hub.example/api/blocks/",
            "https:///api/blocks",
            "https://:8080/api/blocks",
        ] {
            let err = publish(bad);
            assert!(
                matches!(&err, Err(ConfigError::Invalid { key, .. }) if key == "publish.block_url"),
                "{bad}: {err:?}"
            );
        }
        assert!(PublishConfig::default().validate().is_ok());
    }
}
