//! `http::mcp::drafts_only`: a connection whose person chose "Drafts only" (and, at the
//! end, "Read only"), against the real Dovecot and Postfix. Sends, replies and forwards
//! become drafts in Drafts, composed as they would have been sent; Postfix never hears of
//! them (its log under the stack directory names no submission by the account, checked
//! after a control send whose lines do appear, so the check is shown able to fail); what
//! cannot be undone is refused and the mailbox is left as it was.

use crate::common;

use common::app::TestServer;
use common::{Stack, wait_for_messages};
use common::{TestUser, append, error_text, eventually, fetch_raw, folder_names, stack};
use mail_mcp::token::SendPolicy;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

/// A server, a drafts-only token for alice, and the people she writes to.
struct Room {
    server: TestServer,
    token: String,
    alice: TestUser,
    bob: TestUser,
    carol: TestUser,
    dave: TestUser,
}

impl Room {
    async fn open() -> Room {
        let stack = stack();
        let server = TestServer::start(stack, &[]).await;
        let alice = stack.new_user("alice");
        let token =
            server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::DraftsOnly);
        Room {
            server,
            token,
            alice,
            bob: stack.new_user("bob"),
            carol: stack.new_user("carol"),
            dave: stack.new_user("dave"),
        }
    }

    async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool(&self.token, tool, arguments).await
    }

    async fn call_ok(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool_ok(&self.token, tool, arguments).await
    }

    /// Proves Postfix took nothing from alice: a control user with a send-freely token
    /// sends to bob; once the control's submission is in Postfix's log and its message in
    /// bob's INBOX (so anything alice handed over earlier would be logged too), the log
    /// names no submission by alice and bob holds only the control message.
    async fn assert_postfix_saw_nothing_from_alice(&self) {
        let stack = stack();
        let control = stack.new_user("control");
        let token = self.server.access_token_for(stack.mail_account(&control));
        self.server
            .call_tool_ok(
                &token,
                "send_mail_message",
                json!({"to": self.bob.email, "subject": "control", "text_body": "control"}),
            )
            .await;
        let at_bob = wait_for_messages(&self.bob, "INBOX", 1).await;
        eventually("Postfix logs the control submission", async || {
            submissions_by(stack, &control) > 0
        })
        .await;
        assert_eq!(
            submissions_by(stack, &self.alice),
            0,
            "Postfix's log names a submission by the drafts-only account"
        );
        assert_eq!(at_bob.len(), 1, "bob received only the control message");
        assert!(contains(&at_bob[0].raw, "Subject: control"));
        for other in [&self.carol, &self.dave] {
            assert!(
                fetch_raw(other, "INBOX").await.is_empty(),
                "{other:?} got mail"
            );
        }
        assert!(
            fetch_raw(&self.alice, "Sent").await.is_empty(),
            "nothing was filed in Sent"
        );
    }
}

/// Lines of Postfix's log (`postfix.log` in the stack directory) that record mail handed
/// over by `user`: their SASL login at submission or their envelope sender.
fn submissions_by(stack: &Stack, user: &TestUser) -> usize {
    let log = std::fs::read_to_string(stack.dir.join("postfix.log")).unwrap_or_default();
    let login = format!("sasl_username={}", user.email).to_ascii_lowercase();
    let sender = format!("from=<{}>", user.email).to_ascii_lowercase();
    log.lines()
        .map(str::to_ascii_lowercase)
        .filter(|line| line.contains(&login) || line.contains(&sender))
        .count()
}

fn contains(raw: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(raw)
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// The one message of `folder` of `user` at `uid`.
async fn message_at(user: &TestUser, folder: &str, uid: u64) -> common::RawMessage {
    fetch_raw(user, folder)
        .await
        .into_iter()
        .find(|m| u64::from(m.uid) == uid)
        .unwrap_or_else(|| panic!("no message {uid} in {folder}"))
}

/// Checks the drafts-only result and returns the draft's uid in Drafts.
fn drafted(result: &Value) -> u64 {
    assert_eq!(result["sent"], false, "{result}");
    assert_eq!(result["policy"], "drafts_only", "{result}");
    assert_eq!(result["saved_as_draft"]["folder"], "Drafts", "{result}");
    assert!(result["saved_as_draft"]["uid_validity"].as_u64().is_some());
    let note = result["note"].as_str().unwrap();
    assert!(note.starts_with("NOT SENT"), "{note}");
    assert!(note.contains("mail app"), "{note}");
    result["saved_as_draft"]["uid"].as_u64().unwrap()
}

/// A message from bob to alice with one attachment, stored straight into her INBOX.
fn original_from(room: &Room) -> String {
    format!(
        "From: Bob B <{bob}>\r\nTo: {alice}\r\nCc: {carol}\r\nSubject: Report\r\n\
         Date: Tue, 1 Jul 2025 10:00:00 +0000\r\nMessage-ID: <report-7@example.test>\r\n\
         References: <root-6@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n\
         --XYZ\r\nContent-Type: text/plain\r\n\r\nThe figures are attached.\r\n\
         --XYZ\r\nContent-Type: application/pdf\r\n\
         Content-Disposition: attachment; filename=\"figures.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKZmlndXJlcwo=\r\n--XYZ--\r\n",
        bob = room.bob.email,
        alice = room.alice.email,
        carol = room.carol.email,
    )
}

/// A drafts-only send_mail_message saves the message, as it would have been sent (To,
/// Cc, Bcc kept in the draft, subject, text and HTML, an inline attachment), in Drafts
/// flagged \Draft under the reported uid; the result says it was not sent; Postfix never
/// hears of it and nobody receives anything. The listing told the model so beforehand.
#[tokio::test]
async fn a_drafts_only_send_is_saved_as_a_draft_and_never_reaches_postfix() {
    let room = Room::open().await;
    let listed = room.server.mcp(&room.token, "tools/list", json!({})).await;
    let send = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "send_mail_message")
        .unwrap();
    assert!(
        send["description"]
            .as_str()
            .unwrap()
            .starts_with("DRAFTS ONLY")
    );
    assert_eq!(send["annotations"]["openWorldHint"], false);

    let result = room
        .call_ok(
            "send_mail_message",
            json!({
                "to": [room.bob.email],
                "cc": format!("Carol C <{}>", room.carol.email),
                "bcc": room.dave.email,
                "subject": "Quarterly plans",
                "text_body": "Hello Bob,\nthe plans.\n",
                "html_body": "<p>Hello Bob,<br>the <b>plans</b>.</p>",
                "attachments": [{"filename": "plan.txt", "content_type": "text/plain",
                                 "content_base64": "cGxhbiBB"}],
            }),
        )
        .await;
    let uid = drafted(&result);
    assert_eq!(
        result["recipients"],
        json!([room.bob.email, room.carol.email, room.dave.email])
    );

    let draft = message_at(&room.alice, "Drafts", uid).await;
    assert!(
        draft.flags.iter().any(|f| f == "\\Draft"),
        "{:?}",
        draft.flags
    );
    let parsed = MessageParser::default().parse(&draft.raw).unwrap();
    assert_eq!(parsed.subject(), Some("Quarterly plans"));
    let first = |a: Option<&mail_parser::Address<'_>>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned)
    };
    assert_eq!(first(parsed.to()), Some(room.bob.email.clone()));
    assert_eq!(first(parsed.cc()), Some(room.carol.email.clone()));
    assert_eq!(first(parsed.bcc()), Some(room.dave.email.clone()));
    assert_eq!(
        parsed.message_id().map(|id| format!("<{id}>")),
        result["message_id"].as_str().map(str::to_owned)
    );
    assert!(parsed.body_html(0).unwrap().contains("<b>plans</b>"));
    let files: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|p| {
            (
                p.attachment_name().unwrap().to_owned(),
                p.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(files, [("plan.txt".to_owned(), b"plan A".to_vec())]);

    room.assert_postfix_saw_nothing_from_alice().await;
}

/// A drafts-only reply is a draft threaded to its parent (In-Reply-To, References),
/// titled "Re: " and quoting it, the parent NOT flagged \Answered; a forward is a draft
/// "Fwd: " carrying the original's attachment byte for byte, the original not flagged
/// $Forwarded. Postfix hears of neither.
#[tokio::test]
async fn drafts_only_replies_and_forwards_are_drafts_composed_as_they_would_be_sent() {
    let room = Room::open().await;
    append(&room.alice, "INBOX", original_from(&room).as_bytes(), &[]).await;
    let original = wait_for_messages(&room.alice, "INBOX", 1).await.remove(0);

    let reply = room
        .call_ok(
            "reply_to_mail_message",
            json!({"folder": "INBOX", "uid": original.uid, "reply_all": true,
                   "text_body": "Thanks, looks good."}),
        )
        .await;
    let reply_uid = drafted(&reply);
    assert!(
        reply["note"]
            .as_str()
            .unwrap()
            .contains("the reply was saved")
    );
    assert_eq!(
        reply["recipients"],
        json!([room.bob.email, room.carol.email])
    );
    let draft = message_at(&room.alice, "Drafts", reply_uid).await;
    let parsed = MessageParser::default().parse(&draft.raw).unwrap();
    assert_eq!(parsed.subject(), Some("Re: Report"));
    assert_eq!(
        parsed.in_reply_to().as_text(),
        Some("report-7@example.test")
    );
    let references: Vec<String> = parsed
        .references()
        .as_text_list()
        .unwrap_or_default()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(references, ["root-6@example.test", "report-7@example.test"]);
    let text = parsed.body_text(0).unwrap();
    assert!(text.starts_with("Thanks, looks good."), "{text}");
    assert!(text.contains("> The figures are attached."), "{text}");

    let forward = room
        .call_ok(
            "forward_mail_message",
            json!({"folder": "INBOX", "uid": original.uid, "to": room.dave.email,
                   "bcc": room.carol.email, "text_body": "FYI"}),
        )
        .await;
    let forward_uid = drafted(&forward);
    let draft = message_at(&room.alice, "Drafts", forward_uid).await;
    let parsed = MessageParser::default().parse(&draft.raw).unwrap();
    assert_eq!(parsed.subject(), Some("Fwd: Report"));
    assert!(contains(&draft.raw, &format!("Bcc: {}", room.carol.email)));
    let files: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|p| {
            (
                p.attachment_name().unwrap().to_owned(),
                p.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [("figures.pdf".to_owned(), b"%PDF-1.4\nfigures\n".to_vec())]
    );

    let original_now = message_at(&room.alice, "INBOX", u64::from(original.uid)).await;
    assert!(
        !original_now
            .flags
            .iter()
            .any(|f| f == "\\Answered" || f == "$Forwarded"),
        "the original is not flagged as answered or forwarded: {:?}",
        original_now.flags
    );
    room.assert_postfix_saw_nothing_from_alice().await;
}

/// A drafts-only connection refuses, with an error naming the policy and the way out,
/// sending a draft, deleting for good, deleting a folder and changing messages by search;
/// each leaves the mailbox as it was. A bulk dry run and an ordinary delete (to Trash)
/// still work; the always-refused tools are not listed.
#[tokio::test]
async fn a_drafts_only_connection_refuses_what_cannot_be_undone() {
    let room = Room::open().await;
    let listed = room.server.mcp(&room.token, "tools/list", json!({})).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(!names.contains(&"send_draft") && !names.contains(&"delete_mailbox"));
    assert!(names.contains(&"delete_mail_message") && names.contains(&"move_mail_message"));

    let refused = |result: &Value| {
        let text = error_text(result);
        assert!(text.contains("\"Drafts only\""), "{text}");
        assert!(text.contains("nothing changed"), "{text}");
        assert!(text.contains("reconnect this app"), "{text}");
        text
    };

    let draft = room
        .call_ok(
            "create_draft_mail_message",
            json!({"to": room.bob.email, "subject": "Later", "text_body": "draft"}),
        )
        .await;
    let text = refused(
        &room
            .call(
                "send_draft",
                json!({"folder": draft["folder"], "uid": draft["uid"],
                       "uid_validity": draft["uid_validity"]}),
            )
            .await,
    );
    assert!(text.starts_with("send_draft was refused"), "{text}");
    assert_eq!(
        fetch_raw(&room.alice, "Drafts").await.len(),
        1,
        "the draft stays"
    );

    for subject in ["Keep one", "Keep two"] {
        append(
            &room.alice,
            "INBOX",
            common::small_message(subject).as_slice(),
            &[],
        )
        .await;
    }
    let inbox = wait_for_messages(&room.alice, "INBOX", 2).await;
    let text = refused(
        &room
            .call(
                "delete_mail_message",
                json!({"folder": "INBOX", "uid": inbox[0].uid, "permanent": true}),
            )
            .await,
    );
    assert!(text.contains("without permanent"), "{text}");
    assert_eq!(
        fetch_raw(&room.alice, "INBOX").await.len(),
        2,
        "nothing was deleted"
    );

    room.call_ok("create_mailbox", json!({"name": "Projects"}))
        .await;
    refused(
        &room
            .call("delete_mailbox", json!({"name": "Projects"}))
            .await,
    );
    assert!(
        folder_names(&room.alice)
            .await
            .iter()
            .any(|n| n == "Projects")
    );

    let by_search = json!({"folder": "INBOX", "where": {"subject": "Keep"},
                           "destination": "Projects"});
    let text = refused(&room.call("move_mail_message", by_search.clone()).await);
    assert!(text.contains("dry_run: true"), "{text}");
    let text = refused(
        &room
            .call(
                "update_mail_message_flags",
                json!({"folder": "INBOX", "where": {"subject": "Keep"}, "add": ["\\Flagged"]}),
            )
            .await,
    );
    assert!(text.contains("where"), "{text}");
    let mut dry = by_search;
    dry["dry_run"] = json!(true);
    let preview = room.call_ok("move_mail_message", dry).await;
    assert!(
        preview.to_string().contains(&inbox[1].uid.to_string()),
        "{preview}"
    );
    let inbox_now = fetch_raw(&room.alice, "INBOX").await;
    assert_eq!(inbox_now.len(), 2, "the bulk calls moved nothing");
    assert!(
        inbox_now
            .iter()
            .all(|m| !m.flags.iter().any(|f| f == "\\Flagged"))
    );

    room.call_ok(
        "delete_mail_message",
        json!({"folder": "INBOX", "uid": inbox[0].uid}),
    )
    .await;
    assert_eq!(
        fetch_raw(&room.alice, "Trash").await.len(),
        1,
        "moved to Trash"
    );
}

/// A read-only connection lists only tools annotated read-only, and every writing tool
/// called anyway is refused before it runs (`403`, `insufficient_scope` naming mail.send,
/// with a readable description), the mailbox unchanged; reading still works.
#[tokio::test]
async fn a_read_only_connection_lists_only_read_tools_and_refuses_writing_ones() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user("alice");
    let token = server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::ReadOnly);
    let listed = server.mcp(&token, "tools/list", json!({})).await;
    let tools = listed["tools"].as_array().unwrap();
    assert!(tools.len() >= 5, "{listed}");
    for tool in tools {
        assert_eq!(
            tool["annotations"]["readOnlyHint"], true,
            "{}",
            tool["name"]
        );
    }
    append(
        &alice,
        "INBOX",
        common::small_message("Hello").as_slice(),
        &[],
    )
    .await;
    let uid = wait_for_messages(&alice, "INBOX", 1).await[0].uid;
    for (tool, arguments) in [
        (
            "send_mail_message",
            json!({"to": "bob@example.test", "subject": "x"}),
        ),
        ("create_draft_mail_message", json!({"subject": "x"})),
        (
            "delete_mail_message",
            json!({"folder": "INBOX", "uid": uid, "permanent": true}),
        ),
        ("delete_mailbox", json!({"name": "INBOX"})),
    ] {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": arguments}});
        let response = server.mcp_raw(Some(&token), call).await;
        assert_eq!(response.status(), 403, "{tool}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("insufficient_scope") && challenge.contains("mail.send"),
            "{tool}: {challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{body}"
        );
    }
    assert_eq!(fetch_raw(&alice, "INBOX").await.len(), 1);
    assert!(fetch_raw(&alice, "Drafts").await.is_empty());
    let read = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"folder": "INBOX", "uid": uid}),
        )
        .await;
    assert_eq!(read["subject"], "Hello", "{read}");
}
