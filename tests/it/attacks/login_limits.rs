//! Attacks on the login limits: racing one form in parallel, learning the SMTP password
//! from the page, guessing one SMTP account through many IMAP accounts, exhausting the
//! shared IMAP connections with sign-ins pointed at a host that never greets, and flooding
//! from one address. Real Dovecot and Postfix stand behind counting loopback proxies (the
//! observable of how many connections reached them); the host that never greets is a
//! silent loopback listener (a fault no real server produces on demand).

use std::time::Duration;

use mail_mcp::mail::{Endpoint, Security};
use mail_mcp::token::MailEndpoints;
use serde_json::json;

use crate::common::app::{AuthRequest, TestServer, hidden_field};
use crate::common::silent::{CountingProxy, SilentServer};
use crate::common::stack;

/// A login page loaded once: its form token and cookie, posted as often as wanted.
struct LoadedForm {
    token: String,
    cookie: String,
}

async fn load_form(server: &TestServer, client_id: &str) -> LoadedForm {
    let page = server.authorize_page(client_id, &AuthRequest::new()).await;
    assert_eq!(page.status(), 200, "the login page loads");
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = hidden_field(&page.text().await.unwrap(), "form_token");
    LoadedForm { token, cookie }
}

/// Posts the loaded form with `fields` (over a name and the send_freely policy); status and page.
async fn post(server: &TestServer, form: &LoadedForm, fields: &[(&str, &str)]) -> (u16, String) {
    let mut body: Vec<(&str, &str)> = vec![
        ("form_token", &form.token),
        ("name", "Attacker"),
        ("policy", "send_freely"),
    ];
    body.extend_from_slice(fields);
    let response = server
        .http
        .post(server.direct("/oauth/authorize"))
        .header("cookie", &form.cookie)
        .form(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Posts the loaded form for `email` with a throwaway password.
async fn post_as(server: &TestServer, form: &LoadedForm, email: &str) -> (u16, String) {
    post(
        server,
        form,
        &[("email", email), ("password", "x"), ("same_smtp", "on")],
    )
    .await
}

fn endpoints(imap_port: u16, imap: Security, smtp_port: u16, smtp: Security) -> MailEndpoints {
    MailEndpoints {
        imap: Endpoint::new("127.0.0.1", imap_port, imap),
        smtp: Endpoint::new("127.0.0.1", smtp_port, smtp),
    }
}

/// Thirty parallel posts of one form with a wrong password: the attempt is counted before
/// connecting and the count decides, so at most the per-account limit (5) of them reach
/// Dovecot; the rest get the limit page (429) and none signs in.
#[tokio::test]
async fn thirty_parallel_posts_of_one_form_reach_dovecot_at_most_the_limit() {
    let stack = stack();
    let user = stack.new_user("race");
    let imap = CountingProxy::start(stack.imaps_port).await;
    let flags = [
        "--login-max-in-flight-per-account",
        "100",
        "--login-max-in-flight-per-ip",
        "100",
    ];
    let server = TestServer::start(stack, &flags).await;
    let client = server.provision_client_for(endpoints(
        imap.port,
        Security::Tls,
        stack.submission_port,
        Security::Starttls,
    ));
    let form = load_form(&server, &client.client_id).await;
    let fields = [
        ("email", user.email.as_str()),
        ("password", "wrong-password"),
        ("same_smtp", "on"),
    ];
    let posts = (0..30).map(|_| post(&server, &form, &fields));
    let results = futures::future::join_all(posts).await;
    let limited = results.iter().filter(|(status, _)| *status == 429).count();
    assert!(
        results.iter().all(|(s, _)| *s == 422 || *s == 429),
        "{results:?}"
    );
    assert!(
        imap.connections() <= 5,
        "{} reached Dovecot",
        imap.connections()
    );
    assert!(limited >= 25, "{limited} of 30 got the limit page");
    let (_, page) = results.iter().find(|(s, _)| *s == 429).unwrap();
    assert!(page.contains("Too many failed sign-ins"), "{page}");
}

/// A wrong IMAP password never leads to an SMTP attempt, and the page is the same whether
/// the SMTP password typed would have been right or wrong: it cannot confirm a password.
#[tokio::test]
async fn a_wrong_imap_password_never_tries_smtp_nor_reveals_the_smtp_password() {
    let stack = stack();
    let user = stack.new_user("smtp-oracle");
    let smtp = CountingProxy::start(stack.submission_port).await;
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client_for(endpoints(
        stack.imaps_port,
        Security::Tls,
        smtp.port,
        Security::Starttls,
    ));
    let mut pages = Vec::new();
    for smtp_password in [user.password.as_str(), "wrong-smtp-password"] {
        let form = load_form(&server, &client.client_id).await;
        let fields = [
            ("email", user.email.as_str()),
            ("password", "wrong-imap-password"),
            ("smtp_username", user.email.as_str()),
            ("smtp_password", smtp_password),
        ];
        let (status, page) = post(&server, &form, &fields).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("IMAP:"), "{page}");
        assert!(!page.contains("SMTP:"), "{page}");
        pages.push(error_lines(&page));
    }
    assert_eq!(pages[0], pages[1], "the same message either way");
    assert_eq!(smtp.connections(), 0, "SMTP was never tried");
}

/// The page's error lines (the text between the error markers is all that differs).
fn error_lines(page: &str) -> Vec<String> {
    page.lines()
        .filter(|l| l.contains("IMAP:") || l.contains("SMTP:") || l.contains("Too many"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Guessing one SMTP account's password through many (valid) IMAP accounts: the SMTP
/// account has its own count, so the sixth try is refused before anything connects.
#[tokio::test]
async fn one_smtp_account_is_counted_across_imap_accounts() {
    let stack = stack();
    let victim = stack.new_user("smtp-victim");
    let smtp = CountingProxy::start(stack.submission_port).await;
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client_for(endpoints(
        stack.imaps_port,
        Security::Tls,
        smtp.port,
        Security::Starttls,
    ));
    let mut statuses = Vec::new();
    for i in 0..6 {
        let helper = stack.new_user(&format!("smtp-guess{i}"));
        let form = load_form(&server, &client.client_id).await;
        let guess = format!("guess-{i}");
        let fields = [
            ("email", helper.email.as_str()),
            ("password", helper.password.as_str()),
            ("smtp_username", victim.email.as_str()),
            ("smtp_password", guess.as_str()),
        ];
        let (status, page) = post(&server, &form, &fields).await;
        assert!(!page.contains("code="), "no sign-in");
        statuses.push(status);
    }
    assert_eq!(statuses[..5], [422; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    assert_eq!(
        smtp.connections(),
        5,
        "the sixth guess never reached Postfix"
    );
}

/// Two hundred sign-ins pointed at a host that never greets do not block a tenant's tool
/// call (login checks have their own budget, not the IMAP pool's connections): the call
/// completes while the flood is in flight; the flood gets refusals, and reaches the silent
/// host at most LOGIN_CHECK_MAX times. Time-outs count as failures: an account whose
/// sign-ins time out is limited like one with wrong passwords.
#[tokio::test]
async fn a_flood_at_a_silent_host_does_not_block_tenants_and_timeouts_count() {
    let stack = stack();
    let tenant = stack.new_user("flood-tenant");
    let silent = SilentServer::start().await;
    let flags = [
        "--imap-pool-max",
        "8",
        "--mail-connect-timeout",
        "2s",
        "--login-max-in-flight-per-ip",
        "1000",
        "--login-max-failures-per-ip",
        "1000",
        "--login-check-max",
        "16",
    ];
    let server = TestServer::start(stack, &flags).await;
    let client = server.provision_client_for(endpoints(
        silent.port,
        Security::Plain,
        silent.port,
        Security::Plain,
    ));
    let form = load_form(&server, &client.client_id).await;
    let emails: Vec<String> = (0..200).map(|i| format!("flood{i}@example.com")).collect();
    let flood =
        futures::future::join_all(emails.iter().map(|email| post_as(&server, &form, email)));
    let token = server.access_token_for(stack.mail_account(&tenant));
    let tenant_call = async {
        while silent.accepted() < 8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
            .call_tool_ok(&token, "list_mailboxes", json!({}))
            .await
    };
    let (results, listed) = tokio::join!(flood, tenant_call);
    assert!(listed.to_string().contains("INBOX"), "{listed}");
    assert!(results.iter().all(|(s, _)| *s == 422 || *s == 429));
    assert!(
        results.iter().any(|(s, _)| *s == 429),
        "the budget refused some"
    );
    assert!(
        silent.accepted() <= 16,
        "{} reached the host",
        silent.accepted()
    );

    // Time-outs count: five timed-out sign-ins of one account, then the limit page.
    for attempt in 0..6 {
        let fields = [
            ("email", "slow@example.com"),
            ("password", "x"),
            ("same_smtp", "on"),
        ];
        let (status, page) = post(&server, &form, &fields).await;
        let expected = if attempt < 5 { 422 } else { 429 };
        assert_eq!(status, expected, "attempt {attempt}: {page}");
    }
}

/// Sign-ins from one address are capped in flight: of ten parallel posts (ten different
/// accounts) at a host that never greets, at most LOGIN_MAX_IN_FLIGHT_PER_IP (4) connect;
/// the others are refused at once with a page saying a sign-in is still being checked.
#[tokio::test]
async fn sign_ins_in_flight_from_one_address_are_capped() {
    let stack = stack();
    let silent = SilentServer::start().await;
    let server = TestServer::start(stack, &["--mail-connect-timeout", "1s"]).await;
    let client = server.provision_client_for(endpoints(
        silent.port,
        Security::Plain,
        silent.port,
        Security::Plain,
    ));
    let form = load_form(&server, &client.client_id).await;
    let emails: Vec<String> = (0..10).map(|i| format!("per-ip{i}@example.com")).collect();
    let results =
        futures::future::join_all(emails.iter().map(|email| post_as(&server, &form, email))).await;
    let busy: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    assert!(busy.len() >= 6, "{results:?}");
    assert!(
        busy.iter()
            .all(|(_, page)| page.contains("still being checked"))
    );
    assert!(silent.accepted() <= 4, "{} connected", silent.accepted());
}
