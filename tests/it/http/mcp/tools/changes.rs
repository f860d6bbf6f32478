//! `list_changes` against the real Dovecot (which offers CONDSTORE): a new message, a flag
//! change and an expunge made by another IMAP client are all seen since the cursor; a
//! second look with the new cursor sees nothing; an altered cursor is refused. On the
//! basic Dovecot (no CONDSTORE) the flags digest tells that flags changed.

use crate::common;

use futures::TryStreamExt;
use serde_json::{Value, json};

use common::app::TestServer;
use common::basic_imap::basic_session;
use common::{append, error_text, imap_session, small_message, stack};

fn uids_of(list: &Value, key: &str) -> Vec<u64> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {list}"))
        .iter()
        .map(|v| v.get("uid").unwrap_or(v).as_u64().unwrap())
        .collect()
}

/// Proves list_changes sees what another client did since the cursor: the message it
/// appended (new, with its subject), the one it flagged (changed, with \Flagged) and the
/// one it expunged (gone); with the returned cursor nothing is reported again.
#[tokio::test]
async fn changes_made_by_another_client_are_seen_once() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("changes");
    for subject in ["One", "Two", "Three"] {
        append(&user, "INBOX", &small_message(subject), &[]).await;
    }
    let token = server.access_token_for(stack.mail_account(&user));
    let first = server
        .call_tool_ok(&token, "list_changes", json!({"folder": "INBOX"}))
        .await;
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    append(&user, "INBOX", &small_message("Four"), &[]).await;
    let mut other = imap_session(&user).await;
    other.select("INBOX").await.unwrap();
    let _: Vec<_> = other
        .uid_store("1", "+FLAGS (\\Flagged)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> = other
        .uid_store("2", "+FLAGS (\\Deleted)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> = other.expunge().await.unwrap().try_collect().await.unwrap();
    other.logout().await.ok();

    let seen = server
        .call_tool_ok(
            &token,
            "list_changes",
            json!({"folder": "INBOX", "cursor": cursor}),
        )
        .await;
    assert_eq!(uids_of(&seen, "new"), vec![4], "{seen}");
    assert_eq!(seen["new"][0]["subject"], "Four", "{seen}");
    assert_eq!(uids_of(&seen, "changed"), vec![1], "{seen}");
    assert!(
        seen["changed"][0]["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("\\Flagged")),
        "{seen}"
    );
    assert_eq!(uids_of(&seen, "gone"), vec![2], "{seen}");

    let next = seen["cursor"].as_str().unwrap();
    let again = server
        .call_tool_ok(
            &token,
            "list_changes",
            json!({"folder": "INBOX", "cursor": next}),
        )
        .await;
    for key in ["new", "changed", "gone"] {
        assert!(uids_of(&again, key).is_empty(), "{key}: {again}");
    }
}

/// Proves a cursor cannot be forged: one with a changed character is refused with a clear
/// error (isError), and nothing is reported from it; a cursor of INBOX is refused for Sent.
#[tokio::test]
async fn an_altered_cursor_is_refused() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("forged");
    let token = server.access_token_for(stack.mail_account(&user));
    let first = server
        .call_tool_ok(&token, "list_changes", json!({"folder": "INBOX"}))
        .await;
    let cursor = first["cursor"].as_str().unwrap();
    let mut forged: Vec<char> = cursor.chars().collect();
    forged[3] = if forged[3] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let result = server
        .call_tool(
            &token,
            "list_changes",
            json!({"folder": "INBOX", "cursor": forged}),
        )
        .await;
    assert!(
        error_text(&result).contains("not made by list_changes"),
        "{result}"
    );
    let elsewhere = server
        .call_tool(
            &token,
            "list_changes",
            json!({"folder": "Sent", "cursor": cursor}),
        )
        .await;
    assert!(
        error_text(&elsewhere).contains("is for the folder"),
        "{elsewhere}"
    );
}

/// Proves the fallback without CONDSTORE (the basic server): a flag change by another
/// client shows as flags_changed = true, and a new message is listed as new.
#[tokio::test]
async fn without_condstore_a_digest_tells_that_flags_changed() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("digest");
    let mut other = basic_session(&user).await;
    other
        .append("INBOX", None, None, &small_message("One"))
        .await
        .unwrap();
    let token = server.access_token_for(stack.basic_mail_account(&user));
    let call = |cursor: Option<&str>| json!({"folder": "INBOX", "cursor": cursor});
    let first = server
        .call_tool_ok(&token, "list_changes", call(None))
        .await;

    other.select("INBOX").await.unwrap();
    let _: Vec<_> = other
        .uid_store("1", "+FLAGS (\\Seen)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let flagged = server
        .call_tool_ok(&token, "list_changes", call(first["cursor"].as_str()))
        .await;
    assert_eq!(flagged["flags_changed"], true, "{flagged}");
    assert!(uids_of(&flagged, "new").is_empty(), "{flagged}");

    other
        .append("INBOX", None, None, &small_message("Two"))
        .await
        .unwrap();
    other.logout().await.ok();
    let arrived = server
        .call_tool_ok(&token, "list_changes", call(flagged["cursor"].as_str()))
        .await;
    assert_eq!(uids_of(&arrived, "new"), vec![2], "{arrived}");
}
