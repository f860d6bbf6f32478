//! Sending as one of the account's identities: addresses confirmed at sign-in under
//! "Also send as" may be a send's `from` (the delivered message and its Sent copy carry
//! the identity's name and address), any other is refused with nothing sent, and a reply
//! to mail sent to an identity goes out from it by default. The test Postfix does not
//! restrict sender addresses, so these show the acceptance path only.

use crate::common;

use common::app::{AuthRequest, TestServer};
use common::{deliver, error_text, fetch_raw, stack, wait_for_messages};
use mail_parser::MessageParser;
use serde_json::{Value, json};

const ALIAS: &str = "Ada Work <ada.work@example.test>";

/// Signs `user` in with `also_send_as`; returns the access token.
async fn token_with_identities(server: &TestServer, user: &common::TestUser, also: &str) -> String {
    let client = server.provision_client(stack());
    let request = AuthRequest::new();
    let response = server
        .submit_login_with(
            &client.client_id,
            &request,
            &[
                ("email", &user.email),
                ("password", &user.password),
                ("also_send_as", also),
            ],
        )
        .await;
    let code = TestServer::code_of(&response);
    let response = server
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// (display name, address) of the From header of `raw`.
fn from_of(raw: &[u8]) -> (Option<String>, String) {
    let parsed = MessageParser::default().parse(raw).unwrap();
    let from = parsed.from().unwrap().first().unwrap();
    (
        from.name().map(str::to_owned),
        from.address().unwrap().to_owned(),
    )
}

/// `from` = a confirmed alias: delivered and filed in Sent as "Ada Work <ada.work@…>".
#[tokio::test]
async fn a_send_from_a_confirmed_alias_carries_its_name_and_address() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let ada = stack.new_user("ada");
    let bob = stack.new_user("bob");
    let token = token_with_identities(&server, &ada, ALIAS).await;
    server
        .call_tool_ok(
            &token,
            "send_mail_message",
            json!({"to": bob.email, "subject": "From work", "text_body": "hi", "from": "ada.work@example.test"}),
        )
        .await;
    let delivered = wait_for_messages(&bob, "INBOX", 1).await;
    let expected = (
        Some("Ada Work".to_string()),
        "ada.work@example.test".to_string(),
    );
    assert_eq!(from_of(&delivered[0].raw), expected);
    let sent = fetch_raw(&ada, "Sent").await;
    assert_eq!(from_of(&sent[0].raw), expected);
}

/// `from` = an address not confirmed at sign-in: a tool error listing the allowed
/// addresses, and nothing is delivered or filed.
#[tokio::test]
async fn a_send_from_an_unconfirmed_address_is_refused_and_nothing_sent() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let ada = stack.new_user("ada");
    let bob = stack.new_user("bob");
    let token = token_with_identities(&server, &ada, ALIAS).await;
    let result = server
        .call_tool(
            &token,
            "send_mail_message",
            json!({"to": bob.email, "subject": "Spoof", "text_body": "hi", "from": "boss@example.test"}),
        )
        .await;
    let text = error_text(&result);
    assert!(text.contains("nothing was sent"), "{text}");
    assert!(
        text.contains(&ada.email) && text.contains("ada.work@example.test"),
        "{text}"
    );
    assert!(fetch_raw(&ada, "Sent").await.is_empty());
    assert!(fetch_raw(&bob, "INBOX").await.is_empty());
}

/// A reply (no `from`) to a message addressed to the alias goes out from the alias.
#[tokio::test]
async fn a_reply_goes_out_from_the_identity_the_parent_was_sent_to() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let ada = stack.new_user("ada");
    let bob = stack.new_user("bob");
    let token = token_with_identities(&server, &ada, ALIAS).await;
    let raw = format!(
        "From: Bob <{bob}>\r\nTo: ada.work@example.test\r\nSubject: Work question\r\nMessage-ID: <q1@example.test>\r\n\r\nAre you in?\r\n",
        bob = bob.email
    );
    deliver(&bob.email, &[&ada.email], raw.as_bytes()).await;
    let inbox = wait_for_messages(&ada, "INBOX", 1).await;
    server
        .call_tool_ok(
            &token,
            "reply_to_mail_message",
            json!({"folder": "INBOX", "uid": inbox[0].uid, "text_body": "Yes."}),
        )
        .await;
    let delivered = wait_for_messages(&bob, "INBOX", 1).await;
    assert_eq!(
        from_of(&delivered[0].raw),
        (
            Some("Ada Work".to_string()),
            "ada.work@example.test".to_string()
        )
    );
}

/// A bad "Also send as" entry re-renders the login form naming it, keeping what was typed.
#[tokio::test]
async fn a_bad_also_send_as_entry_re_renders_the_form() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let ada = stack.new_user("ada");
    let client = server.provision_client(stack);
    let response = server
        .submit_login_with(
            &client.client_id,
            &AuthRequest::new(),
            &[
                ("email", &ada.email),
                ("password", &ada.password),
                ("also_send_as", "ok@example.test, not an address"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Also send as: &#34;not an address&#34; is not an email address"),
        "{html}"
    );
    assert!(
        html.contains("ok@example.test, not an address"),
        "the typed value is kept"
    );
}

/// A draft saved with `from` = a confirmed alias goes out from it with send_draft (From
/// header and envelope), rather than being refused as someone else's draft.
#[tokio::test]
async fn a_draft_saved_as_an_alias_is_sent_as_that_alias() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let ada = stack.new_user("adadraft");
    let bob = stack.new_user("bobdraft");
    let token = token_with_identities(&server, &ada, ALIAS).await;
    let saved = server
        .call_tool_ok(
            &token,
            "create_draft_mail_message",
            json!({"to": bob.email, "subject": "Draft from work", "text_body": "hi", "from": "ada.work@example.test"}),
        )
        .await;
    let sent = server
        .call_tool_ok(
            &token,
            "send_draft",
            json!({"folder": saved["folder"], "uid": saved["uid"], "uid_validity": saved["uid_validity"]}),
        )
        .await;
    assert!(sent["message_id"].is_string(), "{sent}");
    let delivered = wait_for_messages(&bob, "INBOX", 1).await;
    let expected = (
        Some("Ada Work".to_string()),
        "ada.work@example.test".to_string(),
    );
    assert_eq!(from_of(&delivered[0].raw), expected);
}

/// reply_all answers everyone else on the parent but none of the account's own addresses:
/// neither the main address nor a confirmed alias is among the reply's recipients.
#[tokio::test]
async fn reply_all_leaves_out_every_own_address() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let ada = stack.new_user("adaall");
    let bob = stack.new_user("boball");
    let carol = stack.new_user("carolall");
    let token = token_with_identities(&server, &ada, ALIAS).await;
    let raw = format!(
        "From: Bob <{bob}>\r\nTo: ada.work@example.test, {carol}\r\nCc: {ada}\r\n\
         Subject: Plan\r\nMessage-ID: <p1-{id}@example.test>\r\n\r\nThoughts?\r\n",
        bob = bob.email,
        carol = carol.email,
        ada = ada.email,
        id = uuid::Uuid::new_v4().simple()
    );
    deliver(&bob.email, &[&ada.email], raw.as_bytes()).await;
    let inbox = wait_for_messages(&ada, "INBOX", 1).await;
    let reply = server
        .call_tool_ok(
            &token,
            "reply_to_mail_message",
            json!({"folder": "INBOX", "uid": inbox[0].uid, "text_body": "Agreed.", "reply_all": true}),
        )
        .await;
    let mut accepted: Vec<String> = reply["accepted_recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_lowercase())
        .collect();
    accepted.sort();
    let mut expected = vec![bob.email.to_lowercase(), carol.email.to_lowercase()];
    expected.sort();
    assert_eq!(accepted, expected, "{reply}");
}
