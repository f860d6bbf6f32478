//! Outbound connections to hosts a stranger named (a client metadata document URL, a
//! custom mail server typed on the login page) must not reach this server's own network:
//! names are resolved here and every address is checked before anything connects.
//! Loopback, private, link-local, site-local, shared, documentation and multicast ranges,
//! and IPv6 forms that embed an IPv4 address (IPv4-compatible `::/96`, 6to4 `2002::/16`,
//! NAT64), are refused unless the operator allows private networks (tests, private
//! deployments).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside some sites)
        || first == 0x2002 // 6to4 embeds an IPv4 address, possibly a private one
        || is_ipv4_compatible(ip) // ::/96 (deprecated) embeds an IPv4 address
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 maps into IPv4 space
}

/// True for `::/96`, the deprecated IPv4-compatible form `::a.b.c.d` (`::` and `::1` are
/// refused on their own account).
fn is_ipv4_compatible(ip: Ipv6Addr) -> bool {
    ip.segments()[..6].iter().all(|s| *s == 0)
}

/// Resolves `host:port` and returns its addresses when every one may be reached;
/// `None` when the name does not resolve or any address is not public (unless allowed).
pub async fn resolve_allowed(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Option<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
    if addrs.is_empty() {
        return None;
    }
    if !allow_private && !addrs.iter().all(|a| is_public(a.ip())) {
        return None;
    }
    Some(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        let cases = [
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("2606:4700::1111", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("224.0.0.1", false),
            ("::1", false),
            ("::", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("::127.0.0.1", false),
            ("::a9fe:a9fe", false),
            ("::8.8.8.8", false),
            ("2002:7f00:1::1", false),
            ("2002:0808:0808::1", false),
            ("fec0::1", false),
            ("feff::1", false),
            ("2001:4860:4860::8888", true),
        ];
        for (ip, public) in cases {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_names_are_refused_unless_allowed() {
        assert!(resolve_allowed("127.0.0.1", 993, false).await.is_none());
        assert!(resolve_allowed("localhost", 993, false).await.is_none());
        assert!(resolve_allowed("127.0.0.1", 993, true).await.is_some());
        assert!(
            resolve_allowed("no-such-host.invalid", 993, true)
                .await
                .is_none()
        );
    }
}
