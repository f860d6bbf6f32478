//! "Ask me first" over raw HTTP against the real stack: a 2026-07-28 client with form
//! elicitation gets an input request and its retry is checked (altered, replayed, expired,
//! declined, another caller); an older client gets a confirmation link; permanent deletes
//! wait too; a send-freely token still sends at once. Outcomes are read from the mailboxes
//! over IMAP (the Sent copy is filed before the tool answers, so counting Sent is exact).

use crate::common;

use common::app::TestServer;
use common::{TestUser, append, fetch_raw, small_message, stack, wait_for_messages};
use mail_mcp::token::{ApprovalClaims, Purpose, SendPolicy, unix_now};
use serde_json::{Value, json};

const MODERN: &str = "2026-07-28";

struct Room {
    server: TestServer,
    token: String,
    alice: TestUser,
    bob: TestUser,
}

async fn room() -> Room {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user("ask");
    let token = server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::Ask);
    Room {
        server,
        token,
        alice,
        bob: stack.new_user("askbob"),
    }
}

/// `tools/call` as a 2026-07-28 client declaring form elicitation; `retry` adds
/// `inputResponses` and `requestState`. Returns the JSON-RPC result.
async fn modern_call(
    server: &TestServer,
    token: &str,
    name: &str,
    arguments: &Value,
    retry: Option<(&Value, &str)>,
) -> Value {
    let mut params = json!({
        "name": name,
        "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
            "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
        },
    });
    if let Some((responses, state)) = retry {
        params["inputResponses"] = responses.clone();
        params["requestState"] = json!(state);
    }
    let response = server
        .http
        .post(server.direct("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .bearer_auth(token)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body.get("error").is_none(), "{body}");
    body["result"].clone()
}

fn accept() -> Value {
    json!({"approval": {"action": "accept", "content": {"decision": "approve"}}})
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The form's message and the sealed state of an input-required result.
fn form_of(result: &Value) -> (String, String) {
    assert_eq!(result["resultType"], "input_required", "{result}");
    let form = &result["inputRequests"]["approval"];
    assert_eq!(form["method"], "elicitation/create", "{result}");
    assert_eq!(form["params"]["mode"], "form", "{result}");
    let message = form["params"]["message"].as_str().unwrap().to_string();
    (
        message,
        result["requestState"].as_str().unwrap().to_string(),
    )
}

fn send_args(room: &Room, subject: &str) -> Value {
    json!({
        "to": [room.bob.email],
        "bcc": ["hidden@example.test"],
        "subject": subject,
        "text_body": "Hello Bob,\nthe figures are attached.\n",
    })
}

async fn sent_count(user: &TestUser) -> usize {
    fetch_raw(user, "Sent").await.len()
}

/// Approving the form sends exactly once; replaying the approved retry sends nothing more.
#[tokio::test]
async fn a_form_approval_sends_once_and_a_replay_sends_nothing() {
    let room = room().await;
    let args = send_args(&room, "approved once");
    let first = modern_call(&room.server, &room.token, "send_mail_message", &args, None).await;
    let (message, state) = form_of(&first);
    for shown in [
        room.bob.email.as_str(),
        "Bcc: hidden@example.test",
        "Subject: approved once",
        "| Hello Bob,",
        room.alice.email.as_str(),
    ] {
        assert!(message.contains(shown), "{shown} missing from: {message}");
    }
    assert_eq!(
        sent_count(&room.alice).await,
        0,
        "nothing sent before approval"
    );

    let retry = (&accept(), state.as_str());
    let done = modern_call(
        &room.server,
        &room.token,
        "send_mail_message",
        &args,
        Some(retry),
    )
    .await;
    assert_ne!(done["isError"], json!(true), "{done}");
    assert!(
        done["structuredContent"]["message_id"].is_string(),
        "{done}"
    );
    assert_eq!(sent_count(&room.alice).await, 1);
    wait_for_messages(&room.bob, "INBOX", 1).await;

    let replay = modern_call(
        &room.server,
        &room.token,
        "send_mail_message",
        &args,
        Some(retry),
    )
    .await;
    assert_eq!(replay["isError"], json!(true), "{replay}");
    assert!(text_of(&replay).contains("already used"), "{replay}");
    assert_eq!(sent_count(&room.alice).await, 1, "the replay sent nothing");
}

/// A retry with the same state but another recipient is refused, and nothing is sent.
#[tokio::test]
async fn an_altered_retry_is_refused_and_sends_nothing() {
    let room = room().await;
    let args = send_args(&room, "altered");
    let (_, state) =
        form_of(&modern_call(&room.server, &room.token, "send_mail_message", &args, None).await);
    let mut altered = args.clone();
    altered["to"] = json!(["mallory@example.test"]);
    let result = modern_call(
        &room.server,
        &room.token,
        "send_mail_message",
        &altered,
        Some((&accept(), &state)),
    )
    .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    assert!(text_of(&result).contains("differs"), "{result}");
    let other_tool = modern_call(
        &room.server,
        &room.token,
        "forward_mail_message",
        &json!({"folder": "INBOX", "uid": 1, "to": "mallory@example.test"}),
        Some((&accept(), &state)),
    )
    .await;
    assert_eq!(other_tool["isError"], json!(true), "{other_tool}");
    assert_eq!(sent_count(&room.alice).await, 0);
}

/// An expired state, and a state taken to another account, are refused.
#[tokio::test]
async fn expired_states_and_other_callers_are_refused() {
    let room = room().await;
    let args = send_args(&room, "expired");
    let (_, state) =
        form_of(&modern_call(&room.server, &room.token, "send_mail_message", &args, None).await);
    let codec = room.server.codec();
    let claims: ApprovalClaims = codec.open(Purpose::Approval, &state).unwrap();
    let lifetime = Some(std::time::Duration::from_secs(600));
    let old = codec
        .seal_at(Purpose::Approval, &claims, lifetime, unix_now() - 11 * 60)
        .unwrap();
    let result = modern_call(
        &room.server,
        &room.token,
        "send_mail_message",
        &args,
        Some((&accept(), &old)),
    )
    .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    assert!(text_of(&result).contains("expired"), "{result}");

    let stranger = stack().new_user("askother");
    let token = room
        .server
        .access_token_with_policy(stack().mail_account(&stranger), SendPolicy::Ask);
    let result = modern_call(
        &room.server,
        &token,
        "send_mail_message",
        &args,
        Some((&accept(), &state)),
    )
    .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    assert!(text_of(&result).contains("another connection"), "{result}");
    assert_eq!(sent_count(&room.alice).await, 0);
    assert_eq!(sent_count(&stranger).await, 0);
}

/// Declining sends nothing, and the declined state cannot be approved afterwards.
#[tokio::test]
async fn declining_sends_nothing_and_uses_the_state_up() {
    let room = room().await;
    let args = send_args(&room, "declined");
    let (_, state) =
        form_of(&modern_call(&room.server, &room.token, "send_mail_message", &args, None).await);
    let decline = json!({"approval": {"action": "decline"}});
    let result = modern_call(
        &room.server,
        &room.token,
        "send_mail_message",
        &args,
        Some((&decline, &state)),
    )
    .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    assert!(text_of(&result).contains("nothing was sent"), "{result}");
    let later = modern_call(
        &room.server,
        &room.token,
        "send_mail_message",
        &args,
        Some((&accept(), &state)),
    )
    .await;
    assert!(
        text_of(&later).contains("already used (cancelled)"),
        "{later}"
    );
    assert_eq!(sent_count(&room.alice).await, 0);
}

/// A client without 2026-07-28 forms gets the preview and a confirmation link; nothing is
/// sent by the call itself.
#[tokio::test]
async fn an_older_client_gets_a_confirmation_link() {
    let room = room().await;
    let result = room
        .server
        .call_tool(
            &room.token,
            "send_mail_message",
            send_args(&room, "by link"),
        )
        .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    let text = text_of(&result);
    assert!(text.contains(&room.server.url("/approve/")), "{text}");
    assert!(text.contains("a person must open it"), "{text}");
    assert!(text.contains("Bcc: hidden@example.test"), "{text}");
    assert_eq!(sent_count(&room.alice).await, 0);
}

/// A permanent delete waits for the approval: the message is still there before, gone after.
#[tokio::test]
async fn a_permanent_delete_waits_for_approval() {
    let room = room().await;
    append(&room.alice, "INBOX", &small_message("doomed"), &[]).await;
    let uid = fetch_raw(&room.alice, "INBOX").await[0].uid;
    let args = json!({"folder": "INBOX", "uid": uid, "permanent": true});
    let first = modern_call(
        &room.server,
        &room.token,
        "delete_mail_message",
        &args,
        None,
    )
    .await;
    let (message, state) = form_of(&first);
    assert!(
        message.contains("Delete these messages for good?"),
        "{message}"
    );
    assert!(
        message.contains(&format!("uid {uid}: ")) && message.contains("doomed"),
        "{message}"
    );
    assert_eq!(
        fetch_raw(&room.alice, "INBOX").await.len(),
        1,
        "not deleted yet"
    );
    let done = modern_call(
        &room.server,
        &room.token,
        "delete_mail_message",
        &args,
        Some((&accept(), &state)),
    )
    .await;
    assert_ne!(done["isError"], json!(true), "{done}");
    assert_eq!(
        fetch_raw(&room.alice, "INBOX").await.len(),
        0,
        "deleted after approval"
    );
}

/// Regression: a send-freely token sends at once, without any approval.
#[tokio::test]
async fn a_send_freely_token_still_sends_at_once() {
    let room = room().await;
    let token = room
        .server
        .access_token_with_policy(stack().mail_account(&room.alice), SendPolicy::SendFreely);
    let args = send_args(&room, "freely");
    let result = modern_call(&room.server, &token, "send_mail_message", &args, None).await;
    assert_ne!(result["isError"], json!(true), "{result}");
    assert!(
        result["structuredContent"]["message_id"].is_string(),
        "{result}"
    );
    assert_eq!(sent_count(&room.alice).await, 1);
}

/// A reply's form shows the recipient resolved from the original's Reply-To, and a
/// forward's shows the original's attachment that goes along.
#[tokio::test]
async fn reply_and_forward_previews_show_what_will_go_out() {
    let room = room().await;
    let raw = "From: Stranger <stranger@example.test>\r\nReply-To: replies@example.test\r\n\
        To: alice@example.test\r\nSubject: Invoice\r\nMessage-ID: <inv-1@example.test>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nPlease pay.\r\n--b\r\nContent-Type: application/pdf\r\n\
        Content-Disposition: attachment; filename=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        JVBERi0xLjQK\r\n--b--\r\n";
    append(&room.alice, "INBOX", raw.as_bytes(), &[]).await;
    let uid = fetch_raw(&room.alice, "INBOX").await[0].uid;
    let reply = json!({"folder": "INBOX", "uid": uid, "text_body": "Paid."});
    let (message, _) = form_of(
        &modern_call(
            &room.server,
            &room.token,
            "reply_to_mail_message",
            &reply,
            None,
        )
        .await,
    );
    assert!(message.contains("To: replies@example.test"), "{message}");
    assert!(message.contains("Subject: Re: Invoice"), "{message}");
    let forward = json!({"folder": "INBOX", "uid": uid, "to": room.bob.email});
    let (message, _) = form_of(
        &modern_call(
            &room.server,
            &room.token,
            "forward_mail_message",
            &forward,
            None,
        )
        .await,
    );
    assert!(message.contains("invoice.pdf (9 bytes)"), "{message}");
    assert_eq!(sent_count(&room.alice).await, 0);
}

/// A bulk change shows how many messages match (the tool's own dry run) and a sample; a
/// folder deletion shows how many messages the folder holds. Nothing changes before approval.
#[tokio::test]
async fn bulk_and_folder_previews_count_what_they_touch() {
    let room = room().await;
    for subject in ["bulk one", "bulk two"] {
        append(&room.alice, "INBOX", &small_message(subject), &[]).await;
    }
    let args = json!({"folder": "INBOX", "where": {"subject": "bulk"}, "permanent": true});
    let (message, _) = form_of(
        &modern_call(
            &room.server,
            &room.token,
            "delete_mail_message",
            &args,
            None,
        )
        .await,
    );
    assert!(message.contains("Matching messages: 2"), "{message}");
    assert!(message.contains("bulk one"), "{message}");
    assert_eq!(
        fetch_raw(&room.alice, "INBOX").await.len(),
        2,
        "nothing deleted"
    );

    let folder = json!({"name": "INBOX", "force": true});
    let (message, _) =
        form_of(&modern_call(&room.server, &room.token, "delete_mailbox", &folder, None).await);
    assert!(message.contains("Messages in it: 2"), "{message}");
}

/// A send as a confirmed identity shows that identity as From on the approval form, so the
/// person approves the address the message will really carry.
#[tokio::test]
async fn the_preview_shows_the_identity_a_send_goes_out_from() {
    let room = room().await;
    let mut account = stack().mail_account(&room.alice);
    account.identities = vec![mail_mcp::mail::Identity {
        email: "ada.work@example.test".into(),
        display_name: Some("Ada Work".into()),
    }];
    let token = room
        .server
        .access_token_with_policy(account, SendPolicy::Ask);
    let mut args = send_args(&room, "as work");
    args["from"] = json!("ada.work@example.test");
    let (message, _) =
        form_of(&modern_call(&room.server, &token, "send_mail_message", &args, None).await);
    assert!(
        message.contains("From: Ada Work <ada.work@example.test>"),
        "{message}"
    );
    assert_eq!(sent_count(&room.alice).await, 0);
}
