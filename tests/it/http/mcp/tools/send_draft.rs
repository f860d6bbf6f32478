//! `send_draft` end to end against the real Postfix and Dovecot: a draft saved with
//! `create_draft_mail_message` goes out (To and Bcc receive it, the Bcc header does not),
//! lands in Sent as the exact bytes sent and leaves Drafts; a stale uid_validity or a
//! second call sends nothing.

use crate::common;

use common::app::TestServer;
use common::{TestUser, error_text, fetch_raw, stack, wait_for_messages};
use serde_json::{Value, json};

/// A server, alice's access token, and the draft she saved to bob with dave in Bcc.
async fn saved_draft(prefix: &str) -> (TestServer, String, [TestUser; 3], Value) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user(&format!("{prefix}a"));
    let bob = stack.new_user(&format!("{prefix}b"));
    let dave = stack.new_user(&format!("{prefix}d"));
    let token = server.tokens_for(stack, &alice).await.access_token;
    let draft = server
        .call_tool_ok(
            &token,
            "create_draft_mail_message",
            json!({"to": bob.email, "bcc": [dave.email], "subject": "Ready now",
                   "text_body": "Dear Bob, here it is."}),
        )
        .await;
    (server, token, [alice, bob, dave], draft)
}

fn args(draft: &Value) -> Value {
    json!({"folder": draft["folder"], "uid": draft["uid"], "uid_validity": draft["uid_validity"]})
}

/// The message body after the delivery headers Postfix and Dovecot add on top.
fn contains(raw: &[u8], text: &str) -> bool {
    String::from_utf8_lossy(raw).contains(text)
}

/// Proves a saved draft goes out: bob (To) and dave (Bcc) receive it without a Bcc header,
/// Sent holds exactly the bytes handed to SMTP (the received copy ends with them), and
/// Drafts no longer holds it. Calling again sends nothing: the draft is gone.
#[tokio::test]
async fn a_saved_draft_is_sent_filed_in_sent_and_leaves_drafts() {
    let (server, token, [alice, bob, dave], draft) = saved_draft("sdok").await;
    let report = server
        .call_tool_ok(&token, "send_draft", args(&draft))
        .await;
    assert_eq!(report["removed_from_drafts"], true, "{report}");
    assert_eq!(report["already_sent"], false, "{report}");
    assert_eq!(report["saved_to"]["folder"], "Sent", "{report}");

    let at_bob = wait_for_messages(&bob, "INBOX", 1).await.remove(0);
    let at_dave = wait_for_messages(&dave, "INBOX", 1).await.remove(0);
    for received in [&at_bob.raw, &at_dave.raw] {
        assert!(contains(received, "Subject: Ready now"));
        assert!(contains(received, "Dear Bob, here it is."));
        assert!(!contains(received, "Bcc:"), "Bcc is never shown");
    }
    let sent = fetch_raw(&alice, "Sent").await;
    assert_eq!(sent.len(), 1);
    assert!(
        at_bob.raw.ends_with(&sent[0].raw),
        "Sent holds the exact bytes sent"
    );
    assert!(fetch_raw(&alice, "Drafts").await.is_empty());

    let again = server.call_tool(&token, "send_draft", args(&draft)).await;
    assert!(error_text(&again).contains("nothing was sent"), "{again}");
    assert_eq!(fetch_raw(&alice, "Sent").await.len(), 1);
}

/// Proves a stale uid_validity is refused before anything leaves: isError, bob gets
/// nothing, Sent stays empty and the draft stays in Drafts.
#[tokio::test]
async fn a_stale_uid_validity_sends_nothing() {
    let (server, token, [alice, bob, _dave], draft) = saved_draft("sdstale").await;
    let mut stale = args(&draft);
    stale["uid_validity"] = json!(draft["uid_validity"].as_u64().unwrap() + 1);
    let result = server.call_tool(&token, "send_draft", stale).await;
    let text = error_text(&result);
    assert!(text.contains("nothing was sent"), "{text}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(fetch_raw(&bob, "INBOX").await.is_empty());
    assert!(fetch_raw(&alice, "Sent").await.is_empty());
    assert_eq!(fetch_raw(&alice, "Drafts").await.len(), 1);
}
