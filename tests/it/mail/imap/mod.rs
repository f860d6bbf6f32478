//! `mail::imap` against the real Dovecot of `bin/mail-stack`: logging in over IMAPS,
//! STARTTLS and plain; how failures are reported (wrong password, nothing listening, a
//! silent server, an untrusted certificate); listing folders with special use and counts;
//! opening and resolving folders.

mod large_messages;
mod pool;

use crate::common;

use std::time::Duration;

use mail_mcp::mail::imap::{self, SpecialUse};
use mail_mcp::mail::{
    Endpoint, Imap, MailError, MailSettings, Protocol, Security, ServerLogin, TlsSettings,
};
use tokio::net::TcpListener;

use common::{TestUser, stack};

fn settings() -> MailSettings {
    MailSettings::new(TlsSettings::new(Some(&stack().ca_file)).expect("the test CA loads"))
}

fn imap() -> Imap {
    Imap::new(settings())
}

fn login(user: &TestUser, port: u16, security: Security) -> ServerLogin {
    ServerLogin {
        endpoint: Endpoint::new(stack().host.clone(), port, security),
        username: user.email.clone(),
        password: user.password.clone(),
    }
}

fn imaps(user: &TestUser) -> ServerLogin {
    login(user, stack().imaps_port, Security::Tls)
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn logs_in_over_imaps_starttls_and_plain() {
    let user = stack().new_user("imap-login");
    for (port, security) in [
        (stack().imaps_port, Security::Tls),
        (stack().imap_port, Security::Starttls),
        (stack().imap_port, Security::Plain),
    ] {
        let mut session = imap()
            .session(&login(&user, port, security))
            .await
            .unwrap_or_else(|e| panic!("{security} login failed: {e}"));
        let inbox = session.examine("INBOX").await.unwrap();
        assert_eq!(inbox.exists, 0, "{security}");
        session.logout().await;
    }
}

#[tokio::test]
async fn verifies_the_certificate_by_host_name_too() {
    let user = stack().new_user("imap-by-name");
    let mut by_name = imaps(&user);
    by_name.endpoint.host = "localhost".into();
    imap().check_login(&by_name).await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed() {
    let user = stack().new_user("imap-wrong-password");
    let mut wrong = imaps(&user);
    wrong.password = "not-the-password".into();
    let err = imap().session(&wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            MailError::AuthFailed {
                protocol: Protocol::Imap
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("not-the-password"));
}

/// A closed port is a connect error saying "connection refused" (not a timeout after the
/// connect limit; the reason proves it without a wall-clock bound).
#[tokio::test]
async fn a_closed_port_is_a_connect_error_at_once() {
    let user = stack().new_user("imap-closed");
    let err = imap()
        .session(&login(&user, closed_port().await, Security::Tls))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn an_unknown_host_is_a_connect_error() {
    let user = stack().new_user("imap-no-host");
    let mut nowhere = imaps(&user);
    nowhere.endpoint.host = "no-such-host.invalid".into();
    let err = imap().session(&nowhere).await.unwrap_err();
    assert!(matches!(err, MailError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("could not be resolved"), "{err}");
}

#[tokio::test]
async fn a_server_that_never_greets_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut quick = settings();
    quick.connect_timeout = Duration::from_millis(300);
    let user = stack().new_user("imap-silent");
    let err = Imap::new(quick)
        .session(&login(&user, port, Security::Plain))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("greeting"), "{err}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let user = stack().new_user("imap-untrusted");
    let public_only = Imap::new(MailSettings::new(TlsSettings::public_roots()));
    for (port, security) in [
        (stack().imaps_port, Security::Tls),
        (stack().imap_port, Security::Starttls),
    ] {
        let err = public_only
            .session(&login(&user, port, security))
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::Tls { .. }), "{security}: {err}");
        assert!(err.to_string().contains("not trusted"), "{err}");
    }
}

#[tokio::test]
async fn tls_on_a_plain_port_says_so() {
    let user = stack().new_user("imap-tls-on-plain");
    let err = imap()
        .session(&login(&user, stack().imap_port, Security::Tls))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
}

#[tokio::test]
async fn lists_inbox_and_the_special_use_folders() {
    let user = stack().new_user("imap-list");
    let boxes = imap()
        .with_session(&imaps(&user), |s| Box::pin(imap::list_mailboxes(s, false)))
        .await
        .unwrap();
    let special = |name: &str| {
        let found = boxes.iter().find(|b| b.name == name);
        found
            .unwrap_or_else(|| panic!("no {name} in {boxes:?}"))
            .special_use
    };
    assert_eq!(special("INBOX"), None);
    assert_eq!(special("Sent"), Some(SpecialUse::Sent));
    assert_eq!(special("Drafts"), Some(SpecialUse::Drafts));
    assert_eq!(special("Trash"), Some(SpecialUse::Trash));
    assert_eq!(special("Junk"), Some(SpecialUse::Junk));
    assert_eq!(special("Archive"), Some(SpecialUse::Archive));
    assert!(boxes.iter().all(|b| b.messages.is_none()));
    assert!(boxes.iter().all(|b| b.delimiter.as_deref() == Some("/")));
}

#[tokio::test]
async fn counts_messages_and_unseen_when_asked() {
    let user = stack().new_user("imap-counts");
    let raw = b"From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n";
    common::append(&user, "INBOX", raw, &["\\Seen"]).await;
    common::append(&user, "INBOX", raw, &[]).await;
    common::append(&user, "Archive", raw, &[]).await;

    let boxes = imap()
        .with_session(&imaps(&user), |s| Box::pin(imap::list_mailboxes(s, true)))
        .await
        .unwrap();
    let counts = |name: &str| {
        let found = boxes.iter().find(|b| b.name == name).unwrap();
        (found.messages, found.unseen)
    };
    assert_eq!(counts("INBOX"), (Some(2), Some(1)));
    assert_eq!(counts("Archive"), (Some(1), Some(1)));
    assert_eq!(counts("Sent"), (Some(0), Some(0)));
}

#[tokio::test]
async fn folders_are_resolved_and_unknown_ones_listed() {
    let user = stack().new_user("imap-resolve");
    imap()
        .with_session(&imaps(&user), |s| {
            Box::pin(async move {
                assert_eq!(imap::resolve_folder(s, "inbox").await?, "INBOX");
                assert_eq!(imap::resolve_folder(s, "Sent").await?, "Sent");
                let err = imap::resolve_folder(s, "Sent Stuff").await.unwrap_err();
                let MailError::UnknownFolder { existing, .. } = &err else {
                    panic!("{err}")
                };
                assert!(existing.contains(&"Archive".to_owned()), "{err}");
                assert_eq!(
                    imap::find_special_use(s, SpecialUse::Sent)
                        .await?
                        .as_deref(),
                    Some("Sent")
                );
                Ok(())
            })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn select_reports_validity_and_names_unknown_folders() {
    let user = stack().new_user("imap-select");
    common::append(&user, "Drafts", b"Subject: d\r\n\r\nx\r\n", &[]).await;
    imap()
        .with_session(&imaps(&user), |s| {
            Box::pin(async move {
                let drafts = s.select("Drafts").await?;
                assert_eq!(drafts.exists, 1);
                assert!(drafts.uid_validity > 0);
                assert_eq!(drafts.uid_next, Some(2));

                let err = s.select("Nope").await.unwrap_err();
                assert!(matches!(err, MailError::UnknownFolder { .. }), "{err}");
                assert!(err.to_string().contains("INBOX"), "{err}");
                // The session is still usable after a refused SELECT.
                assert_eq!(s.examine("INBOX").await?.exists, 0);
                Ok(())
            })
        })
        .await
        .unwrap();
}

/// A stale uid_validity is refused before anything is read, and a raw fetch returns the
/// exact bytes of the named message (unknown UIDs are `UnknownMessage`) without marking it seen.
#[tokio::test]
async fn checked_selects_refuse_a_stale_validity_and_fetch_raw_is_exact() {
    let user = stack().new_user("imap-raw");
    let raw = b"Subject: raw\r\nFrom: a@example.test\r\n\r\nexact bytes\r\n";
    common::append(&user, "INBOX", raw, &[]).await;
    imap()
        .with_session(&imaps(&user), |s| {
            Box::pin(async move {
                let inbox = s.examine("INBOX").await?;
                let stale = s
                    .select_checked("INBOX", Some(inbox.uid_validity + 1))
                    .await;
                assert!(
                    matches!(stale, Err(MailError::FolderChanged { .. })),
                    "{stale:?}"
                );
                let inbox = s.select_checked("INBOX", Some(inbox.uid_validity)).await?;
                assert_eq!(s.fetch_raw(&inbox, 1).await?, raw.to_vec());
                let missing = s.fetch_raw(&inbox, 99).await.unwrap_err();
                assert!(
                    matches!(missing, MailError::UnknownMessage { uid: 99, .. }),
                    "{missing}"
                );
                Ok(())
            })
        })
        .await
        .unwrap();
    let messages = common::fetch_raw(&user, "INBOX").await;
    assert!(
        !messages[0].flags.iter().any(|f| f == "\\Seen"),
        "still unseen"
    );
}
