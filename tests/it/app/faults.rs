//! Mail-side faults through [`FaultProxy`] between the server and the stack: each gives a
//! tool error naming the side that failed (never a hang), and the next call works again
//! (the warm pool hands out no dead session).

use mail_mcp::mail::MailAccount;
use serde_json::json;

use crate::common::app::TestServer;
use crate::common::fault_proxy::{Direction, FaultProxy};
use crate::common::{Stack, TestUser, append, error_text, stack};

/// `user`'s account with IMAP and/or SMTP going through proxies on these ports.
fn account_via(
    stack: &Stack,
    user: &TestUser,
    imap: Option<u16>,
    smtp: Option<u16>,
) -> MailAccount {
    let mut account = stack.mail_account(user);
    if let Some(port) = imap {
        account.imap.endpoint.port = port;
    }
    if let Some(port) = smtp {
        account.smtp.endpoint.port = port;
    }
    account
}

/// A message far larger than the proxy's cut points (about 200 KB of text).
fn large_message(subject: &str) -> Vec<u8> {
    let line = "All work and no play makes a long message for the fault proxy to cut.\r\n";
    format!(
        "From: Carol <carol@example.test>\r\nTo: someone@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.test>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n{}",
        uuid::Uuid::new_v4().simple(),
        line.repeat(3000)
    )
    .into_bytes()
}

/// The IMAP server going down (its port refuses, open connections drop) makes the next
/// call a tool error that names the IMAP server, not a hang; once it is back, calls work.
#[tokio::test]
async fn imap_down_is_an_error_naming_the_imap_server_and_the_pool_recovers() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("imapdown");
    let token = server.access_token_for(account_via(stack, &user, Some(proxy.port), None));
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;

    proxy.go_down();
    let down = server.call_tool(&token, "list_mailboxes", json!({})).await;
    let text = error_text(&down);
    let named = format!("IMAP server {}:{}", stack.host, proxy.port);
    assert!(text.contains(&named), "{text}");

    proxy.come_back().await;
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
}

/// A connection cut in the middle of a FETCH answer is a tool error naming the IMAP
/// server; the next call opens a new connection and reads the message in full.
#[tokio::test]
async fn a_fetch_cut_midway_is_an_error_and_the_next_call_reads_the_message() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("cutfetch");
    append(&user, "INBOX", &large_message("Long one"), &[]).await;
    let token = server.access_token_for(account_via(stack, &user, Some(proxy.port), None));
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
    let message = json!({"folder": "INBOX", "uid": 1});

    proxy.cut_after(Direction::FromMailServer, 8 * 1024);
    let cut = server
        .call_tool(&token, "get_mail_message", message.clone())
        .await;
    let text = error_text(&cut);
    assert!(text.contains("IMAP server"), "{text}");
    assert!(text.contains(&proxy.port.to_string()), "{text}");

    let connections = proxy.accepted();
    let read = server
        .call_tool_ok(&token, "get_mail_message", message)
        .await;
    assert_eq!(read["subject"], "Long one", "{read}");
    assert!(
        proxy.accepted() > connections,
        "a new connection replaced the cut one"
    );
}

/// An SMTP connection cut in the middle of DATA is reported as "may not have been sent",
/// naming the idempotency key to retry with (not "nothing was sent", which would be a
/// guess). A retry with that key is not sent (it could be a duplicate): it says the
/// earlier attempt may have gone; with resend_uncertain it sends, once, and a retry after
/// that is answered as already sent.
#[tokio::test]
async fn an_smtp_cut_mid_data_may_not_have_been_sent_and_names_the_key() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.submission_port).await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("cutdata");
    let token = server.access_token_for(account_via(stack, &user, None, Some(proxy.port)));
    let key = format!("fault-key-{}", uuid::Uuid::new_v4().simple());
    let send = json!({
        "to": [user.email],
        "subject": "Cut in DATA",
        "text_body": "A long body that does not fit before the cut.\n".repeat(6000),
        "idempotency_key": key,
    });

    proxy.cut_after(Direction::ToMailServer, 32 * 1024);
    let cut = server
        .call_tool(&token, "send_mail_message", send.clone())
        .await;
    let text = error_text(&cut);
    assert!(text.contains("may not have been sent"), "{text}");
    assert!(text.contains(&key), "{text}");
    assert!(
        text.contains(&format!("SMTP server {}:{}", stack.host, proxy.port)),
        "{text}"
    );
    assert!(!text.contains("nothing was sent"), "{text}");

    let refused = server
        .call_tool(&token, "send_mail_message", send.clone())
        .await;
    let text = error_text(&refused);
    assert!(text.contains("not sent again"), "{text}");
    assert!(text.contains("resend_uncertain"), "{text}");
    assert!(text.contains(&key), "{text}");

    let mut resend = send.clone();
    resend["resend_uncertain"] = json!(true);
    let resent = server
        .call_tool_ok(&token, "send_mail_message", resend.clone())
        .await;
    assert_eq!(resent["already_sent"], false, "{resent}");
    crate::common::wait_for_messages(&user, "INBOX", 1).await;
    let again = server
        .call_tool_ok(&token, "send_mail_message", resend)
        .await;
    assert_eq!(again["already_sent"], true, "{again}");
    let once_more = server.call_tool_ok(&token, "send_mail_message", send).await;
    assert_eq!(once_more["already_sent"], true, "{once_more}");
    assert_eq!(
        crate::common::wait_for_messages(&user, "INBOX", 1)
            .await
            .len(),
        1
    );
}

/// The record of a send whose DATA was cut is shared: with two instances on one Redis, the
/// retry reaching the other instance is not sent either (no duplicate behind a load
/// balancer), and after a resend there, a retry on the first is answered as sent.
#[tokio::test]
async fn a_retry_after_a_cut_send_on_another_instance_is_not_sent_again() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.submission_port).await;
    let redis = stack.own_redis_url();
    let first = TestServer::start(stack, &["--redis-url", &redis]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second =
        TestServer::start_another_instance(&first, listener, stack, &["--redis-url", &redis]).await;
    let user = stack.new_user("cutshared");
    let token = first.access_token_for(account_via(stack, &user, None, Some(proxy.port)));
    let send = json!({
        "to": [user.email],
        "subject": "Cut in DATA, retried elsewhere",
        "text_body": "A long body that does not fit before the cut.\n".repeat(6000),
        "idempotency_key": format!("shared-key-{}", uuid::Uuid::new_v4().simple()),
    });

    proxy.cut_after(Direction::ToMailServer, 32 * 1024);
    let cut = first
        .call_tool(&token, "send_mail_message", send.clone())
        .await;
    assert!(error_text(&cut).contains("may not have been sent"));

    let elsewhere = second
        .call_tool(&token, "send_mail_message", send.clone())
        .await;
    let text = error_text(&elsewhere);
    assert!(text.contains("not sent again"), "{text}");

    let mut resend = send.clone();
    resend["resend_uncertain"] = json!(true);
    let resent = second
        .call_tool_ok(&token, "send_mail_message", resend)
        .await;
    assert_eq!(resent["already_sent"], false, "{resent}");
    let back = first.call_tool_ok(&token, "send_mail_message", send).await;
    assert_eq!(back["already_sent"], true, "{back}");
    assert_eq!(
        crate::common::wait_for_messages(&user, "INBOX", 1)
            .await
            .len(),
        1
    );
}

/// An IMAP server that stops answering (every byte held) beyond the time limits gives a
/// timeout error naming the IMAP server, within the limits, and the calls work again once
/// it answers.
#[tokio::test]
async fn a_silent_imap_server_times_out_naming_the_side() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let limits = [
        "--mail-connect-timeout",
        "1s",
        "--mail-command-timeout",
        "1s",
    ];
    let server = TestServer::start(stack, &limits).await;
    let user = stack.new_user("slowimap");
    let token = server.access_token_for(account_via(stack, &user, Some(proxy.port), None));
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;

    proxy.hold();
    let slow = server.call_tool(&token, "list_mailboxes", json!({})).await;
    let text = error_text(&slow);
    assert!(
        text.contains(&format!("IMAP server {}:{}", stack.host, proxy.port)),
        "{text}"
    );
    assert!(
        text.contains("within 1 s") || text.contains("timed out"),
        "{text}"
    );

    proxy.release();
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
}

/// An SMTP server silent from the greeting on (every byte held) beyond the time limits:
/// the send never reached the message, so it says "nothing was sent" (not "may not have
/// been sent"), and a retry with the same idempotency key, once the server answers, is
/// sent, once, without needing resend_uncertain.
#[tokio::test]
async fn a_silent_smtp_server_before_the_message_is_nothing_sent_and_the_retry_sends() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.submission_port).await;
    let limits = [
        "--mail-connect-timeout",
        "1s",
        "--mail-command-timeout",
        "1s",
    ];
    let server = TestServer::start(stack, &limits).await;
    let user = stack.new_user("slowsmtp");
    let token = server.access_token_for(account_via(stack, &user, None, Some(proxy.port)));
    let key = format!("silent-key-{}", uuid::Uuid::new_v4().simple());
    let send = json!({
        "to": [user.email],
        "subject": "Held at the greeting",
        "text_body": "Short.\n",
        "idempotency_key": key,
    });

    proxy.hold();
    let silent = server
        .call_tool(&token, "send_mail_message", send.clone())
        .await;
    let text = error_text(&silent);
    assert!(text.contains("nothing was sent"), "{text}");
    assert!(
        text.contains(&format!("SMTP server {}:{}", stack.host, proxy.port)),
        "{text}"
    );
    assert!(!text.contains("may not have been sent"), "{text}");

    proxy.release();
    let sent = server.call_tool_ok(&token, "send_mail_message", send).await;
    assert_eq!(sent["already_sent"], false, "{sent}");
    assert_eq!(
        crate::common::wait_for_messages(&user, "INBOX", 1)
            .await
            .len(),
        1
    );
}
