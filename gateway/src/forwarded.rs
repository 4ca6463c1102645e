//! Which peers are reverse proxies, and the client address behind them.
//!
//! `X-Forwarded-*` headers say something only when a proxy of ours wrote them: from anyone else
//! they are whatever the client made up. [`screen`] therefore removes them from every request
//! whose peer is not a trusted proxy, before any handler sees it, and records the
//! [`ClientAddr`] of the request: code reading the forwarded headers (the printed `Source:`
//! URLs) or the client address (throttling) needs no check of its own.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use http::request::Parts;

/// Headers only a trusted proxy may set.
const FORWARDED_HEADERS: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-prefix",
    "forwarded",
];

/// A `gateway.trusted_proxies` entry that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an IP address or network (`10.0.0.7`, `10.0.0.0/8`, `fd00::/8`)")]
pub struct InvalidProxy(String);

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Self, InvalidProxy> {
        let invalid = || InvalidProxy(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let bits = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None => bits,
        };
        if prefix > bits {
            return Err(invalid());
        }
        Ok(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The peers whose `X-Forwarded-*` headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<Network>,
}

impl TrustedProxies {
    /// From the entries of `gateway.trusted_proxies` (addresses and networks); when there are
    /// none, `trust_loopback` (the former `trust_forwarded = true`) means a proxy on this
    /// host: the loopback addresses.
    pub fn new(entries: &[String], trust_loopback: bool) -> Result<Self, InvalidProxy> {
        let mut networks = entries
            .iter()
            .map(|entry| Network::parse(entry))
            .collect::<Result<Vec<_>, _>>()?;
        if networks.is_empty() && trust_loopback {
            networks = vec![Network::parse("127.0.0.0/8")?, Network::parse("::1")?];
        }
        Ok(Self { networks })
    }

    /// Whether no peer is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }
}

/// The address of the client of a request that reached us from `peer`: `peer` itself, unless
/// `peer` is a trusted proxy; then the right-most `X-Forwarded-For` hop that is not a trusted
/// proxy (hops to its left were written by the client and prove nothing). When every hop is a
/// proxy the left-most one is the client; an unreadable hop ends the walk at the last trusted
/// address seen.
pub fn client_addr(trusted: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    // Several `X-Forwarded-For` lines form one list, in order.
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !trusted.contains(ip) {
            return ip;
        }
    }
    client
}

/// One `X-Forwarded-For` element: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

/// The client's address, as [`client_addr`] found it. Set by [`screen`] on every request that
/// came through [`crate::server::serve`] (which knows the peer); `Option<ClientAddr>` for code
/// that may also run without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientAddr>()
            .copied()
            .ok_or_else(|| {
                crate::error::ApiError::internal("no client address (not served by server::serve)")
            })
    }
}

/// Middleware: drop the forwarded headers of requests not sent by a trusted proxy (or of
/// unknown origin) and record the request's [`ClientAddr`].
pub async fn screen(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = client_addr(&trusted, peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    if !peer.is_some_and(|peer| trusted.contains(peer)) {
        let headers = request.headers_mut();
        for name in FORWARDED_HEADERS {
            headers.remove(name);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        TrustedProxies::new(&entries, false).expect("valid proxies")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn forwarded_for(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", http::HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn networks_match_their_addresses_only() {
        let proxies = trusted(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        assert!(proxies.contains(ip("10.200.3.4")));
        assert!(!proxies.contains(ip("11.0.0.1")));
        assert!(proxies.contains(ip("192.168.1.7")));
        assert!(!proxies.contains(ip("192.168.1.8")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        // An IPv4 peer seen on an IPv6 socket.
        assert!(proxies.contains(ip("::ffff:10.1.1.1")));
        assert!(trusted(&["0.0.0.0/0"]).contains(ip("8.8.8.8")));
    }

    #[test]
    fn invalid_entries_are_refused() {
        for entry in ["10.0.0.0/33", "proxy.example", "10.0.0/8", "::1/129", ""] {
            assert!(
                TrustedProxies::new(&[entry.to_owned()], false).is_err(),
                "{entry}"
            );
        }
    }

    #[test]
    fn nobody_is_trusted_by_default_and_the_old_switch_means_loopback() {
        let none = TrustedProxies::new(&[], false).expect("default");
        assert!(none.is_empty());
        assert!(!none.contains(ip("127.0.0.1")));
        let loopback = TrustedProxies::new(&[], true).expect("loopback");
        assert!(loopback.contains(ip("127.0.0.1")));
        assert!(loopback.contains(ip("::1")));
        assert!(!loopback.contains(ip("10.0.0.1")));
        // A list replaces the switch.
        let listed = TrustedProxies::new(&["10.0.0.1".into()], true).expect("listed");
        assert!(!listed.contains(ip("127.0.0.1")));
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let headers = forwarded_for(&["6.6.6.6"]);
        assert_eq!(
            client_addr(&proxies, ip("8.8.8.8"), &headers),
            ip("8.8.8.8")
        );
        assert_eq!(
            client_addr(&proxies, ip("10.0.0.2"), &headers),
            ip("6.6.6.6")
        );
        assert_eq!(
            client_addr(&proxies, ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let proxies = trusted(&["10.0.0.0/8"]);
        // The client claims 1.1.1.1; 5.5.5.5 connected to our first proxy.
        let headers = forwarded_for(&["1.1.1.1, 5.5.5.5", "10.0.0.9"]);
        assert_eq!(
            client_addr(&proxies, ip("10.0.0.2"), &headers),
            ip("5.5.5.5")
        );
        let headers = forwarded_for(&["10.0.0.8, 10.0.0.9"]);
        assert_eq!(
            client_addr(&proxies, ip("10.0.0.2"), &headers),
            ip("10.0.0.8")
        );
        let headers = forwarded_for(&["5.5.5.5:4711, [2001:db8::1]:80"]);
        assert_eq!(
            client_addr(&proxies, ip("10.0.0.2"), &headers),
            ip("2001:db8::1")
        );
        let headers = forwarded_for(&["5.5.5.5, garbage, 10.0.0.9"]);
        assert_eq!(
            client_addr(&proxies, ip("10.0.0.2"), &headers),
            ip("10.0.0.9")
        );
    }
}
