//! How many connections each client address holds, and the cap on it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use crate::forwarded::TrustedProxies;

/// Live connections per client address, capped.
#[derive(Debug, Clone)]
pub struct PerAddress {
    cap: u32,
    exempt: Arc<TrustedProxies>,
    live: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// A connection counted for its address until dropped.
#[derive(Debug)]
pub struct Slot {
    key: Option<IpAddr>,
    live: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl PerAddress {
    /// At most `cap` connections per address (`0` = unlimited); trusted proxies are exempt,
    /// because one proxy carries the connections of many clients.
    pub fn new(cap: u32, exempt: TrustedProxies) -> Self {
        Self {
            cap,
            exempt: Arc::new(exempt),
            live: Arc::default(),
        }
    }

    /// A slot for a new connection from `peer`, or `None` when its address is at the cap.
    pub fn admit(&self, peer: IpAddr) -> Option<Slot> {
        if self.cap == 0 || self.exempt.contains(peer) {
            return Some(Slot {
                key: None,
                live: self.live.clone(),
            });
        }
        let key = connection_key(peer);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let count = live.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            key: Some(key),
            live: self.live.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = live.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                live.remove(&key);
            }
        }
    }
}

/// The key connections are counted under: the address, or for IPv6 its /64 (one subscriber's
/// network, in which a client may pick any number of addresses).
fn connection_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewaySettings;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn the_cap_counts_live_connections_per_address() {
        let per_address = PerAddress::new(2, TrustedProxies::default());
        let first = per_address.admit(ip("1.2.3.4")).expect("first");
        let _second = per_address.admit(ip("1.2.3.4")).expect("second");
        assert!(per_address.admit(ip("1.2.3.4")).is_none());
        assert!(per_address.admit(ip("1.2.3.5")).is_some());
        drop(first);
        assert!(per_address.admit(ip("1.2.3.4")).is_some());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let per_address = PerAddress::new(1, TrustedProxies::default());
        let _held = per_address.admit(ip("2001:db8:1:2::1")).expect("first");
        assert!(per_address.admit(ip("2001:db8:1:2:ffff::7")).is_none());
        assert!(per_address.admit(ip("2001:db8:1:3::1")).is_some());
        assert_eq!(connection_key(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }

    #[test]
    fn trusted_proxies_and_a_zero_cap_are_not_limited() {
        let settings = GatewaySettings {
            trusted_proxies: vec!["10.0.0.0/8".into()],
            ..GatewaySettings::default()
        };
        let proxies = settings.proxies().expect("proxies");
        let per_address = PerAddress::new(1, proxies);
        let _slots: Vec<_> = (0..5)
            .map(|_| per_address.admit(ip("10.0.0.1")).expect("proxy"))
            .collect();
        let unlimited = PerAddress::new(0, TrustedProxies::default());
        let _slots: Vec<_> = (0..5)
            .map(|_| unlimited.admit(ip("1.2.3.4")).expect("unlimited"))
            .collect();
    }
}
