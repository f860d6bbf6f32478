//! A connection cut while a message is being stored (IMAP APPEND, its literal half sent).

use serde_json::json;

use super::imap_via;
use crate::common::app::TestServer;
use crate::common::fault_proxy::{Direction, FaultProxy};
use crate::common::{error_text, fetch_raw, stack};

/// A draft whose APPEND is cut while its literal is on the wire: the tool error names the
/// IMAP server and says, after looking on a new connection, that the draft was not
/// saved; Drafts holds no half message; the retry saves exactly one draft.
#[tokio::test]
async fn a_draft_cut_mid_append_says_it_was_not_saved_and_the_retry_saves_one() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("cutappend");
    let token = server.access_token_for(imap_via(stack, &user, proxy.port));
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
    let draft = json!({
        "to": ["someone@example.test"],
        "subject": "Cut in APPEND",
        "text_body": "A long draft that does not fit before the cut.\n".repeat(6000),
    });

    proxy.cut_after(Direction::ToMailServer, 48 * 1024);
    let cut = server
        .call_tool(&token, "create_draft_mail_message", draft.clone())
        .await;
    let text = error_text(&cut);
    assert!(
        text.contains(&format!("IMAP server {}:{}", stack.host, proxy.port)),
        "{text}"
    );
    assert!(text.contains("was not saved"), "{text}");
    assert!(fetch_raw(&user, "Drafts").await.is_empty(), "no half draft");

    let saved = server
        .call_tool_ok(&token, "create_draft_mail_message", draft)
        .await;
    assert_eq!(saved["folder"], "Drafts", "{saved}");
    let drafts = fetch_raw(&user, "Drafts").await;
    assert_eq!(drafts.len(), 1, "exactly one draft after the retry");
}

/// A send whose copy to Sent is cut mid-APPEND: the message WAS sent and arrives once;
/// the report's copy_error says so and that the copy may or may not be in Sent (not a
/// tool error that would invite sending again).
#[tokio::test]
async fn a_sent_copy_cut_mid_append_reports_the_message_as_sent() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("cutsentcopy");
    let bob = stack.new_user("cutsentbob");
    let token = server.access_token_for(imap_via(stack, &user, proxy.port));
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
    let send = json!({
        "to": [bob.email],
        "subject": "Copy cut in APPEND",
        "text_body": "A long message whose Sent copy does not fit before the cut.\n".repeat(5000),
    });

    proxy.cut_after(Direction::ToMailServer, 48 * 1024);
    let report = server.call_tool_ok(&token, "send_mail_message", send).await;
    let copy_error = report["copy_error"].as_str().unwrap_or_default();
    assert!(copy_error.contains("WAS sent"), "{report}");
    assert!(copy_error.contains("may or may not be there"), "{report}");
    assert!(
        copy_error.contains(&format!("IMAP server {}:{}", stack.host, proxy.port)),
        "{report}"
    );
    crate::common::wait_for_messages(&bob, "INBOX", 1).await;
    server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
}
