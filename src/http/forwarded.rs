//! The client address that sign-in limits count, and warnings when this server seems to run
//! behind a reverse proxy without `TRUST_FORWARDED_FOR`: every client then shares the
//! proxy's address, and one attacker's failures would block everyone's sign-ins.
//! X-Forwarded-For is read only when the operator said a proxy writes it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;

/// Set once the first-request warning was logged (a process-wide, log-only flag).
static WARNED: AtomicBool = AtomicBool::new(false);

/// The address sign-in attempts are counted against: the last X-Forwarded-For entry when
/// `trust_forwarded_for`, else the peer. Warns once when the request looks proxied but
/// the header is not trusted.
pub fn client_ip(trust_forwarded_for: bool, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let forwarded = headers.get("x-forwarded-for");
    if !trust_forwarded_for {
        if forwarded.is_some() && !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "a request carries X-Forwarded-For but TRUST_FORWARDED_FOR is off: behind a \
                 reverse proxy every client shares its address for sign-in limits; set \
                 TRUST_FORWARDED_FOR=true if the proxy writes that header"
            );
        }
        return peer.ip();
    }
    forwarded
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// At start-up: warns when BASE_URL is https or names a non-loopback host while this
/// server listens on loopback only (so requests must come through a proxy), and
/// TRUST_FORWARDED_FOR is off.
pub fn warn_if_proxied(base_url: &str, trust_forwarded_for: bool, listening: SocketAddr) {
    if looks_proxied(base_url, trust_forwarded_for, listening) {
        tracing::warn!(
            %base_url,
            %listening,
            "BASE_URL is public but the server listens on loopback: it seems to run behind a \
             reverse proxy; without TRUST_FORWARDED_FOR every client shares the proxy's \
             address for sign-in limits"
        );
    }
}

fn looks_proxied(base_url: &str, trust_forwarded_for: bool, listening: SocketAddr) -> bool {
    if trust_forwarded_for || !listening.ip().is_loopback() {
        return false;
    }
    let Ok(url) = url::Url::parse(base_url) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    url.scheme() == "https" || !loopback_host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_base_url_on_a_loopback_listener_looks_proxied() {
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let cases = [
            ("https://mail.example.com", false, local, true),
            ("http://mail.example.com", false, local, true),
            ("https://127.0.0.1:3000", false, local, true),
            ("http://127.0.0.1:3000", false, local, false),
            ("http://localhost:3000", false, local, false),
            ("https://mail.example.com", true, local, false),
            ("https://mail.example.com", false, public, false),
        ];
        for (base, trust, listening, proxied) in cases {
            assert_eq!(looks_proxied(base, trust, listening), proxied, "{base}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_when_trusted() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.5, 198.51.100.9".parse().unwrap(),
        );
        assert_eq!(client_ip(false, peer, &headers), peer.ip());
        let last: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(client_ip(true, peer, &headers), last);
    }
}
