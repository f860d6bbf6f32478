//! SASL sign-in with an OAuth 2.0 bearer token: the XOAUTH2 mechanism of Google and
//! Microsoft and the standard OAUTHBEARER (RFC 7628), for IMAP `AUTHENTICATE` (through
//! async-imap, with SASL-IR where the server offers it) and for SMTP `AUTH` (lettre, which
//! knows XOAUTH2 only).
//!
//! This module only builds the client's messages and reads the server's refusal; it gets
//! no token itself (IMAP and SMTP connecting use it when an endpoint names a mechanism).
//! A token is never logged: the types holding one print it redacted.

use std::fmt;

use async_imap::{Authenticator, Client, Session};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

/// A SASL mechanism that carries an OAuth 2.0 bearer token (`xoauth2`, `oauthbearer` in
/// files and tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OAuthMechanism {
    /// Google's and Microsoft's `XOAUTH2`.
    #[serde(rename = "xoauth2")]
    XOAuth2,
    /// `OAUTHBEARER`, RFC 7628.
    #[serde(rename = "oauthbearer")]
    OAuthBearer,
}

impl OAuthMechanism {
    /// The name in `AUTHENTICATE` / `AUTH` and in the server's capabilities.
    pub fn name(self) -> &'static str {
        match self {
            OAuthMechanism::XOAuth2 => "XOAUTH2",
            OAuthMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The client's first (and only) message for `user` with `token`, before base64.
    pub fn initial_response(self, user: &str, token: &str) -> Vec<u8> {
        match self {
            OAuthMechanism::XOAuth2 => xoauth2_initial_response(user, token),
            OAuthMechanism::OAuthBearer => oauthbearer_initial_response(user, token),
        }
    }

    /// What the client answers to the server's error challenge, so that the server ends
    /// the exchange with its failure reply: nothing for XOAUTH2, a lone `%x01` for
    /// OAUTHBEARER (RFC 7628 §3.2.3).
    fn error_acknowledgement(self) -> Vec<u8> {
        match self {
            OAuthMechanism::XOAuth2 => Vec::new(),
            OAuthMechanism::OAuthBearer => vec![0x01],
        }
    }
}

impl fmt::Display for OAuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `user={user}^Aauth=Bearer {token}^A^A` (Google's XOAUTH2 protocol).
pub fn xoauth2_initial_response(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// `n,a={user},^Aauth=Bearer {token}^A^A`: the GS2 header naming the authorization
/// identity (`,` and `=` escaped as RFC 5801 says), then the `auth` key-value pair. The
/// optional `host` and `port` pairs are left out; servers do not need them.
pub fn oauthbearer_initial_response(user: &str, token: &str) -> Vec<u8> {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// The server's reason for refusing a token: the JSON of the error challenge (RFC 7628
/// §3.2.2; Google's XOAUTH2 sends the same), e.g. Dovecot's
/// `{"status":"401","schemes":"bearer","scope":"mail"}` for XOAUTH2 and
/// `{"status":"invalid_token"}` for OAUTHBEARER.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct OAuthServerError {
    /// `401` (token invalid or expired), `400`, `403`, ... (XOAUTH2), or RFC 7628's
    /// words: `invalid_token`, `insufficient_scope`, ... (OAUTHBEARER).
    #[serde(default)]
    pub status: String,
    /// The authentication schemes the server takes, usually `bearer`.
    #[serde(default)]
    pub schemes: Option<String>,
    /// The scope a token needs.
    #[serde(default)]
    pub scope: Option<String>,
}

impl OAuthServerError {
    /// Reads an error challenge (already base64-decoded); `None` when it is not JSON.
    pub fn parse(challenge: &[u8]) -> Option<Self> {
        serde_json::from_slice(challenge).ok()
    }
}

impl fmt::Display for OAuthServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server refused the token (status {}", self.status)?;
        if let Some(scope) = &self.scope {
            write!(f, ", scope needed: {scope}")?;
        }
        f.write_str(")")
    }
}

/// An `async_imap::Authenticator` for XOAUTH2 and OAUTHBEARER that remembers the server's
/// error challenge. It is passed as `&mut`, so that the error can be read after a refusal;
/// [`authenticate`] does the whole exchange.
pub struct OAuthAuthenticator {
    mechanism: OAuthMechanism,
    initial_response: Option<Vec<u8>>,
    server_error: Option<Vec<u8>>,
}

impl OAuthAuthenticator {
    pub fn new(mechanism: OAuthMechanism, user: &str, token: &str) -> Self {
        OAuthAuthenticator {
            mechanism,
            initial_response: Some(mechanism.initial_response(user, token)),
            server_error: None,
        }
    }

    /// The argument of `AUTHENTICATE`: the mechanism name, followed with SASL-IR
    /// (RFC 4959) by the base64 initial response, which is then not sent again. Without
    /// SASL-IR the response waits for the server's first (empty) challenge.
    pub fn command_argument(&mut self, sasl_ir: bool) -> String {
        let name = self.mechanism.name();
        match self.initial_response.take_if(|_| sasl_ir) {
            Some(response) => format!("{name} {}", BASE64.encode(response)),
            None => name.to_string(),
        }
    }

    /// The server's error challenge, when it sent one, parsed.
    pub fn server_error(&self) -> Option<OAuthServerError> {
        self.server_error
            .as_deref()
            .and_then(OAuthServerError::parse)
    }
}

impl fmt::Debug for OAuthAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAuthenticator")
            .field("mechanism", &self.mechanism)
            .field("token", &"<redacted>")
            .field("server_error", &self.server_error())
            .finish()
    }
}

impl Authenticator for &mut OAuthAuthenticator {
    type Response = Vec<u8>;

    /// The first challenge (empty, without SASL-IR) gets the initial response; any later
    /// one is the server's error, kept and acknowledged.
    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if let Some(response) = self.initial_response.take() {
            return response;
        }
        self.server_error = Some(challenge.to_vec());
        self.mechanism.error_acknowledgement()
    }
}

/// Why an OAuth sign-in over IMAP failed: async-imap's error (the server's `NO`, or the
/// connection) and the server's error challenge, when it sent one.
#[derive(Debug)]
pub struct ImapOAuthFailure {
    pub error: async_imap::error::Error,
    pub server_error: Option<OAuthServerError>,
}

impl fmt::Display for ImapOAuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.server_error {
            Some(reason) => write!(f, "{reason}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for ImapOAuthFailure {}

/// `AUTHENTICATE` with `mechanism` as `user` with the bearer `token`, the initial response
/// inline when the server offers SASL-IR (`sasl_ir`, from its capabilities). async-imap's
/// own `authenticate` never sends SASL-IR: the initial response rides in the command
/// argument instead. Hands the client back on failure, like async-imap's `login`.
pub async fn authenticate<T>(
    client: Client<T>,
    mechanism: OAuthMechanism,
    user: &str,
    token: &str,
    sasl_ir: bool,
) -> Result<Session<T>, (ImapOAuthFailure, Client<T>)>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let mut authenticator = OAuthAuthenticator::new(mechanism, user, token);
    let command = authenticator.command_argument(sasl_ir);
    match client.authenticate(command, &mut authenticator).await {
        Ok(session) => Ok(session),
        Err((error, client)) => {
            let server_error = authenticator.server_error();
            Err((
                ImapOAuthFailure {
                    error,
                    server_error,
                },
                client,
            ))
        }
    }
}

/// lettre's credentials for SMTP `AUTH XOAUTH2` (use with
/// `.authentication(vec![Mechanism::Xoauth2])`): lettre 0.11 has no OAUTHBEARER, and on a
/// refused token it stops at the server's error challenge with a client error ("This
/// mechanism does not expect a challenge") rather than the server's 535.
pub fn smtp_credentials(
    user: &str,
    token: &str,
) -> lettre::transport::smtp::authentication::Credentials {
    lettre::transport::smtp::authentication::Credentials::new(user.to_string(), token.to_string())
}

/// The SMTP mechanisms lettre can sign in with using a bearer token.
pub const SMTP_MECHANISMS: [lettre::transport::smtp::authentication::Mechanism; 1] =
    [lettre::transport::smtp::authentication::Mechanism::Xoauth2];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_initial_response_is_googles_format() {
        assert_eq!(
            xoauth2_initial_response("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        // Google's documented base64 of that response.
        assert_eq!(
            BASE64.encode(xoauth2_initial_response(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            )),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn oauthbearer_initial_response_follows_rfc_7628() {
        // RFC 7628 §4.1 without the optional host and port pairs.
        assert_eq!(
            oauthbearer_initial_response("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            b"n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_escapes_the_authorization_identity() {
        assert_eq!(
            oauthbearer_initial_response("a=b,c@example.com", "t"),
            b"n,a=a=3Db=2Cc@example.com,\x01auth=Bearer t\x01\x01"
        );
    }

    #[test]
    fn sasl_ir_puts_the_initial_response_in_the_command() {
        let mut auth = OAuthAuthenticator::new(OAuthMechanism::XOAuth2, "u@example.test", "tok");
        let expected = BASE64.encode(xoauth2_initial_response("u@example.test", "tok"));
        assert_eq!(auth.command_argument(true), format!("XOAUTH2 {expected}"));
        // The next challenge is the server's error: kept, answered with an empty line.
        let challenge = br#"{"status":"401","schemes":"bearer","scope":"mail"}"#;
        assert_eq!((&mut auth).process(challenge), b"");
        assert_eq!(
            auth.server_error(),
            Some(OAuthServerError {
                status: "401".into(),
                schemes: Some("bearer".into()),
                scope: Some("mail".into()),
            })
        );
    }

    #[test]
    fn without_sasl_ir_the_first_challenge_gets_the_initial_response() {
        let mut auth =
            OAuthAuthenticator::new(OAuthMechanism::OAuthBearer, "u@example.test", "tok");
        assert_eq!(auth.command_argument(false), "OAUTHBEARER");
        assert_eq!(
            (&mut auth).process(b""),
            oauthbearer_initial_response("u@example.test", "tok")
        );
        assert_eq!(auth.server_error(), None);
        // OAUTHBEARER acknowledges the error challenge with a lone %x01.
        assert_eq!(
            (&mut auth).process(br#"{"status":"invalid_token"}"#),
            [0x01]
        );
        assert_eq!(
            auth.server_error().map(|e| e.status),
            Some("invalid_token".into())
        );
    }

    #[test]
    fn a_challenge_that_is_not_json_is_kept_unparsed() {
        let mut auth = OAuthAuthenticator::new(OAuthMechanism::XOAuth2, "u", "t");
        auth.command_argument(true);
        (&mut auth).process(b"not json");
        assert_eq!(auth.server_error(), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let auth =
            OAuthAuthenticator::new(OAuthMechanism::XOAuth2, "u@example.test", "secret-token");
        let shown = format!("{auth:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
