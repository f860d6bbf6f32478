//! OAuth clients without a database: the redirect URIs a client may use, how a presented
//! redirect URI is matched against them (exactly, except that a loopback `http` URI matches
//! on any port, RFC 8252 §7.3), provisioning a client as a sealed client_id plus secret,
//! dynamic registration, metadata documents, and finding the client a client_id names.
//! Knows tokens, not the HTTP server.

pub mod metadata_document;
pub mod registration;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use url::Url;

use crate::token::Keyring;
use metadata_document::MetadataDocuments;

use crate::token::{
    AuthMethod, ClientClaims, MailEndpoints, Purpose, TokenCodec, TokenError, hash_secret,
};

/// Redirect URIs a provisioned client gets when the operator names none: Claude's
/// callbacks and the loopback callbacks of Claude Code, MCP Inspector and SDK clients.
pub const DEFAULT_REDIRECT_URIS: &[&str] = &[
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
    "http://localhost/callback",
    "http://127.0.0.1/callback",
    "http://localhost/oauth/callback",
    "http://127.0.0.1/oauth/callback",
    "http://localhost/oauth/callback/debug",
    "http://127.0.0.1/oauth/callback/debug",
];

/// True when `presented` may be used as a redirect target for a client that registered
/// `registered`: identical, or both loopback http URIs equal but for the port.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(reg), Ok(pre)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    is_loopback_http(&reg)
        && is_loopback_http(&pre)
        && reg.host_str() == pre.host_str()
        && reg.path() == pre.path()
        && reg.query() == pre.query()
        && pre.fragment().is_none()
        && pre.username().is_empty()
        && pre.password().is_none()
}

/// True for `http://localhost`, `http://127.0.0.1` and `http://[::1]` URLs.
pub fn is_loopback_http(url: &Url) -> bool {
    url.scheme() == "http" && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Finds the registered redirect URI that allows `presented`, if any.
pub fn allowed_redirect<'a>(claims: &'a ClientClaims, presented: &str) -> Option<&'a str> {
    claims
        .redirect_uris
        .iter()
        .map(String::as_str)
        .find(|registered| redirect_uri_matches(registered, presented))
}

/// A freshly provisioned confidential client.
pub struct ProvisionedClient {
    pub client_id: String,
    pub client_secret: String,
    pub claims: ClientClaims,
}

/// Makes a confidential client bound to mail endpoints and redirect URIs.
pub fn provision(
    codec: &TokenCodec,
    name: Option<String>,
    mail: MailEndpoints,
    redirect_uris: Vec<String>,
) -> Result<ProvisionedClient, TokenError> {
    let client_secret = random_secret();
    let claims = ClientClaims {
        name,
        redirect_uris,
        secret_hash: Some(hash_secret(&client_secret)),
        mail: Some(mail),
        auth_method: AuthMethod::ClientSecretPost,
    };
    let client_id = codec.seal(Purpose::Client, &claims, None)?;
    Ok(ProvisionedClient {
        client_id,
        client_secret,
        claims,
    })
}

/// The secret of a dynamically registered confidential client: an HMAC of its client_id
/// under the server key, so it need not be stored.
pub fn derived_client_secret(keyring: &Keyring, client_id: &str) -> String {
    let key = keyring.derive_subkey("dcr-client-secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(client_id.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the secret of `client`, compared in constant time. A public
/// client (`none`) has no secret and never matches.
pub fn secret_matches(
    keyring: &Keyring,
    client_id: &str,
    client: &ClientClaims,
    presented: &str,
) -> bool {
    if client.secret_hash.is_some() {
        return client.secret_matches(presented);
    }
    if client.auth_method == AuthMethod::None {
        return false;
    }
    let expected = derived_client_secret(keyring, client_id);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// Finds the client a client_id names: a sealed client, or a metadata document URL.
pub struct ClientRegistry {
    codec: Arc<TokenCodec>,
    /// `None` when metadata documents are turned off (CLIENT_METADATA_DOCUMENTS=false).
    documents: Option<MetadataDocuments>,
}

impl ClientRegistry {
    pub fn new(codec: Arc<TokenCodec>, allow_private_network: bool, documents: bool) -> Self {
        ClientRegistry {
            codec,
            documents: documents.then(|| MetadataDocuments::new(allow_private_network)),
        }
    }

    /// The client's claims, or a short reason it is unknown.
    pub async fn resolve(&self, client_id: &str) -> Result<ClientClaims, String> {
        if metadata_document::is_document_url(client_id) {
            let Some(documents) = &self.documents else {
                return Err(
                    "this server does not accept client metadata documents (a URL as client_id); \
                     the app must register itself or use a client_id from the operator"
                        .into(),
                );
            };
            return documents.resolve(client_id).await;
        }
        self.codec
            .open(Purpose::Client, client_id)
            .map_err(|e| format!("the client_id is not valid for this server ({e})"))
    }
}

/// 32 random bytes, base64url: a client secret.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_or_on_any_loopback_port() {
        let cases = [
            (
                "https://claude.ai/api/mcp/auth_callback",
                "https://claude.ai/api/mcp/auth_callback",
                true,
            ),
            (
                "https://claude.ai/api/mcp/auth_callback",
                "https://claude.ai/api/mcp/auth_callback/x",
                false,
            ),
            (
                "https://claude.ai/api/mcp/auth_callback",
                "https://evil.example/api/mcp/auth_callback",
                false,
            ),
            (
                "http://localhost/callback",
                "http://localhost:33418/callback",
                true,
            ),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:6274/callback",
                true,
            ),
            (
                "http://127.0.0.1/callback",
                "http://localhost:6274/callback",
                false,
            ),
            (
                "http://localhost/callback",
                "http://localhost:1/other",
                false,
            ),
            (
                "http://localhost/callback",
                "http://localhost.evil.example:80/callback",
                false,
            ),
            (
                "http://localhost/callback",
                "https://localhost:443/callback",
                false,
            ),
            (
                "http://localhost/callback",
                "http://user@localhost:80/callback",
                false,
            ),
            (
                "https://app.example/cb",
                "https://app.example:8443/cb",
                false,
            ),
            ("http://localhost/callback", "not a url", false),
        ];
        for (registered, presented, expected) in cases {
            assert_eq!(
                redirect_uri_matches(registered, presented),
                expected,
                "{registered} vs {presented}"
            );
        }
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
