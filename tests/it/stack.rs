//! The test harness and the mail stack it starts: mailboxes, delivery, submission,
//! special-use folders, S3 and redis behave as the other integration tests assume.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    append, deliver, fetch_raw, imap_session, imap_session_plain, stack, try_deliver,
    try_imap_session, try_submit, wait_for_message_containing, wait_for_messages,
};
use futures::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@test.example.test>\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

/// The part after the first blank line: what no server may change.
fn body(raw: &[u8]) -> &[u8] {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("message has a header/body separator");
    &raw[at + 4..]
}

fn header<'a>(raw: &'a [u8], name: &str) -> Option<&'a str> {
    let head = std::str::from_utf8(&raw[..raw.len() - body(raw).len()]).ok()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A new user can log in at once over IMAPS and over the plain IMAP port (no STARTTLS),
/// and sees an empty INBOX.
#[tokio::test]
async fn new_user_logs_in_over_imaps_and_plain_imap() {
    let user = stack().new_user("login");

    let mut tls = imap_session(&user).await;
    assert_eq!(tls.select("INBOX").await.unwrap().exists, 0);
    tls.logout().await.unwrap();

    let mut plain = imap_session_plain(&user).await;
    assert_eq!(plain.select("INBOX").await.unwrap().exists, 0);
    plain.logout().await.unwrap();
}

/// A wrong password is refused at once, and does not delay the next, correct login
/// (Dovecot's failure delay and anvil penalty are off).
#[tokio::test]
async fn wrong_password_is_refused_without_slowing_later_logins() {
    let user = stack().new_user("wrongpw");
    let started = Instant::now();
    for _ in 0..3 {
        assert!(
            try_imap_session(&user.email, "not-the-password")
                .await
                .is_err()
        );
    }
    imap_session(&user).await.logout().await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "4 logins took {took:?}");
}

/// Mail injected on the plain SMTP port reaches the recipient's INBOX; above the headers
/// Postfix and Dovecot prepend, the message is byte-identical.
#[tokio::test]
async fn delivered_message_arrives_in_inbox_unchanged() {
    let user = stack().new_user("deliver");
    let raw = message(
        "sender@elsewhere.test",
        &user.email,
        "delivery-check",
        "Hello,\r\n\r\nline two: é ü\r\n",
    );

    deliver("sender@elsewhere.test", &[&user.email], &raw).await;

    let messages = wait_for_messages(&user, "INBOX", 1).await;
    assert_eq!(messages.len(), 1);
    let got = &messages[0].raw;
    assert!(
        got.ends_with(&raw),
        "stored message does not end with the sent one"
    );
    assert_eq!(body(got), body(&raw));
    assert_eq!(header(got, "Subject"), Some("delivery-check"));
    assert!(!messages[0].flags.iter().any(|f| f == "\\Seen"));
}

/// One delivery to two local users lands in both INBOXes.
#[tokio::test]
async fn delivery_to_several_recipients_reaches_each() {
    let (a, b) = (stack().new_user("multi-a"), stack().new_user("multi-b"));
    let raw = message("x@elsewhere.test", &a.email, "two-rcpts", "both\r\n");
    deliver("x@elsewhere.test", &[&a.email, &b.email], &raw).await;
    for user in [&a, &b] {
        let messages = wait_for_messages(user, "INBOX", 1).await;
        assert_eq!(body(&messages[0].raw), b"both\r\n");
    }
}

/// The unauthenticated SMTP port refuses mail for other domains (no open relay).
#[tokio::test]
async fn plain_smtp_refuses_mail_for_other_domains() {
    let raw = message("a@elsewhere.test", "b@other.test", "relay", "no\r\n");
    let err = try_deliver("a@elsewhere.test", &["b@other.test"], &raw)
        .await
        .expect_err("relaying must be refused");
    assert!(err.is_permanent(), "expected a 5xx answer, got {err}");
}

/// APPEND stores the exact bytes with the given flags, and FETCH gives them back.
#[tokio::test]
async fn append_to_sent_keeps_bytes_and_flags() {
    let user = stack().new_user("append");
    let raw = message(
        &user.email,
        "someone@elsewhere.test",
        "sent-copy",
        "sent\r\n",
    );

    append(&user, "Sent", &raw, &["\\Seen"]).await;

    let messages = fetch_raw(&user, "Sent").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].raw, raw);
    assert!(messages[0].flags.iter().any(|f| f == "\\Seen"));
    assert!(fetch_raw(&user, "INBOX").await.is_empty());
}

/// Every new mailbox has Sent, Drafts, Trash, Junk and Archive, subscribed, each marked
/// with its RFC 6154 special-use attribute.
#[tokio::test]
async fn special_use_folders_exist_with_their_attributes() {
    use async_imap::types::NameAttribute;

    let user = stack().new_user("folders");
    let mut session = imap_session(&user).await;
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let subscribed: Vec<_> = session
        .lsub(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    session.logout().await.unwrap();

    let expected = [
        ("Sent", NameAttribute::Sent),
        ("Drafts", NameAttribute::Drafts),
        ("Trash", NameAttribute::Trash),
        ("Junk", NameAttribute::Junk),
        ("Archive", NameAttribute::Archive),
    ];
    for (folder, attribute) in expected {
        let name = names
            .iter()
            .find(|n| n.name() == folder)
            .unwrap_or_else(|| panic!("no {folder} in LIST"));
        assert!(
            name.attributes().contains(&attribute),
            "{folder} lacks {attribute:?}: {:?}",
            name.attributes()
        );
        assert_eq!(name.delimiter(), Some("/"));
        assert!(
            subscribed.iter().any(|n| n.name() == folder),
            "{folder} not subscribed"
        );
    }
    assert!(names.iter().any(|n| n.name() == "INBOX"));
}

/// A user sends over submission (STARTTLS, AUTH) and SMTPS: mail to a local user arrives,
/// mail to an outside address goes to the catch-all mailbox, nothing leaves the machine.
#[tokio::test]
async fn submission_and_smtps_deliver_locally_and_to_the_catchall() {
    let stack = stack();
    let (sender, rcpt) = (stack.new_user("submit-from"), stack.new_user("submit-to"));
    let outside = format!("someone-{}@gmail.com", std::process::id());

    let local = message(&sender.email, &rcpt.email, "via-submission", "587\r\n");
    try_submit(&sender, false, &sender.email, &[&rcpt.email], &local)
        .await
        .expect("submission with STARTTLS");

    let subject = format!("via-smtps-{}", sender.email);
    let away = message(&sender.email, &outside, &subject, "465\r\n");
    try_submit(&sender, true, &sender.email, &[&outside], &away)
        .await
        .expect("submission over SMTPS");

    let got = wait_for_messages(&rcpt, "INBOX", 1).await;
    assert!(got[0].raw.ends_with(&local));
    let caught = wait_for_message_containing(&stack.catchall, "INBOX", subject.as_bytes()).await;
    assert_eq!(body(&caught.raw), b"465\r\n");
}

/// Submission refuses a wrong password.
#[tokio::test]
async fn submission_refuses_a_wrong_password() {
    let mut user = stack().new_user("submit-bad");
    let to = user.email.clone();
    user.password.push('x');
    let raw = message(&to, &to, "bad-auth", "no\r\n");
    let err = try_submit(&user, false, &to, &[&to], &raw)
        .await
        .expect_err("a wrong password must be refused");
    assert!(err.is_permanent(), "expected a 5xx answer, got {err}");
}

/// The S3 endpoint answers HTTP, and refuses an unsigned request (it checks SigV4).
#[tokio::test]
async fn s3_endpoint_answers_http_and_wants_signatures() {
    let stack = stack();
    let url = format!("{}/{}", stack.s3_endpoint, stack.s3_bucket);
    let response = reqwest::get(&url).await.expect("S3 endpoint answers");
    assert_eq!(
        response.status(),
        reqwest::StatusCode::FORBIDDEN,
        "GET {url}"
    );
}

/// redis answers PING.
#[tokio::test]
async fn redis_answers_ping() {
    let addr = stack()
        .redis_url
        .strip_prefix("redis://")
        .expect("REDIS_URL is redis://host:port")
        .to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 7];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}
