//! The organising tools by search (`where`, `dry_run`) through MCP calls with real tokens
//! against the real Dovecot, checked in the mailbox over IMAP: a dry run changes nothing,
//! a bulk move of 2,000 messages runs in batches and a re-run finds nothing, a bulk
//! permanent delete expunges only the matching messages, and ambiguous calls are refused.

use crate::common;

use serde_json::json;

use common::app::TestServer;
use common::{TestUser, append, error_text, fetch_raw, imap_session, small_message, stack};

/// Appends one small message per subject to `folder` of `user` over one IMAP session.
async fn append_many(user: &TestUser, folder: &str, subjects: impl Iterator<Item = String>) {
    let mut session = imap_session(user).await;
    for subject in subjects {
        session
            .append(folder, None, None, &small_message(&subject))
            .await
            .unwrap_or_else(|e| panic!("APPEND {subject} failed: {e}"));
    }
    session.logout().await.ok();
}

/// The subjects of the messages of `folder`, as stored.
async fn subjects(user: &TestUser, folder: &str) -> Vec<String> {
    fetch_raw(user, folder)
        .await
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.raw);
            let line = text.lines().find(|l| l.starts_with("Subject: "));
            line.unwrap_or_default()["Subject: ".len()..].to_owned()
        })
        .collect()
}

/// Proves the bulk move of issue 15: 2,000 messages matching `where` by subject are
/// counted by a dry run that moves nothing; the real run moves all 2,000 in batches of at
/// most 500 UIDs and leaves the other messages where they were; running it again finds
/// nothing and changes nothing.
#[tokio::test]
async fn a_bulk_move_by_search_is_dry_run_first_batched_and_idempotent() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("bulkmove");
    append(&user, "INBOX", &small_message("Keep me one"), &[]).await;
    append_many(&user, "INBOX", (1..=2000).map(|n| format!("Sale {n}"))).await;
    append(&user, "INBOX", &small_message("Keep me two"), &[]).await;
    let token = server.access_token_for(stack.mail_account(&user));
    let call = |dry_run: bool| {
        json!({"folder": "INBOX", "where": {"subject": "Sale"}, "destination": "Archive",
               "dry_run": dry_run})
    };

    let preview = server
        .call_tool_ok(&token, "move_mail_message", call(true))
        .await;
    assert_eq!(preview["dry_run"], true, "{preview}");
    assert_eq!(preview["matched"], 2000, "{preview}");
    assert_eq!(preview["done"], 0, "{preview}");
    assert_eq!(preview["sample"].as_array().unwrap().len(), 10, "{preview}");
    assert_eq!(preview["sample"][0]["subject"], "Sale 1", "{preview}");
    assert_eq!(fetch_raw(&user, "INBOX").await.len(), 2002);
    assert!(fetch_raw(&user, "Archive").await.is_empty());

    let moved = server
        .call_tool_ok(&token, "move_mail_message", call(false))
        .await;
    assert_eq!(
        (&moved["matched"], &moved["done"], &moved["batches"]),
        (&json!(2000), &json!(2000), &json!(4)),
        "{moved}"
    );
    assert_eq!(moved["destination"], "Archive", "{moved}");
    let archived = subjects(&user, "Archive").await;
    assert_eq!(archived.len(), 2000);
    assert!(archived.iter().all(|s| s.starts_with("Sale ")));
    assert_eq!(
        subjects(&user, "INBOX").await,
        vec!["Keep me one", "Keep me two"]
    );

    let again = server
        .call_tool_ok(&token, "move_mail_message", call(false))
        .await;
    assert_eq!((&again["matched"], &again["done"]), (&json!(0), &json!(0)));
    assert_eq!(fetch_raw(&user, "Archive").await.len(), 2000);
    assert_eq!(fetch_raw(&user, "INBOX").await.len(), 2);
}

/// Proves a bulk permanent delete keeps the expunge plan: only the messages matching
/// `where` are expunged; a message another client flagged \Deleted (not matching) stays.
#[tokio::test]
async fn a_bulk_permanent_delete_expunges_only_the_matches() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("bulkdel");
    append_many(&user, "INBOX", (1..=3).map(|n| format!("Spam {n}"))).await;
    append(
        &user,
        "INBOX",
        &small_message("Flagged elsewhere"),
        &["\\Deleted"],
    )
    .await;
    let token = server.access_token_for(stack.mail_account(&user));

    let deleted = server
        .call_tool_ok(
            &token,
            "delete_mail_message",
            json!({"folder": "INBOX", "where": {"subject": "Spam"}, "permanent": true}),
        )
        .await;
    assert_eq!(
        (&deleted["matched"], &deleted["done"]),
        (&json!(3), &json!(3))
    );
    let left = fetch_raw(&user, "INBOX").await;
    assert_eq!(left.len(), 1, "only the other client's message is left");
    assert!(left[0].flags.iter().any(|f| f == "\\Deleted"));
    assert_eq!(subjects(&user, "INBOX").await, vec!["Flagged elsewhere"]);
}

/// Proves bulk flagging by search: every unread match gets \Seen, others do not.
#[tokio::test]
async fn bulk_flags_change_only_the_matches() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("bulkflag");
    append_many(
        &user,
        "INBOX",
        ["News a", "News b", "Private"]
            .map(String::from)
            .into_iter(),
    )
    .await;
    let token = server.access_token_for(stack.mail_account(&user));

    let changed = server
        .call_tool_ok(
            &token,
            "update_mail_message_flags",
            json!({"folder": "INBOX", "where": {"subject": "News"}, "add": ["seen"]}),
        )
        .await;
    assert_eq!(changed["done"], 2, "{changed}");
    let mut session = imap_session(&user).await;
    session.examine("INBOX").await.unwrap();
    let mut seen: Vec<u32> = session
        .uid_search("SEEN")
        .await
        .unwrap()
        .into_iter()
        .collect();
    session.logout().await.ok();
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2]);
}

/// Proves ambiguous or unbounded bulk calls are refused with a clear error and change
/// nothing: `where` with `uids`, an empty `where`, and `dry_run` without `where`.
#[tokio::test]
async fn ambiguous_bulk_calls_are_refused() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("bulkbad");
    append(&user, "INBOX", &small_message("Only one"), &[]).await;
    let token = server.access_token_for(stack.mail_account(&user));
    let cases = [
        (
            json!({"folder": "INBOX", "uids": [1], "where": {"subject": "Only"}, "destination": "Archive"}),
            "not both",
        ),
        (
            json!({"folder": "INBOX", "where": {}, "destination": "Archive"}),
            "no criterion",
        ),
        (
            json!({"folder": "INBOX", "uid": 1, "dry_run": true, "destination": "Archive"}),
            "dry_run goes with where",
        ),
    ];
    for (arguments, want) in cases {
        let result = server
            .call_tool(&token, "move_mail_message", arguments)
            .await;
        let text = error_text(&result);
        assert!(text.contains(want), "{want}: {text}");
    }
    assert_eq!(fetch_raw(&user, "INBOX").await.len(), 1);
    assert!(fetch_raw(&user, "Archive").await.is_empty());
}
