//! TLS handshakes that fail: an IMAP server with a certificate the server does not trust
//! (a second self-signed one), and SMTP set to implicit TLS on a port that speaks plain
//! SMTP. Verification stays on: the errors name the TLS failure, the host and the likely
//! cause, and a person signing in against such a server gets a readable page.

use mail_mcp::mail::{Endpoint, Security};
use mail_mcp::oauth_clients;
use mail_mcp::token::MailEndpoints;
use serde_json::json;

use super::imap_via;
use crate::common::app::{AuthRequest, TestServer};
use crate::common::bad_tls::UntrustedTls;
use crate::common::{error_text, fetch_raw, stack, wait_for_messages};

/// An IMAP server whose certificate is not trusted: the tool error names TLS, the server
/// and "not trusted", and no mail is read (verification is not turned off). The same
/// account pointed back at the real server works.
#[tokio::test]
async fn an_untrusted_imap_certificate_is_a_tls_error_naming_the_server() {
    let stack = stack();
    let untrusted = UntrustedTls::start().await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("badcert");
    let token = server.access_token_for(imap_via(stack, &user, untrusted.port));

    let refused = server.call_tool(&token, "list_mailboxes", json!({})).await;
    let text = error_text(&refused);
    let named = format!("IMAP server {}:{}", stack.host, untrusted.port);
    assert!(text.contains(&named), "{text}");
    assert!(text.contains("TLS"), "{text}");
    assert!(text.contains("not trusted"), "{text}");

    let token = server.access_token_for(stack.mail_account(&user));
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
}

/// SMTP set to implicit TLS on the submission port (which greets in plain text, for
/// STARTTLS): the send fails before anything is sent, naming the SMTP server and saying
/// the port does not answer with TLS; with STARTTLS, as the port expects, it is sent.
#[tokio::test]
async fn smtp_tls_on_a_plain_port_is_a_tls_error_suggesting_starttls() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("nottls");
    let mut account = stack.mail_account(&user);
    account.smtp.endpoint.security = Security::Tls;
    let token = server.access_token_for(account);
    let send = json!({
        "to": [user.email],
        "subject": "Never sent",
        "text_body": "TLS fails first.",
    });

    let refused = server
        .call_tool(&token, "send_mail_message", send.clone())
        .await;
    let text = error_text(&refused);
    let named = format!("SMTP server {}:{}", stack.host, stack.submission_port);
    assert!(text.contains(&named), "{text}");
    assert!(text.contains("TLS"), "{text}");
    assert!(text.contains("STARTTLS"), "{text}");
    assert!(
        fetch_raw(&user, "INBOX").await.is_empty(),
        "nothing was sent"
    );

    let token = server.access_token_for(stack.mail_account(&user));
    server.call_tool_ok(&token, "send_mail_message", send).await;
    wait_for_messages(&user, "INBOX", 1).await;
}

/// A person signing in to a client whose IMAP server has an untrusted certificate gets
/// the login page again with a readable reason naming the TLS failure and the server,
/// not a bare error status.
#[tokio::test]
async fn signing_in_against_an_untrusted_certificate_gets_a_readable_page() {
    let stack = stack();
    let untrusted = UntrustedTls::start().await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("badcertlogin");
    let mail = MailEndpoints {
        imap: Endpoint::new("127.0.0.1", untrusted.port, Security::Tls),
        smtp: Endpoint::new("127.0.0.1", stack.submission_port, Security::Starttls),
    };
    let uris = oauth_clients::DEFAULT_REDIRECT_URIS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let client = oauth_clients::provision(&server.codec(), None, mail, uris).unwrap();

    let request = AuthRequest::new();
    let page = server
        .submit_login(&client.client_id, &request, &user, &user.password)
        .await;
    let status = page.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}"
    );
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("not trusted"), "{html}");
    assert!(
        html.contains(&format!("127.0.0.1:{}", untrusted.port)),
        "{html}"
    );
}
