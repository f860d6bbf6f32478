//! The organising tools through MCP calls with real tokens against the real Dovecot:
//! `move_mail_message`, `delete_mail_message`, `update_mail_message_flags`,
//! `create_mailbox`, `rename_mailbox`, `delete_mailbox`. Every test checks the mailbox
//! itself over IMAP, not only what the tool said. The copy-based move and the search for
//! moved copies by Message-ID are driven through the mail layer directly, since Dovecot
//! has MOVE and reports COPYUID.

use crate::common;

use std::collections::HashMap;

use futures::TryStreamExt;
use mail_mcp::mail::imap::organise::find_copies_by_message_id;
use mail_mcp::mail::imap::{MessageSelection, MoveMethod, move_messages_by};
use mail_mcp::mail::{Imap, MailSettings, TlsSettings};
use serde_json::{Value, json};

use common::app::TestServer;
use common::{
    RawMessage, TestUser, append, error_text, fetch_raw, folder_names, imap_session,
    small_message as message, small_message_with_id as message_with_id, stack,
};

/// A running server, a fresh user whose INBOX holds one message per subject (UIDs 1, 2,
/// ... in order) and an access token for that user's account.
async fn mailbox_with(prefix: &str, subjects: &[&str]) -> (TestServer, TestUser, String) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user(prefix);
    for subject in subjects {
        append(&user, "INBOX", &message(subject), &[]).await;
    }
    let token = server.access_token_for(stack.mail_account(&user));
    (server, user, token)
}

/// The folder's UIDVALIDITY as a mail client sees it.
async fn uid_validity(user: &TestUser, folder: &str) -> u32 {
    let mut session = imap_session(user).await;
    let mailbox = session.examine(folder).await.unwrap();
    session.logout().await.ok();
    mailbox.uid_validity.expect("Dovecot reports UIDVALIDITY")
}

/// Sets `flag` on `uid` in `folder`, as another mail client would.
async fn set_flag_over_imap(user: &TestUser, folder: &str, uid: u32, flag: &str) {
    let mut session = imap_session(user).await;
    session.select(folder).await.unwrap();
    let _: Vec<_> = session
        .uid_store(uid.to_string(), format!("+FLAGS ({flag})"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    session.logout().await.ok();
}

/// The messages of `folder` as stored, without the session-bound \\Recent flag.
async fn stored(user: &TestUser, folder: &str) -> Vec<RawMessage> {
    let mut messages = fetch_raw(user, folder).await;
    for message in &mut messages {
        message.flags.retain(|f| f != "\\Recent");
        message.flags.sort();
    }
    messages
}

fn by_uid(messages: Vec<RawMessage>) -> HashMap<u32, RawMessage> {
    messages.into_iter().map(|m| (m.uid, m)).collect()
}

fn uids(messages: &[RawMessage]) -> Vec<u32> {
    messages.iter().map(|m| m.uid).collect()
}

/// (old uid, new uid) pairs of a move result.
fn new_uids(moved: &Value) -> Vec<(u32, u32)> {
    moved
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let uid = m["uid"].as_u64().unwrap() as u32;
            (uid, m["new_uid"].as_u64().expect("a new uid") as u32)
        })
        .collect()
}

fn imap() -> Imap {
    let tls = TlsSettings::new(Some(&stack().ca_file)).expect("the test CA loads");
    Imap::new(MailSettings::new(tls))
}

/// A move over a token from the real browser login returns each message's new UID and
/// the destination's uid_validity; the destination then holds byte-identical copies under
/// those UIDs and the source keeps only the message not named.
#[tokio::test]
async fn move_returns_the_new_uids_and_the_messages_arrive_unchanged() {
    let stack = stack();
    let (server, user, _) = mailbox_with("org-move", &["one", "two", "three"]).await;
    let token = server.tokens_for(stack, &user).await.access_token;
    let before = by_uid(fetch_raw(&user, "INBOX").await);
    let inbox_validity = uid_validity(&user, "INBOX").await;

    let result = server
        .call_tool_ok(
            &token,
            "move_mail_message",
            json!({"folder": "INBOX", "uids": [3, 1], "destination": "Archive",
                   "uid_validity": inbox_validity}),
        )
        .await;

    assert_eq!(result["method"], "move");
    assert_eq!(result["not_found"], json!([]));
    assert_eq!(result["uid_validity"], inbox_validity);
    assert_eq!(
        result["destination_uid_validity"],
        uid_validity(&user, "Archive").await
    );
    let archive = by_uid(fetch_raw(&user, "Archive").await);
    let pairs = new_uids(&result["moved"]);
    assert_eq!(pairs.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(archive.len(), 2);
    for (old, new) in pairs {
        assert_eq!(archive[&new].raw, before[&old].raw, "uid {old} → {new}");
    }
    assert_eq!(uids(&fetch_raw(&user, "INBOX").await), [2]);
}

/// The fallback for servers without MOVE (UID COPY, \Deleted, UID EXPUNGE) moves exactly
/// the named messages: another message that someone flagged \Deleted stays in the source.
#[tokio::test]
async fn the_copy_fallback_moves_exactly_the_named_messages() {
    let stack = stack();
    let user = stack.new_user("org-copy");
    for subject in ["one", "two", "three"] {
        append(&user, "INBOX", &message(subject), &[]).await;
    }
    append(
        &user,
        "INBOX",
        &message("flagged elsewhere"),
        &["\\Deleted"],
    )
    .await;
    let before = by_uid(fetch_raw(&user, "INBOX").await);

    let account = stack.mail_account(&user);
    let mut session = imap().session(&account.imap).await.unwrap();
    let selection = MessageSelection::new("INBOX", None, Some(vec![1, 2]), None).unwrap();
    let outcome = move_messages_by(&mut session, &selection, "Archive", MoveMethod::CopyExpunge)
        .await
        .unwrap();
    session.logout().await;

    assert_eq!(outcome.method, MoveMethod::CopyExpunge);
    assert_eq!(
        outcome.destination_uid_validity,
        Some(uid_validity(&user, "Archive").await)
    );
    let archive = by_uid(fetch_raw(&user, "Archive").await);
    assert_eq!(archive.len(), 2);
    for moved in &outcome.moved {
        let new = moved.new_uid.expect("COPYUID gives the new uid");
        assert_eq!(archive[&new].raw, before[&moved.uid].raw);
        assert!(!archive[&new].flags.contains(&"\\Deleted".to_owned()));
    }
    let inbox = fetch_raw(&user, "INBOX").await;
    assert_eq!(uids(&inbox), [3, 4]);
    assert!(inbox[1].flags.contains(&"\\Deleted".to_owned()));
}

/// Without COPYUID the new UIDs are found by Message-ID: the newest copy of each id not
/// already claimed, and none for a message without one.
#[tokio::test]
async fn moved_copies_can_be_found_by_message_id() {
    let stack = stack();
    let user = stack.new_user("org-find");
    append(
        &user,
        "Archive",
        &message_with_id("old copy", "<a@x.test>"),
        &[],
    )
    .await;
    append(&user, "Archive", &message_with_id("b", "<b@x.test>"), &[]).await;
    append(
        &user,
        "Archive",
        &message_with_id("new copy", "<a@x.test>"),
        &[],
    )
    .await;

    let mut session = imap()
        .session(&stack.mail_account(&user).imap)
        .await
        .unwrap();
    let originals = [
        (10, Some("<a@x.test>".to_owned())),
        (11, Some("<b@x.test>".to_owned())),
        (12, None),
    ];
    let (folder, moved) = find_copies_by_message_id(&mut session, "Archive", &originals)
        .await
        .unwrap();
    session.logout().await;

    assert_eq!(folder.uid_validity, uid_validity(&user, "Archive").await);
    let found: Vec<_> = moved.iter().map(|m| (m.uid, m.new_uid)).collect();
    assert_eq!(found, [(10, Some(3)), (11, Some(2)), (12, None)]);
}

/// An unknown destination is an error listing the folders; moving to the folder the
/// messages are in is refused; nothing moves.
#[tokio::test]
async fn a_bad_destination_moves_nothing() {
    let (server, user, token) = mailbox_with("org-dest", &["one"]).await;

    let unknown = server
        .call_tool(
            &token,
            "move_mail_message",
            json!({"folder": "INBOX", "uid": 1, "destination": "Archiv"}),
        )
        .await;
    let text = error_text(&unknown);
    assert!(text.contains("no folder named \"Archiv\""), "{text}");
    assert!(text.contains("INBOX") && text.contains("Archive"), "{text}");

    let same = server
        .call_tool(
            &token,
            "move_mail_message",
            json!({"folder": "inbox", "uid": 1, "destination": "INBOX"}),
        )
        .await;
    assert!(error_text(&same).contains("already in \"INBOX\""));

    assert_eq!(uids(&fetch_raw(&user, "INBOX").await), [1]);
    assert!(fetch_raw(&user, "Archive").await.is_empty());
}

/// UIDs that do not exist are reported and the rest are moved; when none exists the call
/// fails and nothing changes.
#[tokio::test]
async fn unknown_uids_are_reported_and_never_stand_for_other_messages() {
    let (server, user, token) = mailbox_with("org-unknown", &["one", "two"]).await;

    let partly = server
        .call_tool_ok(
            &token,
            "move_mail_message",
            json!({"folder": "INBOX", "uids": [1, 99], "destination": "Archive"}),
        )
        .await;
    assert_eq!(partly["not_found"], json!([99]));
    assert_eq!(new_uids(&partly["moved"]).len(), 1);

    let none = server
        .call_tool(
            &token,
            "delete_mail_message",
            json!({"folder": "INBOX", "uids": [98, 99], "permanent": true}),
        )
        .await;
    assert!(error_text(&none).contains("none of the UIDs 98:99"));
    let single = server
        .call_tool(
            &token,
            "update_mail_message_flags",
            json!({"folder": "INBOX", "uid": 1, "add": ["seen"]}),
        )
        .await;
    assert!(error_text(&single).contains("no message with UID 1"));

    let inbox = stored(&user, "INBOX").await;
    assert_eq!(uids(&inbox), [2]);
    assert!(inbox[0].flags.is_empty());
    assert_eq!(fetch_raw(&user, "Archive").await.len(), 1);
}

/// Deleting moves to Trash and says where (with the UID there); deleting in Trash removes
/// the message for good and says so.
#[tokio::test]
async fn delete_moves_to_trash_and_in_trash_deletes_for_good() {
    let (server, user, token) = mailbox_with("org-trash", &["unwanted"]).await;
    let original = fetch_raw(&user, "INBOX").await.remove(0);

    let trashed = server
        .call_tool_ok(
            &token,
            "delete_mail_message",
            json!({"folder": "INBOX", "uid": 1}),
        )
        .await;
    assert_eq!(trashed["permanent"], false);
    assert_eq!(trashed["trash"], "Trash");
    assert_eq!(trashed["deleted"], json!([1]));
    assert_eq!(
        trashed["trash_uid_validity"],
        uid_validity(&user, "Trash").await
    );
    let (_, in_trash) = new_uids(&trashed["moved_to_trash"])[0];
    assert!(fetch_raw(&user, "INBOX").await.is_empty());
    let trash = fetch_raw(&user, "Trash").await;
    assert_eq!(uids(&trash), [in_trash]);
    assert_eq!(trash[0].raw, original.raw);

    let gone = server
        .call_tool_ok(
            &token,
            "delete_mail_message",
            json!({"folder": "Trash", "uid": in_trash}),
        )
        .await;
    assert_eq!(gone["permanent"], true);
    assert!(
        gone["note"]
            .as_str()
            .unwrap()
            .contains("already in the Trash")
    );
    assert!(fetch_raw(&user, "Trash").await.is_empty());
}

/// A permanent delete expunges only the message named: another message that someone else
/// flagged \Deleted over IMAP is still there afterwards.
#[tokio::test]
async fn a_permanent_delete_leaves_messages_someone_else_flagged_deleted() {
    let (server, user, token) = mailbox_with("org-permanent", &["mine", "theirs"]).await;
    set_flag_over_imap(&user, "INBOX", 2, "\\Deleted").await;

    let result = server
        .call_tool_ok(
            &token,
            "delete_mail_message",
            json!({"folder": "INBOX", "uid": 1, "permanent": true}),
        )
        .await;

    assert_eq!(result["permanent"], true);
    assert_eq!(result["deleted"], json!([1]));
    let inbox = fetch_raw(&user, "INBOX").await;
    assert_eq!(uids(&inbox), [2]);
    assert!(inbox[0].flags.contains(&"\\Deleted".to_owned()));
    assert!(fetch_raw(&user, "Trash").await.is_empty());
}

/// A uid_validity that is not the folder's current one is refused by every message tool,
/// with a message saying to list the folder again, and nothing changes.
#[tokio::test]
async fn a_stale_uid_validity_changes_nothing() {
    let (server, user, token) = mailbox_with("org-stale", &["one"]).await;
    let stale = uid_validity(&user, "INBOX").await.wrapping_add(1);
    let before = stored(&user, "INBOX").await;

    let calls = [
        (
            "move_mail_message",
            json!({"folder": "INBOX", "uid": 1, "destination": "Archive", "uid_validity": stale}),
        ),
        (
            "delete_mail_message",
            json!({"folder": "INBOX", "uid": 1, "uid_validity": stale}),
        ),
        (
            "delete_mail_message",
            json!({"folder": "INBOX", "uid": 1, "permanent": true, "uid_validity": stale}),
        ),
        (
            "update_mail_message_flags",
            json!({"folder": "INBOX", "uid": 1, "add": ["\\Flagged"], "uid_validity": stale}),
        ),
    ];
    for (tool, arguments) in calls {
        let result = server.call_tool(&token, tool, arguments).await;
        let text = error_text(&result);
        assert!(
            text.contains("changed") && text.contains("list it again"),
            "{tool}: {text}"
        );
    }

    assert_eq!(stored(&user, "INBOX").await, before);
    assert!(fetch_raw(&user, "Archive").await.is_empty());
    assert!(fetch_raw(&user, "Trash").await.is_empty());
}

/// System flags (named loosely) and keywords are added and removed as asked, on exactly the
/// named messages; the result reports each message's flags; bad flags change nothing.
#[tokio::test]
async fn flags_are_added_and_removed_and_bad_ones_refused() {
    let (server, user, token) = mailbox_with("org-flags", &["one", "two", "three"]).await;

    let added = server
        .call_tool_ok(
            &token,
            "update_mail_message_flags",
            json!({"folder": "INBOX", "uids": [1, 2], "add": ["seen", "Flagged", "$Label1"]}),
        )
        .await;
    let reported = added["messages"].as_array().unwrap();
    assert_eq!(reported.len(), 2);
    for message in reported {
        let flags = message["flags"].as_array().unwrap();
        for flag in ["\\Seen", "\\Flagged", "$Label1"] {
            assert!(flags.contains(&json!(flag)), "{flag} in {message}");
        }
    }

    let removed = server
        .call_tool_ok(
            &token,
            "update_mail_message_flags",
            json!({"folder": "INBOX", "uid": 1, "remove": ["\\SEEN", "$label1"]}),
        )
        .await;
    assert_eq!(removed["messages"][0]["flags"], json!(["\\Flagged"]));

    let refusals = [
        (json!({"add": ["two words"]}), "a space"),
        (json!({"add": ["\\Recent"]}), "\\Recent"),
        (json!({"add": ["x)\r\nA1 EXPUNGE"]}), "')'"),
        (
            json!({"add": ["seen"], "remove": ["\\Seen"]}),
            "both in add and in remove",
        ),
        (json!({}), "at least one flag"),
        (json!({"add": ["seen"], "uids": [3]}), "not both"),
    ];
    for (extra, want) in refusals {
        let mut arguments = json!({"folder": "INBOX", "uid": 3});
        for (key, value) in extra.as_object().unwrap() {
            arguments[key] = value.clone();
        }
        let result = server
            .call_tool(&token, "update_mail_message_flags", arguments)
            .await;
        let text = error_text(&result);
        assert!(text.contains(want), "{want}: {text}");
    }

    let flags: Vec<Vec<String>> = stored(&user, "INBOX")
        .await
        .into_iter()
        .map(|m| m.flags)
        .collect();
    assert_eq!(
        flags,
        [
            vec!["\\Flagged".to_owned()],
            vec!["$Label1".into(), "\\Flagged".into(), "\\Seen".into()],
            vec![],
        ]
    );
}

/// Folders are created (nested with the server's delimiter, non-ASCII in modified UTF-7),
/// renamed and deleted as LIST then shows; creating an existing one is refused.
#[tokio::test]
async fn folders_are_created_renamed_and_deleted() {
    let (server, user, token) = mailbox_with("org-folders", &[]).await;

    let created = server
        .call_tool_ok(&token, "create_mailbox", json!({"name": "Projects/2026"}))
        .await;
    assert_eq!(created["name"], "Projects/2026");
    assert_eq!(created["delimiter"], "/");
    assert!(
        folder_names(&user)
            .await
            .contains(&"Projects/2026".to_owned())
    );

    let again = server
        .call_tool(&token, "create_mailbox", json!({"name": "Projects/2026"}))
        .await;
    assert!(error_text(&again).contains("already exists"));

    let renamed = server
        .call_tool_ok(
            &token,
            "rename_mailbox",
            json!({"name": "Projects/2026", "new_name": "Projects/Done"}),
        )
        .await;
    assert_eq!(renamed["new_name"], "Projects/Done");
    let names = folder_names(&user).await;
    assert!(names.contains(&"Projects/Done".to_owned()), "{names:?}");
    assert!(!names.contains(&"Projects/2026".to_owned()), "{names:?}");

    server
        .call_tool_ok(&token, "delete_mailbox", json!({"name": "Projects/Done"}))
        .await;
    assert!(
        !folder_names(&user)
            .await
            .contains(&"Projects/Done".to_owned())
    );

    let umlaut = server
        .call_tool_ok(&token, "create_mailbox", json!({"name": "Ärger"}))
        .await;
    assert_eq!(umlaut["name"], "&AMQ-rger");
    assert_eq!(umlaut["display_name"], "Ärger");
    assert!(folder_names(&user).await.contains(&"&AMQ-rger".to_owned()));
    append(&user, "&AMQ-rger", &message("grumble"), &[]).await;
    let listed = server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
    let entry = listed["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "&AMQ-rger")
        .cloned()
        .expect("the new folder is listed");
    assert_eq!(
        entry["display_name"], "Ärger",
        "list_mailboxes shows the readable name"
    );
    let page = server
        .call_tool_ok(&token, "list_mail_messages", json!({"folder": "Ärger"}))
        .await;
    assert_eq!(
        page["total"], 1,
        "reading tools accept the readable name: {page}"
    );
    let moved = server
        .call_tool_ok(
            &token,
            "move_mail_message",
            json!({"folder": "Ärger", "uid": 1, "destination": "INBOX"}),
        )
        .await;
    assert_eq!(moved["folder"], "&AMQ-rger");
    assert_eq!(fetch_raw(&user, "INBOX").await.len(), 1);
    server
        .call_tool_ok(&token, "delete_mailbox", json!({"name": "Ärger"}))
        .await;
    assert!(!folder_names(&user).await.contains(&"&AMQ-rger".to_owned()));
}

/// INBOX and the special-use folders cannot be renamed or deleted, and a bad name is
/// refused before anything is sent; LIST still shows them all afterwards.
#[tokio::test]
async fn inbox_special_folders_and_bad_names_are_refused() {
    let (server, user, token) = mailbox_with("org-protect", &[]).await;
    let before = folder_names(&user).await;

    let calls = [
        ("delete_mailbox", json!({"name": "INBOX"}), "is INBOX"),
        (
            "delete_mailbox",
            json!({"name": "Sent", "force": true}),
            "\\Sent folder",
        ),
        (
            "rename_mailbox",
            json!({"name": "Trash", "new_name": "Bin"}),
            "\\Trash folder",
        ),
        (
            "rename_mailbox",
            json!({"name": "inbox", "new_name": "Old"}),
            "is INBOX",
        ),
        (
            "create_mailbox",
            json!({"name": "a\r\nA1 DELETE INBOX"}),
            "control character",
        ),
        ("create_mailbox", json!({"name": "Work/*"}), "wildcard"),
        (
            "create_mailbox",
            json!({"name": "Work//2026"}),
            "empty level",
        ),
        (
            "delete_mailbox",
            json!({"name": "Nope"}),
            "no folder named \"Nope\"; existing folders: INBOX",
        ),
    ];
    for (tool, arguments, want) in calls {
        let result = server.call_tool(&token, tool, arguments.clone()).await;
        let text = error_text(&result);
        assert!(text.contains(want), "{tool} {arguments}: {text}");
    }

    assert_eq!(folder_names(&user).await, before);
}

/// A folder holding messages is deleted only with force (the refusal says how many it
/// holds); a folder with subfolders is refused and says which.
#[tokio::test]
async fn deleting_a_full_folder_needs_force_and_subfolders_are_named() {
    let (server, user, token) = mailbox_with("org-force", &[]).await;
    server
        .call_tool_ok(&token, "create_mailbox", json!({"name": "Old"}))
        .await;
    append(&user, "Old", &message("kept"), &[]).await;
    append(&user, "Old", &message("kept too"), &[]).await;

    let refused = server
        .call_tool(&token, "delete_mailbox", json!({"name": "Old"}))
        .await;
    assert!(error_text(&refused).contains("holds 2 message(s)"));
    assert_eq!(fetch_raw(&user, "Old").await.len(), 2);

    let forced = server
        .call_tool_ok(
            &token,
            "delete_mailbox",
            json!({"name": "Old", "force": true}),
        )
        .await;
    assert_eq!(forced["messages_deleted"], 2);
    assert!(!folder_names(&user).await.contains(&"Old".to_owned()));

    server
        .call_tool_ok(&token, "create_mailbox", json!({"name": "Parent/Child"}))
        .await;
    let parent = server
        .call_tool(
            &token,
            "delete_mailbox",
            json!({"name": "Parent", "force": true}),
        )
        .await;
    assert!(error_text(&parent).contains("1 subfolder(s): Parent/Child"));
    let names = folder_names(&user).await;
    assert!(names.contains(&"Parent".to_owned()) && names.contains(&"Parent/Child".to_owned()));
}

/// Every organising tool is listed with its annotations and an output schema.
#[tokio::test]
async fn the_organising_tools_are_annotated() {
    let (server, _, token) = mailbox_with("org-list", &[]).await;
    let tools = server.mcp(&token, "tools/list", json!({})).await;
    let expected = [
        ("move_mail_message", false),
        ("delete_mail_message", true),
        ("update_mail_message_flags", false),
        ("create_mailbox", false),
        ("rename_mailbox", false),
        ("delete_mailbox", true),
    ];
    for (name, destructive) in expected {
        let tool = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is offered"));
        assert_eq!(tool["annotations"]["readOnlyHint"], false, "{name}");
        assert_eq!(
            tool["annotations"]["destructiveHint"], destructive,
            "{name}"
        );
        assert!(tool["annotations"]["title"].is_string(), "{name}");
        assert!(tool["outputSchema"].is_object(), "{name}");
        assert!(tool["inputSchema"]["properties"].is_object(), "{name}");
    }
}
