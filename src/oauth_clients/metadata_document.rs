//! Client ID Metadata Documents (MCP 2025-11-25): a client_id that is an https URL names a
//! JSON document describing the client. It is fetched here with strict limits (https only,
//! public addresses only, pinned to the address that was checked, no redirects, a few KB,
//! a few seconds) and cached briefly. Its `client_id` must equal the URL, its redirect URIs
//! must be https on the document's own host (or loopback http, for native apps), and its
//! `client_name` passes the checks registration applies: anyone can publish a document,
//! so it must not be able to send codes, or a misleading name, anywhere else.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use url::Url;

use super::is_loopback_http;
use super::registration::{checked_client_name, plain_redirect_uri};
use crate::net_guard;
use crate::token::{AuthMethod, ClientClaims};

const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX_ENTRIES: usize = 1000;
const MAX_REDIRECT_URIS: usize = 10;

#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
}

/// Fetches and caches client metadata documents.
pub struct MetadataDocuments {
    allow_private: bool,
    cache: Mutex<HashMap<String, (Instant, ClientClaims)>>,
}

/// True when `client_id` is a URL that names a metadata document (not a sealed client).
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

impl MetadataDocuments {
    /// `allow_private` also allows http and private addresses: for tests and private networks.
    pub fn new(allow_private: bool) -> Self {
        MetadataDocuments {
            allow_private,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client described by the document at `client_id`; errors say what is wrong.
    pub async fn resolve(&self, client_id: &str) -> Result<ClientClaims, String> {
        if let Some(claims) = self.cached(client_id) {
            return Ok(claims);
        }
        let url = self.checked_url(client_id)?;
        let body = self.fetch(&url).await?;
        let claims = parse_document(client_id, &body)?;
        self.remember(client_id, &claims);
        Ok(claims)
    }

    fn cached(&self, client_id: &str) -> Option<ClientClaims> {
        let cache = self.cache.lock().expect("cache lock");
        cache
            .get(client_id)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, claims)| claims.clone())
    }

    fn remember(&self, client_id: &str, claims: &ClientClaims) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_MAX_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(client_id.to_string(), (Instant::now(), claims.clone()));
    }

    fn checked_url(&self, client_id: &str) -> Result<Url, String> {
        let url =
            Url::parse(client_id).map_err(|_| "the client_id URL is not valid".to_string())?;
        let scheme_ok = url.scheme() == "https" || (self.allow_private && url.scheme() == "http");
        if !scheme_ok {
            return Err("a client_id URL must use https".into());
        }
        if url.path() == "/"
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err("a client_id URL must have a path and no fragment or credentials".into());
        }
        Ok(url)
    }

    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, String> {
        let host = url
            .host_str()
            .ok_or("the client_id URL has no host")?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let refused = || "the client_id URL's host cannot be reached from this server".to_string();
        let addrs = net_guard::resolve_allowed(&host, port, self.allow_private)
            .await
            .ok_or_else(refused)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|_| "could not fetch the client metadata document".to_string())?;
        let response = client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|_| "could not fetch the client metadata document".to_string())?;
        if !response.status().is_success() {
            return Err(format!(
                "the client metadata document answered HTTP {}",
                response.status().as_u16()
            ));
        }
        read_limited(response).await
    }
}

async fn read_limited(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| "reading the client metadata document failed".to_string())?;
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks a fetched document and turns it into client claims.
pub fn parse_document(client_id: &str, body: &[u8]) -> Result<ClientClaims, String> {
    let document: Document = serde_json::from_slice(body)
        .map_err(|_| "the client metadata document is not valid JSON metadata".to_string())?;
    if document.client_id != client_id {
        return Err("the client metadata document's client_id is not its own URL".into());
    }
    check_redirect_uris(client_id, &document.redirect_uris)?;
    let name = checked_client_name(document.client_name.as_deref())
        .map_err(|why| format!("the client metadata document's {why}"))?;
    match document.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method '{other}' is not supported; use none"
            ));
        }
    }
    Ok(ClientClaims {
        name,
        redirect_uris: document.redirect_uris,
        secret_hash: None,
        mail: None,
        auth_method: AuthMethod::None,
    })
}

/// Every redirect URI must be https on the client_id URL's host (exactly), or loopback
/// http on any port; none may hide its target (see [`plain_redirect_uri`]).
fn check_redirect_uris(client_id: &str, uris: &[String]) -> Result<(), String> {
    if uris.is_empty() {
        return Err("the client metadata document lists no redirect_uris".into());
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(format!(
            "the client metadata document lists more than {MAX_REDIRECT_URIS} redirect_uris"
        ));
    }
    let own_host = Url::parse(client_id)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()));
    let allowed = |uri: &str| {
        plain_redirect_uri(uri).is_some_and(|url| {
            is_loopback_http(&url)
                || (url.scheme() == "https" && url.host().map(|h| h.to_owned()) == own_host)
        })
    };
    match uris.iter().find(|uri| !allowed(uri)) {
        None => Ok(()),
        Some(_) => Err(
            "the client metadata document names a redirect_uri that is neither https on the \
             document's own host nor a loopback http callback"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://app.example/oauth/client.json";

    #[test]
    fn a_document_must_name_itself_and_list_redirects() {
        let ok = format!(
            r#"{{"client_id":"{URL}","client_name":"App","redirect_uris":["http://localhost/cb"]}}"#
        );
        let claims = parse_document(URL, ok.as_bytes()).unwrap();
        assert_eq!(claims.name.as_deref(), Some("App"));
        assert_eq!(claims.auth_method, AuthMethod::None);

        let other = r#"{"client_id":"https://evil.example/c.json","redirect_uris":["http://localhost/cb"]}"#;
        assert!(
            parse_document(URL, other.as_bytes())
                .unwrap_err()
                .contains("own URL")
        );
        let none = format!(r#"{{"client_id":"{URL}","redirect_uris":[]}}"#);
        assert!(
            parse_document(URL, none.as_bytes())
                .unwrap_err()
                .contains("redirect_uris")
        );
        let jwt = format!(
            r#"{{"client_id":"{URL}","redirect_uris":["http://localhost/cb"],"token_endpoint_auth_method":"private_key_jwt"}}"#
        );
        assert!(parse_document(URL, jwt.as_bytes()).is_err());
        assert!(parse_document(URL, b"not json").is_err());
    }

    #[test]
    fn redirect_uris_must_be_on_the_documents_host_or_loopback() {
        let cases = [
            ("https://app.example/cb", true),
            ("https://APP.example/oauth/cb?x=1", true),
            ("https://app.example:8443/cb", true),
            ("http://localhost:6274/callback", true),
            ("http://127.0.0.1/callback", true),
            ("https://evil.example/cb", false),
            ("https://app.example.evil.com/cb", false),
            ("https://sub.app.example/cb", false),
            ("https://app.example@evil.com/cb", false),
            ("http://app.example/cb", false),
            ("https://app.example/cb#f", false),
            ("https://app.example/a/../cb", false),
            ("cursor://callback", false),
        ];
        for (uri, allowed) in cases {
            let body = format!(r#"{{"client_id":"{URL}","redirect_uris":["{uri}"]}}"#);
            assert_eq!(
                parse_document(URL, body.as_bytes()).is_ok(),
                allowed,
                "{uri}"
            );
        }
        let many: Vec<String> = (0..11)
            .map(|i| format!("https://app.example/{i}"))
            .collect();
        let body = serde_json::json!({"client_id": URL, "redirect_uris": many}).to_string();
        assert!(parse_document(URL, body.as_bytes()).is_err());
    }

    #[test]
    fn a_documents_client_name_is_checked_like_registration() {
        for (name, ok) in [
            ("App", true),
            ("mail_mcp", false),
            ("Bad\u{202e}Name", false),
            ("Line\nbreak", false),
        ] {
            let body = serde_json::json!({"client_id": URL, "client_name": name,
                "redirect_uris": ["http://localhost/cb"]})
            .to_string();
            assert_eq!(parse_document(URL, body.as_bytes()).is_ok(), ok, "{name:?}");
        }
    }

    #[tokio::test]
    async fn private_and_plain_http_urls_are_refused_by_default() {
        let documents = MetadataDocuments::new(false);
        for url in [
            "http://app.example/c.json",
            "https://127.0.0.1/c.json",
            "https://169.254.169.254/latest",
            "https://app.example/",
        ] {
            assert!(documents.resolve(url).await.is_err(), "{url}");
        }
    }
}
