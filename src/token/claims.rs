//! What each kind of token carries, beside the registered claims (`iss`, `aud`, `iat`,
//! `exp`, `jti`, `typ`) that [`TokenCodec`](super::TokenCodec) adds. Field names are the
//! JSON names: short, but readable when a token is decrypted for debugging. Optional
//! fields are left out when empty to keep tokens small. Also here: hashing client secrets
//! and fingerprinting client ids, the two digests these claims hold.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::SendPolicy;
use crate::mail::{Endpoint, MailAccount};

/// How a client proves itself at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: no secret, PKCE only.
    #[default]
    None,
    /// `client_secret` in the form body.
    ClientSecretPost,
    /// `client_secret` in HTTP Basic authentication.
    ClientSecretBasic,
}

/// The mail servers a client made by `generate` is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailEndpoints {
    pub imap: Endpoint,
    pub smtp: Endpoint,
}

/// A client_id. Made by `generate` (with mail endpoints and usually a secret) or by
/// dynamic client registration (redirect URIs only; the login page then offers the
/// operator's providers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// [`hash_secret`] of the client secret; never the secret itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailEndpoints>,
    pub auth_method: AuthMethod,
}

impl ClientClaims {
    /// Whether `presented` is this client's secret, compared in constant time. A client
    /// without a secret matches nothing.
    pub fn secret_matches(&self, presented: &str) -> bool {
        let Some(expected) = &self.secret_hash else {
            return false;
        };
        hash_secret(presented)
            .as_bytes()
            .ct_eq(expected.as_bytes())
            .into()
    }
}

/// An authorization code: what the login granted, bound to the client, redirect URI and
/// PKCE challenge it was asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeClaims {
    /// [`client_fingerprint`] of the client_id.
    pub client: String,
    pub redirect_uri: String,
    /// The S256 PKCE challenge the token request's verifier must match.
    pub code_challenge: String,
    pub scope: String,
    /// The RFC 8707 resource asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub account: MailAccount,
    /// What the person allowed on the consent page (absent in tokens sealed before
    /// policies existed: [`SendPolicy::Ask`]).
    #[serde(default)]
    pub policy: SendPolicy,
    /// The provider grant of an OAuth sign-in; the account then holds no password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamGrant>,
}

/// The grant of a mail provider that signs in with OAuth 2.0: which provider (its id in
/// the providers file) and the refresh token it issued. The account's IMAP and SMTP
/// logins then carry no password: the upstream access token is fetched (and cached) when
/// a request needs it, never sealed. `Debug` never shows the refresh token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamGrant {
    pub provider: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for UpstreamGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGrant")
            .field("provider", &self.provider)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// An access token: the mail account the bearer acts for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// [`client_fingerprint`] of the client_id.
    pub client: String,
    pub scope: String,
    pub account: MailAccount,
    /// The sign-in (refresh family, see [`RefreshClaims::family`]) the token was issued
    /// from, checked against the shared store on every MCP request, so that revoking the
    /// family (a replayed code, a stale refresh token) ends its access tokens too. `None`
    /// for tokens made outside a sign-in (`mail_mcp token`) and for tokens issued before
    /// the field existed: those stay valid until they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// What the person allowed on the consent page (absent in tokens sealed before
    /// policies existed: [`SendPolicy::Ask`]).
    #[serde(default)]
    pub policy: SendPolicy,
    /// The provider grant of an OAuth sign-in (tokens sealed before it existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamGrant>,
}

/// A refresh token. `family` is shared by every refresh token (and access token, see
/// [`AccessClaims::family`]) descended from one login, so a family is revoked as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// [`client_fingerprint`] of the client_id.
    pub client: String,
    pub scope: String,
    pub account: MailAccount,
    pub family: String,
    /// What the person allowed on the consent page (absent in tokens sealed before
    /// policies existed: [`SendPolicy::Ask`]).
    #[serde(default)]
    pub policy: SendPolicy,
    /// The provider grant of an OAuth sign-in, rotated with each refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamGrant>,
}

/// The OAuth parameters of an authorization request, carried by the login form from the
/// GET that shows it to the POST that submits it, so they cannot be altered in between.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormClaims {
    pub client_id: String,
    pub redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// A sign-in at a mail provider in progress, sealed in a browser cookie between the
/// redirect to the provider and its callback: our own authorization request (the login
/// form's claims), the provider, and the values the callback must match or send.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRequestClaims {
    pub form: FormClaims,
    /// The provider's id in the providers file.
    pub provider: String,
    /// The `state` sent to the provider; its callback must bring it back.
    pub state: String,
    /// The PKCE verifier of the provider's code.
    pub verifier: String,
    /// The OIDC `nonce` the provider's id_token must carry.
    pub nonce: String,
    /// What the person chose on the login page.
    #[serde(default)]
    pub policy: SendPolicy,
}

impl std::fmt::Debug for UpstreamRequestClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRequestClaims")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// One guarded tool call waiting for the person's approval ([`Purpose::Approval`](super::Purpose)):
/// which tool, a digest of its exact arguments and of the caller it is bound to. The
/// token's `jti` is the approval's id (its single-use mark) and its `exp` the deadline.
/// A 2026-07-28 `requestState` carries only these digests (the retry brings the call
/// again); a confirmation link also carries the [`ApprovedCall`] itself, because the
/// person's browser has no bearer token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalClaims {
    /// The tool's name.
    pub tool: String,
    /// SHA-256 (base64url) of the canonical JSON of the call's arguments.
    pub args: String,
    /// SHA-256 (base64url) of who asked: the access token's client, sign-in and account.
    pub caller: String,
    /// The call itself, for a confirmation link; absent in a `requestState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<ApprovedCall>,
}

/// What a confirmation link needs to run the call without the bearer: the caller's access
/// claims (its mail account) and the arguments. Inside the encrypted token only; its
/// `Debug` shows neither (the account's Debug hides the password, arguments hold mail).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovedCall {
    pub access: AccessClaims,
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for ApprovedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovedCall")
            .field("account", &self.access.account.email)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a client secret, base64url without padding: what a client_id stores.
pub fn hash_secret(secret: &str) -> String {
    sha256_base64url(secret.as_bytes())
}

/// SHA-256 of a client_id, base64url without padding: binds codes and tokens to a client
/// without embedding the whole (long) client_id in them.
pub fn client_fingerprint(client_id: &str) -> String {
    sha256_base64url(client_id.as_bytes())
}

fn sha256_base64url(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Sample claims for the tests of this layer.
    use super::*;
    use crate::mail::{Security, ServerLogin};

    pub const PASSWORD: &str = "correct horse battery staple";

    pub fn account() -> MailAccount {
        let login = |host: &str, port| ServerLogin {
            endpoint: Endpoint::new(host, port, Security::default_for_port(port)),
            username: "alice@example.org".into(),
            password: PASSWORD.into(),
        };
        MailAccount {
            email: "alice@example.org".into(),
            display_name: Some("Alice Example".into()),
            identities: Vec::new(),
            imap: login("imap.example.org", 993),
            smtp: login("smtp.example.org", 465),
        }
    }

    pub fn client() -> ClientClaims {
        let account = account();
        ClientClaims {
            name: Some("Claude".into()),
            redirect_uris: vec!["https://claude.ai/api/mcp/auth_callback".into()],
            secret_hash: Some(hash_secret("s3cret")),
            mail: Some(MailEndpoints {
                imap: account.imap.endpoint,
                smtp: account.smtp.endpoint,
            }),
            auth_method: AuthMethod::ClientSecretPost,
        }
    }

    pub fn code() -> CodeClaims {
        CodeClaims {
            client: client_fingerprint("client-id"),
            redirect_uri: "https://claude.ai/api/mcp/auth_callback".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scope: "mail".into(),
            resource: Some("https://mail.example.com/mcp".into()),
            account: account(),
            policy: SendPolicy::Ask,
            upstream: None,
        }
    }

    pub fn access() -> AccessClaims {
        AccessClaims {
            client: client_fingerprint("client-id"),
            scope: "mail".into(),
            account: account(),
            family: Some("0b7c2f0e5d3a4c1e9f8a7b6c5d4e3f2a".into()),
            policy: SendPolicy::DraftsOnly,
            upstream: None,
        }
    }

    pub fn refresh() -> RefreshClaims {
        RefreshClaims {
            client: client_fingerprint("client-id"),
            scope: "mail".into(),
            account: account(),
            family: "0b7c2f0e5d3a4c1e9f8a7b6c5d4e3f2a".into(),
            policy: SendPolicy::SendFreely,
            upstream: None,
        }
    }

    pub fn form() -> FormClaims {
        FormClaims {
            client_id: "client-id".into(),
            redirect_uri: "https://claude.ai/api/mcp/auth_callback".into(),
            state: Some("xyz".into()),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scope: "mail".into(),
            resource: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures;
    use super::*;

    #[test]
    fn secret_matches_only_the_secret_that_was_hashed() {
        let client = fixtures::client();
        let cases = [
            ("s3cret", true),
            ("s3cre", false),
            ("S3cret", false),
            ("", false),
        ];
        for (presented, expected) in cases {
            assert_eq!(client.secret_matches(presented), expected, "{presented:?}");
        }
    }

    /// Access claims sealed before they carried a family still open (with none), and a
    /// family is written only when there is one.
    #[test]
    fn access_claims_without_a_family_still_open() {
        let mut claims = fixtures::access();
        let with = serde_json::to_value(&claims).unwrap();
        assert_eq!(with["family"], "0b7c2f0e5d3a4c1e9f8a7b6c5d4e3f2a");
        claims.family = None;
        let without = serde_json::to_value(&claims).unwrap();
        assert!(without.get("family").is_none(), "{without}");
        let opened: AccessClaims = serde_json::from_value(without).unwrap();
        assert_eq!(opened, claims);
    }

    /// Refresh claims sealed before OAuth sign-in still open (with no grant), a grant is
    /// written only when there is one, and its Debug never shows the refresh token.
    #[test]
    fn claims_without_an_upstream_grant_still_open_and_grants_stay_redacted() {
        let mut claims = fixtures::refresh();
        let old = serde_json::to_value(&claims).unwrap();
        assert!(old.get("upstream").is_none(), "{old}");
        let opened: RefreshClaims = serde_json::from_value(old).unwrap();
        assert_eq!(opened, claims);
        claims.upstream = Some(UpstreamGrant {
            provider: "gmail-oauth".into(),
            refresh_token: "1//upstream-refresh".into(),
        });
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["upstream"]["provider"], "gmail-oauth");
        let debug = format!("{claims:?}");
        assert!(!debug.contains("1//upstream-refresh"), "{debug}");
    }

    #[test]
    fn a_client_without_a_secret_matches_no_secret() {
        let client = ClientClaims {
            secret_hash: None,
            ..fixtures::client()
        };
        assert!(!client.secret_matches(""));
        assert!(!client.secret_matches("s3cret"));
    }

    #[test]
    fn digests_are_unpadded_base64url_sha256() {
        // SHA-256("abc"), a FIPS 180-2 test vector, in base64url.
        assert_eq!(
            hash_secret("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_eq!(client_fingerprint("abc"), hash_secret("abc"));
    }

    #[test]
    fn auth_method_uses_the_rfc_7591_names() {
        let cases = [
            (AuthMethod::None, "none"),
            (AuthMethod::ClientSecretPost, "client_secret_post"),
            (AuthMethod::ClientSecretBasic, "client_secret_basic"),
        ];
        for (method, name) in cases {
            assert_eq!(serde_json::to_value(method).unwrap(), name);
        }
    }

    #[test]
    fn empty_options_are_left_out_of_the_json() {
        let client = ClientClaims {
            name: None,
            redirect_uris: vec![],
            secret_hash: None,
            mail: None,
            auth_method: AuthMethod::None,
        };
        let json = serde_json::to_value(&client).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"redirect_uris": [], "auth_method": "none"})
        );
    }

    #[test]
    fn debug_of_claims_holding_an_account_never_shows_the_password() {
        let debugs = [
            format!("{:?}", fixtures::code()),
            format!("{:?}", fixtures::access()),
            format!("{:?}", fixtures::refresh()),
        ];
        for debug in debugs {
            assert!(debug.contains("alice@example.org"), "{debug}");
            assert!(!debug.contains(fixtures::PASSWORD), "{debug}");
        }
    }
}
