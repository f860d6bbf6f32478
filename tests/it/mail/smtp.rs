//! `mail::smtp` and `mail::check` against the real Postfix and Dovecot of
//! `bin/mail-stack`: SMTP logins over submission (STARTTLS) and SMTPS, how a wrong
//! password and an untrusted certificate are reported, and `verify_login` on both sides.

use crate::common;

use mail_mcp::mail::{
    Imap, MailError, MailSettings, Protocol, Security, ServerLogin, Smtp, TlsSettings, verify_login,
};

use common::{TestUser, stack};

fn settings() -> MailSettings {
    MailSettings::new(TlsSettings::new(Some(&stack().ca_file)).expect("the test CA loads"))
}

fn smtp() -> Smtp {
    Smtp::new(settings())
}

fn submission(user: &TestUser) -> ServerLogin {
    stack().mail_account(user).smtp
}

fn smtps(user: &TestUser) -> ServerLogin {
    let mut login = submission(user);
    login.endpoint.port = stack().smtps_port;
    login.endpoint.security = Security::Tls;
    login
}

#[tokio::test]
async fn logs_in_over_submission_and_smtps() {
    let user = stack().new_user("smtp-login");
    smtp().check_login(&submission(&user)).await.unwrap();
    smtp().check_login(&smtps(&user)).await.unwrap();
}

#[tokio::test]
async fn verifies_the_certificate_by_host_name_too() {
    let user = stack().new_user("smtp-by-name");
    for mut login in [submission(&user), smtps(&user)] {
        login.endpoint.host = "localhost".into();
        smtp().check_login(&login).await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed() {
    let user = stack().new_user("smtp-wrong-password");
    for mut login in [submission(&user), smtps(&user)] {
        login.password = "not-the-password".into();
        let err = smtp().check_login(&login).await.unwrap_err();
        assert!(
            matches!(
                err,
                MailError::AuthFailed {
                    protocol: Protocol::Smtp
                }
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let user = stack().new_user("smtp-untrusted");
    let public_only = Smtp::new(MailSettings::new(TlsSettings::public_roots()));
    for login in [submission(&user), smtps(&user)] {
        let err = public_only.check_login(&login).await.unwrap_err();
        assert!(matches!(err, MailError::Tls { .. }), "{err}");
        assert!(err.to_string().contains("not trusted"), "{err}");
    }
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let user = stack().new_user("smtp-closed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut login = submission(&user);
    login.endpoint.port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = smtp().check_login(&login).await.unwrap_err();
    assert!(matches!(err, MailError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn verify_login_checks_both_servers() {
    let user = stack().new_user("check-both");
    let imap = Imap::new(settings());
    let mut account = stack().mail_account(&user);

    let check = verify_login(&imap, &smtp(), &account).await;
    assert!(check.is_ok(), "{:?}", check.errors().collect::<Vec<_>>());

    account.smtp.password = "stale".into();
    let check = verify_login(&imap, &smtp(), &account).await;
    assert!(check.imap.is_ok());
    assert!(
        check
            .smtp
            .as_ref()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .is_auth_failure()
    );
    assert_eq!(check.errors().count(), 1);
}
