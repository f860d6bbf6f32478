//! `archive_mail_message` against the real Dovecot, checked over IMAP: one message or a
//! search's matches go to the Archive folder; an account without one gets it created
//! (with a note) by a real run, never by a dry run.

use crate::common;

use serde_json::json;

use common::app::TestServer;
use common::basic_imap::basic_session;
use common::{TestUser, append, fetch_raw, small_message, stack};

async fn archiving_user(prefix: &str) -> (TestServer, TestUser, String) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user(prefix);
    for subject in ["Receipt 1", "Receipt 2", "Letter"] {
        append(&user, "INBOX", &small_message(subject), &[]).await;
    }
    let token = server.access_token_for(stack.mail_account(&user));
    (server, user, token)
}

/// Proves archiving moves exactly the named message, then (after a dry run that moves
/// nothing) exactly the messages matching `where`, into the Archive folder.
#[tokio::test]
async fn messages_are_archived_by_uid_and_by_search() {
    let (server, user, token) = archiving_user("archive").await;
    let one = server
        .call_tool_ok(
            &token,
            "archive_mail_message",
            json!({"folder": "INBOX", "uid": 3}),
        )
        .await;
    assert_eq!(one["destination"], "Archive", "{one}");
    assert_eq!(one["moved"][0]["uid"], 3, "{one}");
    assert_eq!(fetch_raw(&user, "Archive").await.len(), 1);

    let search = json!({"folder": "INBOX", "where": {"subject": "Receipt"}, "dry_run": true});
    let preview = server
        .call_tool_ok(&token, "archive_mail_message", search.clone())
        .await;
    assert_eq!(
        (&preview["matched"], &preview["done"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(fetch_raw(&user, "INBOX").await.len(), 2);

    let mut run = search;
    run["dry_run"] = json!(false);
    let done = server
        .call_tool_ok(&token, "archive_mail_message", run)
        .await;
    assert_eq!(done["done"], 2, "{done}");
    assert!(fetch_raw(&user, "INBOX").await.is_empty());
    assert_eq!(fetch_raw(&user, "Archive").await.len(), 3);
}

/// The folder names and the INBOX.Archive message count on the basic server.
async fn basic_state(user: &TestUser) -> (Vec<String>, Option<u32>) {
    let mut session = basic_session(user).await;
    let names = common::list_folder_names(&mut session).await;
    let archived = match names.iter().any(|n| n == "INBOX.Archive") {
        true => Some(session.examine("INBOX.Archive").await.unwrap().exists),
        false => None,
    };
    session.logout().await.ok();
    (names, archived)
}

/// Proves an account without an archive folder (the basic server, which creates none)
/// gets "Archive" created (below INBOX, as that server wants) by a real run, with a note,
/// while a dry run only says it would create one and creates nothing.
#[tokio::test]
async fn a_missing_archive_folder_is_created_only_by_a_real_run() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("noarchive");
    let mut session = basic_session(&user).await;
    session
        .append("INBOX", None, None, &small_message("Letter"))
        .await
        .unwrap();
    session.logout().await.ok();
    let token = server.access_token_for(stack.basic_mail_account(&user));

    let search = json!({"folder": "INBOX", "where": {"subject": "Letter"}, "dry_run": true});
    let preview = server
        .call_tool_ok(&token, "archive_mail_message", search)
        .await;
    let note = preview["note"].as_str().unwrap_or_default();
    assert!(note.contains("creates"), "{preview}");
    assert_eq!(basic_state(&user).await.1, None, "nothing was created");

    let done = server
        .call_tool_ok(
            &token,
            "archive_mail_message",
            json!({"folder": "INBOX", "uid": 1}),
        )
        .await;
    let note = done["note"].as_str().unwrap_or_default();
    assert!(note.contains("was created"), "{done}");
    assert_eq!(done["destination"], "INBOX.Archive", "{done}");
    assert_eq!(basic_state(&user).await.1, Some(1));
}
