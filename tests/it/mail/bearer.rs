//! `mail::Imap` and `mail::Smtp` signing in with a bearer token (an endpoint that names a
//! SASL mechanism) against the OAuth Dovecot and Postfix of `bin/oauth-stack`: a token from
//! the real provider logs in over IMAPS and STARTTLS, with XOAUTH2 and OAUTHBEARER, and a
//! refused token is reported as refused credentials on both sides, never as a protocol
//! error or with the token in the text.

use mail_mcp::mail::sasl::OAuthMechanism;
use mail_mcp::mail::{
    Endpoint, Imap, MailError, MailSettings, Protocol, Security, ServerLogin, Smtp, TlsSettings,
};

use crate::common::oauth::oauth_stack;
use crate::common::{TestUser, stack};

fn settings() -> MailSettings {
    MailSettings::new(TlsSettings::new(Some(&stack().ca_file)).expect("the test CA loads"))
}

fn login(
    port: u16,
    security: Security,
    mechanism: OAuthMechanism,
    user: &TestUser,
    token: &str,
) -> ServerLogin {
    let mut endpoint = Endpoint::new(stack().host.clone(), port, security);
    endpoint.sasl = Some(mechanism);
    ServerLogin {
        endpoint,
        username: user.email.clone(),
        password: token.to_string(),
    }
}

/// A provider token signs in to IMAP (IMAPS and STARTTLS) with both mechanisms, and to
/// SMTP (submission and SMTPS).
#[tokio::test]
async fn a_provider_token_signs_in_to_imap_and_smtp() {
    let oauth = oauth_stack();
    let user = oauth.new_account("bearer-login");
    let token = oauth.sign_in(&oauth.client_id, &user).await.access_token;
    let (imap, smtp) = (Imap::new(settings()), Smtp::new(settings()));
    for mechanism in [OAuthMechanism::XOAuth2, OAuthMechanism::OAuthBearer] {
        for (port, security) in [
            (oauth.imaps_port, Security::Tls),
            (oauth.imap_port, Security::Starttls),
        ] {
            imap.check_login(&login(port, security, mechanism, &user, &token))
                .await
                .unwrap_or_else(|e| panic!("IMAP {mechanism} on {port}: {e}"));
        }
        for (port, security) in [
            (oauth.submission_port, Security::Starttls),
            (oauth.smtps_port, Security::Tls),
        ] {
            smtp.check_login(&login(port, security, mechanism, &user, &token))
                .await
                .unwrap_or_else(|e| panic!("SMTP on {port}: {e}"));
        }
    }
}

/// A token the servers refuse is `AuthFailed` for IMAP and for SMTP (whose refusal lettre
/// sees as an unexpected challenge), and no message repeats it.
#[tokio::test]
async fn a_refused_token_is_refused_credentials() {
    let oauth = oauth_stack();
    let user = oauth.new_account("bearer-refused");
    let token = "not-a-provider-token-e2bf1c";
    for mechanism in [OAuthMechanism::XOAuth2, OAuthMechanism::OAuthBearer] {
        let imap = Imap::new(settings())
            .check_login(&login(
                oauth.imaps_port,
                Security::Tls,
                mechanism,
                &user,
                token,
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(
                imap,
                MailError::AuthFailed {
                    protocol: Protocol::Imap
                }
            ),
            "IMAP {mechanism}: {imap}"
        );
        let smtp = Smtp::new(settings())
            .check_login(&login(
                oauth.submission_port,
                Security::Starttls,
                mechanism,
                &user,
                token,
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(
                smtp,
                MailError::AuthFailed {
                    protocol: Protocol::Smtp
                }
            ),
            "SMTP: {smtp}"
        );
        assert!(!format!("{imap} {smtp}").contains(token));
    }
}
