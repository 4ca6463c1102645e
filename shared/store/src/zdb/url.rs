//! `zdb://[user[:password]@]host[:port][/namespace][?pool=N]` URLs.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use url::{Host, Url};

use crate::StoreError;
use crate::error::invalid;

/// Port 0-db listens on by default.
pub(crate) const DEFAULT_PORT: u16 = 9900;
/// Namespace every 0-db connection starts in.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";
/// Longest namespace name 0-db accepts.
const MAX_NAMESPACE: usize = 128;
/// Longest password `SELECT` accepts.
const MAX_PASSWORD: usize = 255;

/// Characters escaped when user names and namespaces are written back into a URL.
const URL_COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A parsed 0-db URL. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ZdbUrl {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    namespace: Option<String>,
    pool_size: Option<usize>,
}

impl ZdbUrl {
    /// Parses a `zdb://` URL. The user name is kept for display but never sent (0-db has no
    /// users); the password is sent with `SELECT`.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let url = Url::parse(text).map_err(|error| invalid(text, &error.to_string()))?;
        if url.scheme() != "zdb" {
            return Err(invalid(text, "expected a zdb:// URL"));
        }
        let host = match url.host() {
            Some(Host::Domain("")) | None => {
                return Err(invalid(
                    text,
                    "no host given (unix sockets, zdb:///path, are not supported)",
                ));
            }
            Some(Host::Domain(domain)) => domain.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
        };
        if url.fragment().is_some() {
            return Err(invalid(text, "zdb URLs take no fragment"));
        }
        let user = Some(decode(text, url.username())?).filter(|user| !user.is_empty());
        let password = url
            .password()
            .map(|password| decode(text, password))
            .transpose()?;
        if password.as_ref().is_some_and(|pw| pw.len() > MAX_PASSWORD) {
            return Err(invalid(text, "0-db passwords are at most 255 bytes"));
        }
        let namespace = match url.path() {
            "" => None,
            path => Some(parse_namespace(text, path)?),
        };
        let mut pool_size = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "pool" => {
                    let size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|size| *size > 0)
                        .ok_or_else(|| invalid(text, "pool must be a positive integer"))?;
                    pool_size = Some(size);
                }
                other => {
                    return Err(invalid(
                        text,
                        &format!("unknown option {other:?} (supported: pool)"),
                    ));
                }
            }
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            user,
            password,
            namespace,
            pool_size,
        })
    }

    /// Host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// TCP port (9900 unless given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Namespace to select (`default` unless given).
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// Namespace password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The `?pool=N` option, if given.
    pub fn pool_size(&self) -> Option<usize> {
        self.pool_size
    }

    /// The URL for route tables and logs: no password and no client-side options, explicit port.
    pub fn public_url(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ZdbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("zdb://")?;
        if let Some(user) = &self.user {
            write!(f, "{}@", utf8_percent_encode(user, URL_COMPONENT))?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, "/{}", utf8_percent_encode(namespace, URL_COMPONENT))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ZdbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZdbUrl")
            .field("url", &self.to_string())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

fn parse_namespace(text: &str, path: &str) -> Result<String, StoreError> {
    let raw = path.strip_prefix('/').unwrap_or(path);
    if raw.is_empty() {
        // 0-db would be asked for a namespace with an empty name, which cannot exist.
        return Err(invalid(
            text,
            "empty namespace: write no path or /<namespace>",
        ));
    }
    if raw.contains('/') {
        return Err(invalid(text, "a namespace name cannot contain '/'"));
    }
    let namespace = decode(text, raw)?;
    if namespace.len() > MAX_NAMESPACE {
        return Err(invalid(text, "0-db namespace names are at most 128 bytes"));
    }
    Ok(namespace)
}

fn decode(text: &str, component: &str) -> Result<String, StoreError> {
    percent_decode_str(component)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| invalid(text, "URL components must be UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ZdbUrl {
        ZdbUrl::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn all_forms() {
        let url = parse("zdb://hub.grid.tf");
        assert_eq!(url.host(), "hub.grid.tf");
        assert_eq!(url.port(), 9900);
        assert_eq!(url.namespace(), "default");
        assert_eq!(url.password(), None);
        assert_eq!(url.public_url(), "zdb://hub.grid.tf:9900");

        let url = parse("zdb://10.0.0.1:9901/blocks");
        assert_eq!(
            (url.host(), url.port(), url.namespace()),
            ("10.0.0.1", 9901, "blocks")
        );
        assert_eq!(url.public_url(), "zdb://10.0.0.1:9901/blocks");

        let url = parse("zdb://writer:s%40cr%2Ft@[::1]:9900/ns?pool=4");
        assert_eq!(url.host(), "::1");
        assert_eq!(url.password(), Some("s@cr/t"));
        assert_eq!(url.pool_size(), Some(4));
        assert_eq!(url.public_url(), "zdb://writer@[::1]:9900/ns");

        // Password without a user name.
        let url = parse("zdb://:pw@host/ns");
        assert_eq!(url.password(), Some("pw"));
        assert_eq!(url.public_url(), "zdb://host:9900/ns");

        // Percent-encoded namespace round-trips.
        let url = parse("zdb://host/my%20ns");
        assert_eq!(url.namespace(), "my ns");
        assert_eq!(url.public_url(), "zdb://host:9900/my%20ns");
    }

    #[test]
    fn password_is_stripped_everywhere() {
        let url = parse("zdb://user:hunter2@host:1234/ns");
        assert!(!url.public_url().contains("hunter2"));
        assert!(!format!("{url}").contains("hunter2"));
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn bad_urls() {
        for text in [
            "zdb://host/",
            "zdb://host/a/b",
            "zdb:///var/run/zdb.sock",
            "zdb://host:99999/ns",
            "zdb://host/ns?pool=0",
            "zdb://host/ns?pool=x",
            "zdb://host/ns?timeout=1",
            "zdb://host/ns#frag",
            "redis://host/ns",
            "zdb://host/%ff",
        ] {
            assert!(
                matches!(ZdbUrl::parse(text), Err(StoreError::InvalidUrl { .. })),
                "{text} should be rejected"
            );
        }
        let long = format!("zdb://host/{}", "n".repeat(129));
        assert!(ZdbUrl::parse(&long).is_err());
    }
}
