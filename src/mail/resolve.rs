//! Resolving a mail server's host name before connecting. For an endpoint a person typed
//! (`public_only`), every address must be public: the check happens here, on each
//! connection, and the connection goes to an address that was checked, so a name that
//! later resolves into the server's own network (DNS rebinding) is refused.

use std::net::SocketAddr;

use crate::mail::Endpoint;
use crate::net_guard;

/// Why no address may be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// The name does not resolve, or to nothing.
    NoAddress,
    /// A typed host resolves to a private, loopback or otherwise non-public address.
    NotPublic,
}

impl Unresolved {
    /// One line for an error message about `endpoint`.
    pub(crate) fn describe(&self, endpoint: &Endpoint) -> String {
        match self {
            Unresolved::NoAddress => {
                format!("the host name {} could not be resolved", endpoint.host)
            }
            Unresolved::NotPublic => {
                "this server may only connect to mail servers on public addresses".to_string()
            }
        }
    }
}

/// The addresses to try for `endpoint`, in the resolver's order.
pub(crate) async fn addresses(endpoint: &Endpoint) -> Result<Vec<SocketAddr>, Unresolved> {
    let host = endpoint.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, endpoint.port))
        .await
        .map_err(|_| Unresolved::NoAddress)?
        .collect();
    if addrs.is_empty() {
        return Err(Unresolved::NoAddress);
    }
    if endpoint.public_only && !addrs.iter().all(|a| net_guard::is_public(a.ip())) {
        return Err(Unresolved::NotPublic);
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Security;

    #[tokio::test]
    async fn typed_hosts_on_private_addresses_are_refused_at_connect_time() {
        let mut endpoint = Endpoint::new("127.0.0.1", 993, Security::Tls);
        assert!(
            addresses(&endpoint).await.is_ok(),
            "operator endpoints may be anywhere"
        );
        endpoint.public_only = true;
        assert_eq!(addresses(&endpoint).await, Err(Unresolved::NotPublic));
        endpoint.host = "localhost".into();
        assert_eq!(addresses(&endpoint).await, Err(Unresolved::NotPublic));
        endpoint.host = "no-such-host.invalid".into();
        assert_eq!(addresses(&endpoint).await, Err(Unresolved::NoAddress));
    }
}
