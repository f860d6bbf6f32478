//! Dynamic client registration (RFC 7591) without a database: the request's metadata is
//! checked against the redirect policy and sealed into a client_id; a confidential client's
//! secret is derived from its client_id under the server key, so nothing is stored.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{derived_client_secret, is_loopback_http};
use crate::token::{AuthMethod, ClientClaims, Purpose, TokenCodec, TokenError};

/// The metadata a client sends (fields this server does not use are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub scope: Option<String>,
}

/// The registration response (RFC 7591 §3.2.1); absent fields are omitted, never null.
#[derive(Debug, Serialize)]
pub struct RegistrationResponse {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Why a registration was refused: the RFC 7591 error code and a description.
#[derive(Debug, PartialEq, Eq)]
pub enum RegistrationError {
    InvalidRedirectUri(String),
    InvalidClientMetadata(String),
    Server,
}

/// Which redirect URIs a self-registered client may use: https ones on the operator's
/// allowlist (exact, or a prefix when the entry ends in `*`), and loopback http on any port.
#[derive(Clone, Debug)]
pub struct RedirectPolicy {
    pub https_allowlist: Vec<String>,
}

impl RedirectPolicy {
    pub fn allows(&self, uri: &str) -> bool {
        let Some(url) = plain_redirect_uri(uri) else {
            return false;
        };
        if is_loopback_http(&url) {
            return true;
        }
        url.scheme() == "https"
            && self
                .https_allowlist
                .iter()
                .any(|entry| allowlist_match(entry, &url))
    }
}

/// Parses `raw` as a redirect URI, or `None` when it hides what it points at: userinfo, a
/// fragment, backslashes, whitespace or control characters (the URL parser drops tabs and
/// newlines), `.` or `..` path segments, or percent-encoded dots, slashes or backslashes.
pub fn plain_redirect_uri(raw: &str) -> Option<Url> {
    let lowered = raw.to_ascii_lowercase();
    if raw
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
        || ["%2e", "%2f", "%5c"].iter().any(|e| lowered.contains(e))
        || has_dot_segment(raw)
    {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    let plain = url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.host_str().is_some();
    plain.then_some(url)
}

/// True when the path of `raw` (before any `?` or `#`) has a `.` or `..` segment.
fn has_dot_segment(raw: &str) -> bool {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let Some(path_start) = after_scheme[..end].find('/') else {
        return false;
    };
    after_scheme[path_start..end]
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

/// Whether the parsed redirect URI `url` is allowed by one allowlist entry: the same
/// scheme, host (case-insensitive) and port, and the same path and query, or (for an
/// entry ending in `*`) a path that starts with the entry's on a segment boundary.
fn allowlist_match(entry: &str, url: &Url) -> bool {
    let (pattern, is_prefix) = match entry.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (entry, false),
    };
    let Some(allowed) = plain_redirect_uri(pattern) else {
        return false;
    };
    let same_origin = allowed.scheme() == url.scheme()
        && allowed.host() == url.host()
        && allowed.port_or_known_default() == url.port_or_known_default();
    if !same_origin {
        return false;
    }
    if !is_prefix {
        return allowed.path() == url.path() && allowed.query() == url.query();
    }
    path_has_prefix(url.path(), allowed.path())
}

/// `path` equals `prefix` or continues it after a `/` (so `/cb` covers `/cb/x`, not `/cbx`).
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Checks a client's self-chosen name (registration and metadata documents alike): at most
/// 100 characters, none of them control or invisible formatting characters (bidi
/// overrides, zero-width), and not this server's own name. Blank means no name.
pub fn checked_client_name(name: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err("client_name must be at most 100 printable characters");
    }
    if impersonates_this_server(name) {
        return Err("client_name must not be this server's name (mail_mcp)");
    }
    Ok(Some(name.to_string()))
}

/// Unicode format characters that reorder or hide text: bidi controls, zero-width
/// characters, the word joiner family, the BOM and the soft hyphen.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// True when the words of `name` include "mail mcp" / "mail_mcp" / "mailmcp" (any case).
fn impersonates_this_server(name: &str) -> bool {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.contains(&"mailmcp") || words.windows(2).any(|pair| pair == ["mail", "mcp"])
}

const MAX_REDIRECT_URIS: usize = 10;
const MAX_NAME_CHARS: usize = 100;

/// Checks `request` and seals a client for it.
pub fn register(
    codec: &TokenCodec,
    policy: &RedirectPolicy,
    request: RegistrationRequest,
) -> Result<RegistrationResponse, RegistrationError> {
    let claims = checked_claims(policy, &request)?;
    let client_id = codec
        .seal(Purpose::Client, &claims, None)
        .map_err(|_: TokenError| RegistrationError::Server)?;
    let confidential = claims.auth_method != AuthMethod::None;
    let client_secret = confidential.then(|| derived_client_secret(codec.keyring(), &client_id));
    Ok(RegistrationResponse {
        client_secret,
        client_id_issued_at: crate::token::unix_now(),
        client_secret_expires_at: confidential.then_some(0),
        redirect_uris: claims.redirect_uris.clone(),
        token_endpoint_auth_method: auth_method_name(&claims.auth_method).to_string(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        client_name: claims.name.clone(),
        scope: request.scope.clone(),
        client_id,
    })
}

fn checked_claims(
    policy: &RedirectPolicy,
    request: &RegistrationRequest,
) -> Result<ClientClaims, RegistrationError> {
    let meta = |m: &str| RegistrationError::InvalidClientMetadata(m.to_string());
    if request.redirect_uris.is_empty() {
        return Err(RegistrationError::InvalidRedirectUri(
            "redirect_uris is required".into(),
        ));
    }
    if request.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(RegistrationError::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    if let Some(bad) = request.redirect_uris.iter().find(|uri| !policy.allows(uri)) {
        return Err(RegistrationError::InvalidRedirectUri(format!(
            "redirect_uri '{}' is not allowed: use a loopback http://localhost or http://127.0.0.1 callback, or an https callback the operator allows",
            truncate(bad, 200)
        )));
    }
    let auth_method = parse_auth_method(request.token_endpoint_auth_method.as_deref()).ok_or_else(|| {
        meta("token_endpoint_auth_method must be none, client_secret_post or client_secret_basic")
    })?;
    if let Some(types) = &request.grant_types
        && types
            .iter()
            .any(|t| t != "authorization_code" && t != "refresh_token")
    {
        return Err(meta(
            "grant_types may hold only authorization_code and refresh_token",
        ));
    }
    if let Some(types) = &request.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(meta("response_types may hold only code"));
    }
    let name = checked_client_name(request.client_name.as_deref()).map_err(meta)?;
    Ok(ClientClaims {
        name,
        redirect_uris: request.redirect_uris.clone(),
        secret_hash: None,
        mail: None,
        auth_method,
    })
}

fn parse_auth_method(method: Option<&str>) -> Option<AuthMethod> {
    match method.unwrap_or("client_secret_basic") {
        "none" => Some(AuthMethod::None),
        "client_secret_post" => Some(AuthMethod::ClientSecretPost),
        "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
        _ => None,
    }
}

pub fn auth_method_name(method: &AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "none",
        AuthMethod::ClientSecretPost => "client_secret_post",
        AuthMethod::ClientSecretBasic => "client_secret_basic",
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Keyring;

    fn policy() -> RedirectPolicy {
        RedirectPolicy {
            https_allowlist: vec![
                "https://claude.ai/api/mcp/auth_callback".into(),
                "https://app.example/cb/*".into(),
            ],
        }
    }

    #[test]
    fn the_redirect_policy_allows_loopback_and_the_allowlist_only() {
        let cases = [
            ("http://localhost:6274/oauth/callback", true),
            ("http://127.0.0.1:33418/callback", true),
            ("http://[::1]:8080/cb", true),
            ("https://claude.ai/api/mcp/auth_callback", true),
            ("https://app.example/cb/one", true),
            ("https://claude.ai/api/mcp/auth_callback/extra", false),
            ("https://evil.example/callback", false),
            ("http://evil.example/callback", false),
            ("http://localhost.evil.example/cb", false),
            ("http://localhost:1/cb#frag", false),
            ("javascript:alert(1)", false),
            ("cursor://callback", false),
            ("not a uri", false),
        ];
        for (uri, allowed) in cases {
            assert_eq!(policy().allows(uri), allowed, "{uri}");
        }
    }

    #[test]
    fn allowlist_entries_match_parsed_urls_on_segment_boundaries() {
        let cases = [
            (
                "https://app.example/cb/*",
                "https://app.example/cb/one",
                true,
            ),
            (
                "https://app.example/cb/*",
                "https://APP.example/cb/one",
                true,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example:443/cb/one",
                true,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/one?x=1",
                true,
            ),
            ("https://app.example/cb*", "https://app.example/cb", true),
            ("https://app.example/cb*", "https://app.example/cb/x", true),
            ("https://app.example/cb*", "https://app.example/cbx", false),
            ("https://app.example*", "https://app.example/anything", true),
            (
                "https://app.example*",
                "https://app.example.evil.com/x",
                false,
            ),
            ("https://app.example*", "https://app.example:8443/x", false),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/../evil",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/./x",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/%2e%2e/evil",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/%2E./evil",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/..%2Fevil",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/%5cevil",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/\\evil.com",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example\\@evil.com/cb/x",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/.\t./x",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/ x",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example@evil.com/cb/x",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://u:p@app.example/cb/x",
                false,
            ),
            (
                "https://app.example/cb/*",
                "https://app.example/cb/x#f",
                false,
            ),
            ("https://app.example/cb/*", "http://app.example/cb/x", false),
            ("https://app.example/cb", "https://app.example/cb", true),
            ("https://app.example/cb", "https://App.Example/cb", true),
            ("https://app.example/cb", "https://app.example/cb/", false),
            ("https://app.example/cb", "https://app.example/cb?x", false),
            (
                "https://app.example/cb",
                "https://app.example/x/../cb",
                false,
            ),
            ("not a url*", "https://app.example/cb", false),
        ];
        for (entry, uri, allowed) in cases {
            let policy = RedirectPolicy {
                https_allowlist: vec![entry.to_string()],
            };
            assert_eq!(policy.allows(uri), allowed, "{entry} / {uri}");
        }
    }

    #[test]
    fn client_names_are_short_printable_and_not_this_servers() {
        let long = "x".repeat(101);
        assert_eq!(checked_client_name(None), Ok(None));
        let accepted = [
            ("   ", None),
            (" Claude Code ", Some("Claude Code")),
            ("<b>Bank</b>", Some("<b>Bank</b>")),
            ("Gmail MCP Bridge", Some("Gmail MCP Bridge")),
        ];
        for (name, expected) in accepted {
            let got = checked_client_name(Some(name));
            assert_eq!(got, Ok(expected.map(str::to_string)), "{name:?}");
        }
        let refused = [
            long.as_str(),
            "Nice\nApp",
            "App\u{202e}exe",
            "A\u{200b}pp",
            "mail_mcp",
            "Official Mail-MCP",
            "MAILMCP",
        ];
        for name in refused {
            assert!(checked_client_name(Some(name)).is_err(), "{name:?}");
        }
    }

    #[test]
    fn confidential_and_public_clients_register_with_the_method_echoed() {
        let codec = TokenCodec::new(
            Keyring::new([[7u8; 32]]).unwrap(),
            "https://i",
            "https://i/mcp",
        );
        let public = register(
            &codec,
            &policy(),
            RegistrationRequest {
                redirect_uris: vec!["http://localhost/cb".into()],
                token_endpoint_auth_method: Some("none".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(public.token_endpoint_auth_method, "none");
        assert!(public.client_secret.is_none());
        let json = serde_json::to_value(&public).unwrap();
        assert!(
            json.get("client_secret").is_none() && json.get("client_name").is_none(),
            "{json}"
        );

        let confidential = register(
            &codec,
            &policy(),
            RegistrationRequest {
                redirect_uris: vec!["http://localhost/cb".into()],
                client_name: Some("Inspector".into()),
                token_endpoint_auth_method: Some("client_secret_post".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let secret = confidential.client_secret.clone().unwrap();
        assert_eq!(
            secret,
            derived_client_secret(codec.keyring(), &confidential.client_id)
        );
        assert_eq!(confidential.client_secret_expires_at, Some(0));
    }

    #[test]
    fn bad_metadata_gets_the_rfc_7591_errors() {
        let codec = TokenCodec::new(
            Keyring::new([[7u8; 32]]).unwrap(),
            "https://i",
            "https://i/mcp",
        );
        let request = |uris: Vec<&str>, method: Option<&str>| RegistrationRequest {
            redirect_uris: uris.into_iter().map(String::from).collect(),
            token_endpoint_auth_method: method.map(String::from),
            ..Default::default()
        };
        let err = register(&codec, &policy(), request(vec![], None)).unwrap_err();
        assert!(matches!(err, RegistrationError::InvalidRedirectUri(_)));
        let err = register(
            &codec,
            &policy(),
            request(vec!["https://evil.example/cb"], None),
        )
        .unwrap_err();
        assert!(matches!(err, RegistrationError::InvalidRedirectUri(_)));
        let err = register(
            &codec,
            &policy(),
            request(vec!["http://localhost/cb"], Some("private_key_jwt")),
        )
        .unwrap_err();
        assert!(matches!(err, RegistrationError::InvalidClientMetadata(_)));
    }
}
