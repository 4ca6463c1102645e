//! The base URL of links the hub prints (`Source:` lines, the token page's example).

use http::HeaderMap;

use crate::config::GatewayConfig;

/// `public_url`, or the address the client used when a trusted proxy says so with
/// `X-Forwarded-Host` (and `-Proto`, `-Prefix`). Without a trusted forwarded host the configured
/// URL wins, so a direct request cannot make the hub print someone else's host: the headers of
/// peers that are not trusted proxies are removed before routing ([`crate::forwarded::screen`]).
pub fn public_base(config: &GatewayConfig, headers: &HeaderMap) -> String {
    if config.gateway.honours_forwarded()
        && let Some(host) = first_value(headers, "x-forwarded-host").filter(|h| is_host(h))
    {
        let proto = match first_value(headers, "x-forwarded-proto") {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let prefix = first_value(headers, "x-forwarded-prefix")
            .filter(|prefix| is_path(prefix))
            .map(|prefix| prefix.trim_end_matches('/'))
            .unwrap_or_default();
        let slash = if prefix.is_empty() || prefix.starts_with('/') {
            ""
        } else {
            "/"
        };
        return format!("{proto}://{host}{slash}{prefix}");
    }
    config.public_base().to_owned()
}

/// The first element of a possibly comma-separated header (proxies append to the list).
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// Host names and `host:port` only: what is printed must not smuggle markup or a path.
fn is_host(host: &str) -> bool {
    host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn is_path(prefix: &str) -> bool {
    prefix.len() <= 255
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    fn config(trust: bool) -> GatewayConfig {
        let mut config = GatewayConfig {
            public_url: "https://hub.grid.tf/".into(),
            ..GatewayConfig::default()
        };
        config.gateway.trust_forwarded = trust;
        config
    }

    #[test]
    fn configured_url_without_proxy_headers() {
        assert_eq!(
            public_base(&config(true), &HeaderMap::new()),
            "https://hub.grid.tf"
        );
    }

    #[test]
    fn forwarded_headers_when_trusted() {
        let h = headers(&[
            ("x-forwarded-host", "mirror.example:8443, proxy2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-prefix", "/hub/"),
        ]);
        assert_eq!(
            public_base(&config(true), &h),
            "https://mirror.example:8443/hub"
        );
        assert_eq!(public_base(&config(false), &h), "https://hub.grid.tf");
    }

    #[test]
    fn hostile_forwarded_values_are_ignored() {
        let h = headers(&[("x-forwarded-host", "evil\"><script>")]);
        assert_eq!(public_base(&config(true), &h), "https://hub.grid.tf");
        let h = headers(&[
            ("x-forwarded-host", "m.example"),
            ("x-forwarded-prefix", "x y"),
        ]);
        assert_eq!(public_base(&config(true), &h), "http://m.example");
    }
}
