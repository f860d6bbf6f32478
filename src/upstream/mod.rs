//! The mail providers that sign people in with OAuth 2.0 (a `[provider.oauth]` block):
//! building the authorization request, exchanging the provider's code, learning the
//! mailbox address from the provider ([`identity`]), and the short-lived access tokens
//! IMAP and SMTP sign in with, fetched with the upstream refresh token and cached in
//! memory ([`cache`]) and, with Redis, for every instance ([`shared`]). Every request goes out through one HTTP client that takes no proxy
//! from the environment, follows no redirect and keeps TLS verification on. Nothing here
//! is stored anywhere: the refresh token lives in our sealed tokens.
//!
//! Must not import `http/`: the HTTP layer turns [`UpstreamError`] into its answers.

pub mod cache;
pub mod identity;
pub mod shared;

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::providers::{OAuthSettings, Provider, Providers};
use crate::token::UpstreamGrant;
pub use cache::AccessTokenCache;

/// How long one request to a provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest answer read from a provider.
pub(crate) const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why talking to a provider failed. Messages never hold a token or the provider's raw
/// text: only its registered error code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// The provider no longer honours the grant (revoked, expired, password changed):
    /// the person must sign in again.
    #[error("the mail provider ended this sign-in ({0}): reconnect to sign in again")]
    InvalidGrant(String),
    /// The provider named in a token is no longer an OAuth provider here.
    #[error("the mail provider '{0}' is no longer offered with OAuth sign-in: reconnect")]
    UnknownProvider(String),
    /// The provider could not be reached, or answered with something unusable.
    #[error("the mail provider could not be reached or answered badly: {0}")]
    Unavailable(String),
    /// The provider's id_token or userinfo did not prove a mailbox address.
    #[error("the mail provider did not confirm a mailbox address: {0}")]
    Identity(String),
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Clone, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenAnswer {
    /// How long the access token lives: `expires_in`, or an hour when the provider says not.
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.expires_in.unwrap_or(3600))
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
}

/// The OAuth providers and their access tokens; one per process, cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    providers: Providers,
    http: reqwest::Client,
    cache: std::sync::Arc<AccessTokenCache>,
    default_redirect_uri: String,
    /// A redirect URI used for every provider, whatever its block says (the loopback URI
    /// of `mail_mcp token --provider`).
    forced_redirect_uri: Option<String>,
}

impl Upstream {
    /// `default_redirect_uri` is `BASE_URL/oauth/provider/callback`; the access tokens are
    /// kept in this process only.
    pub fn new(providers: Providers, default_redirect_uri: String, cache_entries: usize) -> Self {
        Self::with_cache(
            providers,
            default_redirect_uri,
            AccessTokenCache::new(cache_entries),
        )
    }

    /// Like [`new`](Self::new), with the cache given (e.g. one shared between instances).
    pub fn with_cache(
        providers: Providers,
        default_redirect_uri: String,
        cache: AccessTokenCache,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client without proxy or redirects builds");
        Upstream {
            providers,
            http,
            cache: std::sync::Arc::new(cache),
            default_redirect_uri,
            forced_redirect_uri: None,
        }
    }

    /// The same, sending every provider's answer to `redirect_uri` (a loopback URI).
    pub fn redirecting_to(self, redirect_uri: String) -> Self {
        Upstream {
            forced_redirect_uri: Some(redirect_uri),
            ..self
        }
    }

    /// The OAuth provider `id` and its settings.
    pub fn provider(&self, id: &str) -> Result<(&Provider, &OAuthSettings), UpstreamError> {
        self.providers
            .by_id(id)
            .and_then(|p| p.oauth.as_ref().map(|o| (p, o)))
            .ok_or_else(|| UpstreamError::UnknownProvider(id.to_string()))
    }

    /// The redirect URI registered at `oauth`'s provider.
    pub fn redirect_uri(&self, oauth: &OAuthSettings) -> String {
        self.forced_redirect_uri
            .clone()
            .or_else(|| oauth.redirect_uri.clone())
            .unwrap_or_else(|| self.default_redirect_uri.clone())
    }

    /// The provider's authorization URL: code flow, PKCE S256, our `state` and `nonce`.
    pub fn authorization_url(
        &self,
        oauth: &OAuthSettings,
        state: &str,
        challenge: &str,
        nonce: &str,
    ) -> Result<Url, UpstreamError> {
        let mut url = Url::parse(&oauth.authorization_endpoint)
            .map_err(|_| UpstreamError::Unavailable("bad authorization endpoint".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &oauth.client_id)
            .append_pair("redirect_uri", &self.redirect_uri(oauth))
            .append_pair("scope", &oauth.scope())
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(oauth.authorization_params.iter());
        Ok(url)
    }

    /// Exchanges the provider's `code` (with its PKCE `verifier`).
    pub async fn exchange_code(
        &self,
        oauth: &OAuthSettings,
        code: &str,
        verifier: &str,
    ) -> Result<TokenAnswer, UpstreamError> {
        let redirect_uri = self.redirect_uri(oauth);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        self.token_request(oauth, &form).await
    }

    /// The refresh grant at the provider.
    async fn refresh(
        &self,
        oauth: &OAuthSettings,
        refresh_token: &str,
    ) -> Result<TokenAnswer, UpstreamError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token_request(oauth, &form).await
    }

    /// A token request, the client authenticated with `client_secret_post`.
    async fn token_request(
        &self,
        oauth: &OAuthSettings,
        form: &[(&str, &str)],
    ) -> Result<TokenAnswer, UpstreamError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .append_pair("client_id", &oauth.client_id)
            .append_pair("client_secret", &oauth.client_secret)
            .finish();
        let response = self
            .http
            .post(&oauth.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(describe(&e)))?;
        let status = response.status();
        let bytes = read_limited(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| UpstreamError::Unavailable("the token answer is not usable".into()));
        }
        let code = serde_json::from_slice::<ErrorAnswer>(&bytes)
            .map(|e| e.error)
            .unwrap_or_default();
        if code == "invalid_grant" {
            return Err(UpstreamError::InvalidGrant(code));
        }
        tracing::warn!(status = status.as_u16(), error = %code, "the provider refused a token request");
        Err(UpstreamError::Unavailable(format!(
            "its token endpoint answered HTTP {}{}",
            status.as_u16(),
            if code.is_empty() {
                String::new()
            } else {
                format!(" ({code})")
            }
        )))
    }

    /// A GET of `url` (JWKS, userinfo), optionally with a bearer token.
    pub(crate) async fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<Vec<u8>, UpstreamError> {
        let mut request = self.http.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(describe(&e)))?;
        if !response.status().is_success() {
            return Err(UpstreamError::Unavailable(format!(
                "{url} answered HTTP {}",
                response.status().as_u16()
            )));
        }
        read_limited(response).await
    }

    /// Remembers the access token of a fresh sign-in, so its first requests need no refresh.
    pub async fn remember(&self, refresh_token: &str, answer: &TokenAnswer) {
        self.cache
            .remember(refresh_token, &answer.access_token, answer.lifetime())
            .await;
    }

    /// An access token for `grant`: the cached one while it is fresh, else one refresh
    /// (a single one in flight per sign-in, however many requests wait for it).
    pub async fn access_token(&self, grant: &UpstreamGrant) -> Result<String, UpstreamError> {
        let (_, oauth) = self.provider(&grant.provider)?;
        self.cache
            .access_token(&grant.refresh_token, |refresh_token| async move {
                self.refresh(oauth, &refresh_token).await
            })
            .await
    }

    /// Refreshes `grant` at the provider now (our own refresh grant): the provider's
    /// rotated refresh token, or the same one where it does not rotate. The new access
    /// token is cached for both the old and the new refresh token.
    pub async fn rotate(&self, grant: &UpstreamGrant) -> Result<UpstreamGrant, UpstreamError> {
        let (_, oauth) = self.provider(&grant.provider)?;
        let refresh_token = self
            .cache
            .rotate(&grant.refresh_token, |refresh_token| async move {
                self.refresh(oauth, &refresh_token).await
            })
            .await?;
        Ok(UpstreamGrant {
            provider: grant.provider.clone(),
            refresh_token,
        })
    }
}

async fn read_limited(response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    use futures::StreamExt;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::Unavailable(describe(&e)))?;
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(UpstreamError::Unavailable("its answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error without its URL (which may carry a query) and without a token.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "it did not answer in time".into()
    } else if error.is_connect() {
        "cannot connect to it".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[provider]]
id = "p"
name = "P"
imap = { host = "imap.p.example", port = 993, security = "tls" }
smtp = { host = "smtp.p.example", port = 465, security = "tls" }
[provider.oauth]
authorization_endpoint = "https://login.p.example/authorize?tenant=common"
token_endpoint = "https://login.p.example/token"
client_id = "client-1"
client_secret_env = "P_SECRET"
scopes = ["openid", "email", "mail"]
mechanism = "xoauth2"
authorization_params = { access_type = "offline", prompt = "consent" }
address = { userinfo = { url = "https://login.p.example/me" } }
"#;

    fn upstream() -> Upstream {
        let providers = Providers::parse_with_env(FILE, &|_| Some("s".into())).unwrap();
        Upstream::new(
            providers,
            "https://mcp.example/oauth/provider/callback".into(),
            10,
        )
    }

    /// The authorization request is the code flow with PKCE S256, our state and nonce,
    /// the default redirect URI, the scopes, the operator's extra parameters, and keeps
    /// the endpoint's own query; the secret is never in it.
    #[test]
    fn the_authorization_url_carries_pkce_state_nonce_and_extra_parameters() {
        let upstream = upstream();
        let (_, oauth) = upstream.provider("p").unwrap();
        let url = upstream
            .authorization_url(oauth, "st-1", "challenge-1", "nonce-1")
            .unwrap();
        let query: std::collections::BTreeMap<String, String> =
            url.query_pairs().into_owned().collect();
        let expected = [
            ("tenant", "common"),
            ("response_type", "code"),
            ("client_id", "client-1"),
            (
                "redirect_uri",
                "https://mcp.example/oauth/provider/callback",
            ),
            ("scope", "openid email mail"),
            ("state", "st-1"),
            ("nonce", "nonce-1"),
            ("code_challenge", "challenge-1"),
            ("code_challenge_method", "S256"),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ];
        for (key, value) in expected {
            assert_eq!(query.get(key).map(String::as_str), Some(value), "{key}");
        }
        assert!(!url.as_str().contains("client_secret"));
    }

    #[test]
    fn only_oauth_providers_are_found() {
        let upstream = upstream();
        assert!(upstream.provider("p").is_ok());
        assert_eq!(
            upstream.provider("gmail").err(),
            Some(UpstreamError::UnknownProvider("gmail".into()))
        );
    }
}
