//! Trusted proxies: the client's address, host and scheme behind a load
//! balancer.
//!
//! Behind a proxy the peer of every connection is the proxy, so without
//! this every login failure would count against the proxy's address (the
//! per-address throttle would lock everyone out) and the device list would
//! show it. Only when the peer is a trusted proxy are `Forwarded` (or, if
//! absent, `X-Forwarded-For`) read, right to left, skipping trusted hops:
//! the first untrusted address is the client. `X-Forwarded-Host` and
//! `X-Forwarded-Proto` then stand for the request's own origin in the CSRF
//! check. From any other peer these headers are ignored, since a client
//! can send them.
//!
//! ```
//! use std::net::IpAddr;
//!
//! use auth_core::proxy::TrustedProxies;
//!
//! let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1/32")?;
//! let peer: IpAddr = "10.1.2.3".parse()?;
//! let client = proxies.client_ip(peer, [], [&b"203.0.113.7, 10.0.0.9"[..]]);
//! assert_eq!(client, "203.0.113.7".parse::<IpAddr>()?);
//! // From an untrusted peer, the header is ignored.
//! let stranger: IpAddr = "198.51.100.1".parse()?;
//! assert_eq!(proxies.client_ip(stranger, [], [&b"203.0.113.7"[..]]), stranger);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A malformed trusted-proxy setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a trusted proxy must be an address or a CIDR block (10.0.0.0/8, ::1/128), got {0:?}")]
pub struct ProxyConfigError(String);

/// The networks whose connections may speak for their clients.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.networks.iter().map(|(ip, len)| format!("{ip}/{len}")))
            .finish()
    }
}

impl TrustedProxies {
    /// Comma-separated addresses and CIDR blocks (`10.0.0.0/8,
    /// 127.0.0.1/32, fd00::/8`); an address alone is one host.
    pub fn parse(list: &str) -> Result<Self, ProxyConfigError> {
        let mut networks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || ProxyConfigError(item.to_owned());
            let (ip, len) = match item.split_once('/') {
                Some((ip, len)) => (
                    ip.parse::<IpAddr>().map_err(|_| bad())?,
                    len.parse::<u8>().map_err(|_| bad())?,
                ),
                None => {
                    let ip = item.parse::<IpAddr>().map_err(|_| bad())?;
                    (ip, if ip.is_ipv4() { 32 } else { 128 })
                }
            };
            if len > if ip.is_ipv4() { 32 } else { 128 } {
                return Err(bad());
            }
            networks.push((ip, len));
        }
        Ok(Self { networks })
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks
            .iter()
            .any(|&(net, len)| match (canonical(net), ip) {
                (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), len),
                (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), len),
                _ => false,
            })
    }

    /// The client behind `peer`: `peer` itself unless it is trusted; then
    /// the right-most address of the forwarding chain that is not trusted,
    /// read from the `Forwarded` values if any, else from the
    /// `X-Forwarded-For` values. An entry that is not an address
    /// (`unknown`, an obfuscated name) ends the walk at the hop after it.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a [u8]>,
        x_forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut chain: Vec<Option<IpAddr>> = forwarded
            .into_iter()
            .flat_map(|value| value.split(|b| *b == b','))
            .map(forwarded_for)
            .collect();
        if chain.is_empty() {
            chain = x_forwarded_for
                .into_iter()
                .flat_map(|value| value.split(|b| *b == b','))
                .map(|entry| address(entry.trim_ascii()))
                .collect();
        }
        let mut client = peer;
        for entry in chain.iter().rev() {
            match entry {
                Some(ip) if self.contains(client) => client = *ip,
                _ => break,
            }
        }
        client
    }

    /// The last value of a header a trusted `peer`'s proxy set
    /// (`X-Forwarded-Host`, `X-Forwarded-Proto`); `None` from any other
    /// peer.
    pub fn forwarded_value<'a>(
        &self,
        peer: Option<IpAddr>,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<&'a [u8]> {
        if !peer.is_some_and(|peer| self.contains(peer)) {
            return None;
        }
        let last = values.into_iter().last()?;
        let value = last.rsplit(|b| *b == b',').next()?.trim_ascii();
        (!value.is_empty()).then_some(value)
    }
}

/// An IPv4-mapped IPv6 address as IPv4, so `::ffff:10.0.0.1` is in
/// `10.0.0.0/8`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(net: &[u8], ip: &[u8], len: u8) -> bool {
    let (whole, rest) = (usize::from(len / 8), len % 8);
    if net[..whole] != ip[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xff_u8 << (8 - rest);
        net[whole] & mask == ip[whole] & mask
    }
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.60;proto=https`,
/// `for="[2001:db8::17]:4711"`).
fn forwarded_for(element: &[u8]) -> Option<IpAddr> {
    let pair = element
        .split(|b| *b == b';')
        .map(<[u8]>::trim_ascii)
        .find(|pair| pair.len() > 4 && pair[..4].eq_ignore_ascii_case(b"for="))?;
    let value = &pair[4..];
    let value = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    address(value)
}

/// An address, with or without a port (`203.0.113.7`, `203.0.113.7:443`,
/// `[2001:db8::1]:443`, `2001:db8::1`).
fn address(text: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(text).ok()?;
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let proxies =
            TrustedProxies::parse("10.0.0.0/8, 192.168.1.0/25,127.0.0.1, fd00::/8").unwrap();
        for trusted in [
            "10.255.0.1",
            "192.168.1.127",
            "127.0.0.1",
            "fd12::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(proxies.contains(ip(trusted)), "{trusted}");
        }
        for untrusted in ["11.0.0.1", "192.168.1.128", "127.0.0.2", "fe80::1", "::1"] {
            assert!(!proxies.contains(ip(untrusted)), "{untrusted}");
        }
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let xff = |values: &[&'static str]| -> Vec<&'static [u8]> {
            values.iter().map(|v| v.as_bytes()).collect()
        };
        let peer = ip("10.0.0.1");
        // A client-supplied spoof on the left is skipped over.
        let chain = xff(&["6.6.6.6, 203.0.113.7, 10.0.0.2"]);
        assert_eq!(proxies.client_ip(peer, [], chain), ip("203.0.113.7"));
        // Several header lines are one list.
        let chain = xff(&["203.0.113.7", "10.0.0.2"]);
        assert_eq!(proxies.client_ip(peer, [], chain), ip("203.0.113.7"));
        // Garbage stops the walk at the hop that reported it.
        let chain = xff(&["203.0.113.7, unknown, 10.0.0.2"]);
        assert_eq!(proxies.client_ip(peer, [], chain), ip("10.0.0.2"));
        // No header: the peer.
        assert_eq!(proxies.client_ip(peer, [], []), peer);
        // An untrusted peer's header is ignored.
        let stranger = ip("198.51.100.1");
        assert_eq!(
            proxies.client_ip(stranger, [], xff(&["203.0.113.7"])),
            stranger
        );
        // Forwarded wins over X-Forwarded-For, with ports and quotes.
        let forwarded: Vec<&[u8]> =
            vec![b"for=\"[2001:db8::17]:4711\";proto=https, for=10.0.0.3:80"];
        assert_eq!(
            proxies.client_ip(peer, forwarded, xff(&["203.0.113.7"])),
            ip("2001:db8::17")
        );
    }

    #[test]
    fn forwarded_host_and_proto_come_only_from_trusted_peers() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let values: Vec<&[u8]> = vec![b"evil.example, app.example"];
        assert_eq!(
            proxies.forwarded_value(Some(ip("10.0.0.1")), values.clone()),
            Some(&b"app.example"[..])
        );
        assert_eq!(
            proxies.forwarded_value(Some(ip("8.8.8.8")), values.clone()),
            None
        );
        assert_eq!(proxies.forwarded_value(None, values), None);
    }
}
