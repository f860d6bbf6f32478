//! OAuth 2.0 sign-in to IMAP and SMTP against real parts (`bin/oauth-stack`): tokens from a
//! real OpenID Connect provider (oidc-provider) through the authorization-code flow with
//! PKCE, checked by Dovecot's oauth2 passdb (XOAUTH2, OAUTHBEARER) and by Postfix through
//! Dovecot SASL; `mail_mcp::mail::sasl` builds the client side.

use std::time::Duration;

use async_imap::Client;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mail_mcp::mail::sasl::{self, ImapOAuthFailure, OAuthMechanism};
use reqwest::StatusCode;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::common::oauth::{OAuthStack, oauth_stack};
use crate::common::{TestUser, stack};

const MECHANISMS: [OAuthMechanism; 2] = [OAuthMechanism::XOAuth2, OAuthMechanism::OAuthBearer];

/// An IMAPS connection to the OAuth Dovecot, greeting read: `(client, SASL-IR offered)`.
async fn imaps_client() -> (Client<TlsStream<TcpStream>>, bool) {
    let tcp = TcpStream::connect((stack().host.as_str(), oauth_stack().imaps_port))
        .await
        .expect("connect to the OAuth IMAPS port");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = TlsConnector::from(stack().tls_config())
        .connect(name, tcp)
        .await
        .expect("TLS with the test CA");
    let mut client = Client::new(tls);
    let greeting = client
        .read_response()
        .await
        .expect("greeting")
        .expect("a greeting");
    let sasl_ir = format!("{:?}", greeting.parsed()).contains("SASL-IR");
    (client, sasl_ir)
}

/// Signs in over IMAPS with `mechanism`, as `user` with `token`.
async fn imap_sign_in(
    mechanism: OAuthMechanism,
    user: &str,
    token: &str,
    sasl_ir: Option<bool>,
) -> Result<async_imap::Session<TlsStream<TcpStream>>, ImapOAuthFailure> {
    let (client, offered) = imaps_client().await;
    sasl::authenticate(client, mechanism, user, token, sasl_ir.unwrap_or(offered))
        .await
        .map_err(|(failure, _client)| failure)
}

fn provider() -> &'static OAuthStack {
    oauth_stack()
}

/// The refusal of `token` for `user`, with the server's JSON reason.
async fn refusal(mechanism: OAuthMechanism, user: &str, token: &str) -> ImapOAuthFailure {
    match imap_sign_in(mechanism, user, token, None).await {
        Ok(_) => panic!("{mechanism} sign-in as {user} was accepted"),
        Err(failure) => failure,
    }
}

/// Dovecot's refusal: `NO`, after an error challenge `{"status":"401","schemes":"bearer",
/// "scope":"mail"}` for XOAUTH2 (Google's style), `{"status":"invalid_token"}` for
/// OAUTHBEARER (RFC 7628's words).
fn assert_refused_as_invalid_token(mechanism: OAuthMechanism, failure: &ImapOAuthFailure) {
    assert!(
        matches!(failure.error, async_imap::error::Error::No(_)),
        "the server says NO: {failure}"
    );
    let reason = failure
        .server_error
        .as_ref()
        .expect("Dovecot's JSON reason");
    let status = match mechanism {
        OAuthMechanism::XOAuth2 => "401",
        OAuthMechanism::OAuthBearer => "invalid_token",
    };
    assert_eq!(reason.status, status, "{failure}");
    // Dovecot 2.3 adds the scheme and the scope needed to XOAUTH2's answer only.
    if mechanism == OAuthMechanism::XOAuth2 {
        assert_eq!(reason.schemes.as_deref(), Some("bearer"), "{reason:?}");
        assert_eq!(reason.scope.as_deref(), Some("mail"), "{reason:?}");
    }
}

/// Proves the whole happy path of IMAP: a token from a real code + PKCE exchange signs in
/// with XOAUTH2 and with OAUTHBEARER, with and without SASL-IR, and SELECT INBOX works.
#[tokio::test]
async fn xoauth2_and_oauthbearer_sign_in_and_select_inbox() {
    let user = provider().new_account("imap");
    let tokens = provider().sign_in(&provider().client_id, &user).await;
    for mechanism in MECHANISMS {
        for sasl_ir in [true, false] {
            let mut session =
                imap_sign_in(mechanism, &user.email, &tokens.access_token, Some(sasl_ir))
                    .await
                    .unwrap_or_else(|e| panic!("{mechanism} (SASL-IR {sasl_ir}) refused: {e}"));
            let inbox = session.select("INBOX").await.expect("SELECT INBOX");
            assert_eq!(inbox.exists, 0, "a new mailbox is empty");
            session.logout().await.ok();
        }
    }
}

/// `token` with the first character of its JWT signature changed. (Not the last one: the
/// last base64url character of an RS256 signature carries only 2 bits, so changing it to
/// a character with the same high bits leaves the signature as it was, and valid.)
fn tampered(token: &str) -> String {
    let (unsigned, signature) = token.rsplit_once('.').expect("a JWT");
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{unsigned}.{flipped}{}", &signature[1..])
}

/// Proves that a token whose signature was changed is refused by both mechanisms, and that
/// Dovecot's JSON status (401 / invalid_token) reaches the caller.
#[tokio::test]
async fn a_tampered_token_is_refused_with_dovecots_json_status() {
    let user = provider().new_account("tampered");
    let tokens = provider().sign_in(&provider().client_id, &user).await;
    let tampered = tampered(&tokens.access_token);
    for mechanism in MECHANISMS {
        let failure = refusal(mechanism, &user.email, &tampered).await;
        assert_refused_as_invalid_token(mechanism, &failure);
    }
    // The genuine token still works: the refusal was the signature's.
    imap_sign_in(
        OAuthMechanism::XOAuth2,
        &user.email,
        &tokens.access_token,
        None,
    )
    .await
    .expect("the untampered token signs in");
}

/// Proves that a real access token past its `exp` (the short-lived client's live 1 s) is
/// refused by both mechanisms with Dovecot's JSON status.
#[tokio::test]
async fn an_expired_token_is_refused() {
    let user = provider().new_account("expired");
    let tokens = provider().sign_in(&provider().short_client_id, &user).await;
    assert_eq!(tokens.expires_in, 1);
    // Dovecot refuses exp < now, in whole seconds: wait until exp is surely past.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for mechanism in MECHANISMS {
        let failure = refusal(mechanism, &user.email, &tokens.access_token).await;
        assert_refused_as_invalid_token(mechanism, &failure);
    }
}

/// Proves that a valid token of one account cannot open another account's mailbox: the
/// `user=` / `a=` of the SASL message must match the token's `email`.
#[tokio::test]
async fn a_token_cannot_open_another_mailbox() {
    let alice = provider().new_account("alice");
    let bob = provider().new_account("bob");
    let tokens = provider().sign_in(&provider().client_id, &alice).await;
    for mechanism in MECHANISMS {
        let failure = refusal(mechanism, &bob.email, &tokens.access_token).await;
        assert!(
            matches!(failure.error, async_imap::error::Error::No(_)),
            "{failure}"
        );
    }
}

fn oauth_submission(user: &TestUser, token: &str) -> AsyncSmtpTransport<Tokio1Executor> {
    let ca = Certificate::from_pem(&stack().ca_pem()).expect("test CA");
    let tls = TlsParameters::builder("localhost".to_string())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(ca)
        .build_rustls()
        .expect("TLS parameters");
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(provider().submission_port)
        .tls(Tls::Required(tls))
        .credentials(sasl::smtp_credentials(&user.email, token))
        .authentication(sasl::SMTP_MECHANISMS.to_vec())
        .build()
}

fn note_to_self(user: &TestUser, subject: &str) -> Message {
    let me: Mailbox = user.email.parse().expect("an address");
    Message::builder()
        .from(me.clone())
        .to(me)
        .subject(subject)
        .body("sent with AUTH XOAUTH2\r\n".to_string())
        .expect("a message")
}

/// Proves SMTP AUTH XOAUTH2 through lettre on Postfix's submission port (STARTTLS, SASL by
/// the OAuth Dovecot): the message is accepted and arrives in the account's INBOX, read
/// over IMAP with the same token.
#[tokio::test]
async fn smtp_xoauth2_sends_a_message_that_arrives_in_the_inbox() {
    let user = provider().new_account("smtp");
    let tokens = provider().sign_in(&provider().client_id, &user).await;
    let subject = format!("xoauth2 {}", user.email);
    oauth_submission(&user, &tokens.access_token)
        .send(note_to_self(&user, &subject))
        .await
        .expect("Postfix accepts the message after AUTH XOAUTH2");
    let mut session = imap_sign_in(
        OAuthMechanism::XOAuth2,
        &user.email,
        &tokens.access_token,
        None,
    )
    .await
    .expect("IMAP sign-in");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let inbox = session.select("INBOX").await.expect("SELECT INBOX");
        if inbox.exists == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no mail after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let messages: Vec<_> =
        futures::TryStreamExt::try_collect(session.fetch("1", "BODY.PEEK[]").await.expect("FETCH"))
            .await
            .expect("FETCH answers");
    let raw = String::from_utf8_lossy(messages[0].body().expect("the message"));
    assert!(raw.contains(&format!("Subject: {subject}")), "{raw}");
}

/// Proves that Postfix refuses AUTH XOAUTH2 with a tampered token, so nothing is sent
/// (lettre stops at Dovecot's error challenge), and that the INBOX stays empty.
#[tokio::test]
async fn smtp_with_a_tampered_token_is_refused() {
    let user = provider().new_account("smtpbad");
    let tokens = provider().sign_in(&provider().client_id, &user).await;
    let tampered = tampered(&tokens.access_token);
    let error = oauth_submission(&user, &tampered)
        .send(note_to_self(&user, "must not arrive"))
        .await
        .expect_err("a tampered token is refused");
    assert!(error.to_string().contains("challenge"), "{error}");
    let mut session = imap_sign_in(
        OAuthMechanism::XOAuth2,
        &user.email,
        &tokens.access_token,
        None,
    )
    .await
    .expect("IMAP sign-in");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(session.select("INBOX").await.expect("SELECT").exists, 0);
}

/// Proves the refresh grant rotates: a new refresh token each time, the old one refused
/// with `invalid_grant`, and the refreshed access token signs in to IMAP.
#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let user = provider().new_account("refresh");
    let client = &provider().client_id;
    let first = provider().sign_in(client, &user).await;
    let first_refresh = first
        .refresh_token
        .clone()
        .expect("offline_access gives a refresh token");
    let second = provider()
        .refresh(client, &first_refresh)
        .await
        .expect("refresh");
    let second_refresh = second
        .refresh_token
        .clone()
        .expect("a rotated refresh token");
    assert_ne!(second_refresh, first_refresh, "the refresh token rotates");
    assert_ne!(second.access_token, first.access_token);
    imap_sign_in(
        OAuthMechanism::OAuthBearer,
        &user.email,
        &second.access_token,
        None,
    )
    .await
    .expect("the refreshed access token signs in");
    let reused = provider()
        .refresh(client, &first_refresh)
        .await
        .expect_err("old refresh token");
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.body["error"], "invalid_grant", "{}", reused.body);
}

/// Proves that a revoked refresh token can no longer be refreshed (`invalid_grant`): what
/// our server will see when a user disconnects the app at Google or Microsoft.
#[tokio::test]
async fn a_revoked_refresh_token_is_refused() {
    let user = provider().new_account("revoked");
    let client = &provider().client_id;
    let tokens = provider().sign_in(client, &user).await;
    let refresh = tokens.refresh_token.expect("a refresh token");
    provider().revoke(client, &refresh).await;
    let refused = provider()
        .refresh(client, &refresh)
        .await
        .expect_err("revoked");
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["error"], "invalid_grant", "{}", refused.body);
}

/// Proves that the id_token is signed by a key of the provider's JWKS and carries the
/// account's address as a verified `email`: where our server will learn the mailbox.
#[tokio::test]
async fn the_id_token_carries_the_verified_email() {
    let user = provider().new_account("idtoken");
    let tokens = provider().sign_in(&provider().client_id, &user).await;
    let id_token = tokens.id_token.expect("openid scope gives an id_token");
    let jwks: serde_json::Value = reqwest::get(&provider().jwks_uri)
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JWKS JSON");
    let jwk = josekit::jwk::Jwk::from_bytes(jwks["keys"][0].to_string()).expect("a JWK");
    let verifier = josekit::jws::RS256
        .verifier_from_jwk(&jwk)
        .expect("an RS256 key");
    let (claims, _header) =
        josekit::jwt::decode_with_verifier(&id_token, &verifier).expect("a valid signature");
    assert_eq!(claims.issuer(), Some(provider().issuer.as_str()));
    assert_eq!(
        claims.claim("email").and_then(|v| v.as_str()),
        Some(user.email.as_str())
    );
    assert_eq!(
        claims.claim("email_verified"),
        Some(&serde_json::Value::Bool(true))
    );
    assert!(
        claims
            .audience()
            .is_some_and(|aud| aud.contains(&provider().client_id.as_str()))
    );
}
