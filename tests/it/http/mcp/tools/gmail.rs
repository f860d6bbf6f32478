//! Gmail's extension (X-GM-EXT-1) through the tools, against the scripted stand-in of
//! `common::gmail_imap` (Gmail cannot run locally): labels and thread ids in list and
//! get results, the label and gmail_raw searches, get_mail_thread by X-GM-THRID, and
//! label_mail_messages; on the stack's Dovecot (no X-GM-EXT-1) results carry none of it
//! and the Gmail-only arguments are refused with a clear error.

use crate::common;

use serde_json::{Value, json};

use common::app::TestServer;
use common::gmail_imap::GmailImap;
use common::{append, error_text, small_message, stack};

/// The thread id of the offsite conversation (a 64-bit number past 2^53).
const THREAD: u64 = 1_266_894_439_832_287_888;

/// A plain message without In-Reply-To or References: only Gmail's thread id links it.
fn message(from: &str, subject: &str, hour: u32, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: someone@gmail.test\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Mar 2026 {hour:02}:00:00 +0000\r\nMessage-ID: <{}@gmail.test>\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

/// A Gmail stand-in with a three-message conversation (one of them sent, so only in Sent
/// Mail and All Mail), a newsletter with the same subject in another conversation, and
/// a server and token for it.
async fn gmail() -> (GmailImap, TestServer, String) {
    let stack = stack();
    let gmail = GmailImap::start(stack).await;
    gmail.add(
        &message("Ann <ann@x.test>", "Offsite", 9, "Shall we meet in May?"),
        &["\\Inbox", "Work"],
        THREAD,
    );
    gmail.add(
        &message(
            "someone@gmail.test",
            "Re: Offsite",
            10,
            "May works.\n\nOn Mon, Ann wrote:\n> Shall we meet in May?",
        ),
        &["\\Sent"],
        THREAD,
    );
    gmail.add(
        &message("Ann <ann@x.test>", "Re: Offsite", 11, "Booked for 12 May."),
        &["\\Inbox", "\\Important", "Work"],
        THREAD,
    );
    gmail.add(
        &message("News <news@y.test>", "Offsite", 12, "Our offsite deals!"),
        &["\\Inbox", "Newsletters"],
        42,
    );
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(gmail.account());
    (gmail, server, token)
}

fn subjects(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Listing and reading on Gmail report each message's labels and its conversation id (as
/// text: it does not fit a JSON number's exact range).
#[tokio::test]
async fn gmail_results_carry_labels_and_thread_ids() {
    let (_gmail, server, token) = gmail().await;
    let page = server
        .call_tool_ok(&token, "list_mail_messages", json!({"folder": "INBOX"}))
        .await;
    assert_eq!(subjects(&page), ["Offsite", "Re: Offsite", "Offsite"]);
    let newest = &page["messages"][0];
    assert_eq!(newest["labels"], json!(["\\Inbox", "Newsletters"]));
    assert_eq!(newest["gmail_thread_id"], "42");
    let booked = &page["messages"][1];
    assert_eq!(booked["labels"], json!(["\\Inbox", "\\Important", "Work"]));
    assert_eq!(booked["gmail_thread_id"], THREAD.to_string());

    let read = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"folder": "INBOX", "uid": booked["uid"], "attachment_urls": false}),
        )
        .await;
    assert_eq!(read["labels"], json!(["\\Inbox", "\\Important", "Work"]));
    assert_eq!(read["gmail_thread_id"], THREAD.to_string());
    assert!(read["body"]["text"].as_str().unwrap().contains("Booked"));
}

/// On a server without X-GM-EXT-1 (the stack's Dovecot) results have no labels or
/// gmail_thread_id keys, and the Gmail-only arguments are refused saying why.
#[tokio::test]
async fn other_servers_have_no_labels_and_refuse_gmail_arguments() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("gmail-none");
    let token = server.tokens_for(stack, &user).await.access_token;
    append(&user, "INBOX", &small_message("plain"), &[]).await;
    let page = server
        .call_tool_ok(&token, "list_mail_messages", json!({}))
        .await;
    let first = &page["messages"][0];
    assert!(first.get("labels").is_none() && first.get("gmail_thread_id").is_none());
    for (tool, args) in [
        ("search_mail_messages", json!({"label": "Work"})),
        (
            "search_mail_messages",
            json!({"gmail_raw": "has:attachment"}),
        ),
        (
            "label_mail_messages",
            json!({"folder": "INBOX", "uid": first["uid"], "add": ["Work"]}),
        ),
    ] {
        let text = error_text(&server.call_tool(&token, tool, args).await);
        assert!(text.contains("X-GM-EXT-1"), "{tool}: {text}");
    }
}

/// The label criterion sends X-GM-LABELS and gmail_raw sends X-GM-RAW: each finds the
/// messages Gmail would.
#[tokio::test]
async fn gmail_searches_by_label_and_raw_query() {
    let (gmail, server, token) = gmail().await;
    let work = server
        .call_tool_ok(
            &token,
            "search_mail_messages",
            json!({"folder": "INBOX", "label": "Work"}),
        )
        .await;
    assert_eq!(subjects(&work), ["Re: Offsite", "Offsite"]);
    let raw = server
        .call_tool_ok(
            &token,
            "search_mail_messages",
            json!({"folder": "[Gmail]/All Mail", "gmail_raw": "label:newsletters deals"}),
        )
        .await;
    assert_eq!(subjects(&raw), ["Offsite"]);
    assert_eq!(raw["messages"][0]["gmail_thread_id"], "42");
    let commands = gmail.commands();
    assert!(
        commands
            .iter()
            .any(|c| c.ends_with("UID SEARCH X-GM-LABELS \"Work\"")),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.contains("X-GM-RAW \"label:newsletters deals\""))
    );
}

/// get_mail_thread on Gmail is Gmail's conversation: the messages of All Mail with the
/// asked message's X-GM-THRID (the sent reply included, the newsletter of the same
/// subject left out), with bodies, though no References header links them; no header
/// search is sent.
#[tokio::test]
async fn gmail_threads_come_from_the_thread_id() {
    let (gmail, server, token) = gmail().await;
    let page = server
        .call_tool_ok(&token, "list_mail_messages", json!({"folder": "INBOX"}))
        .await;
    let booked = page["messages"][1]["uid"].clone();
    let thread = server
        .call_tool_ok(
            &token,
            "get_mail_thread",
            json!({"folder": "INBOX", "uid": booked}),
        )
        .await;
    assert_eq!(thread["found_by"], "gmail_thread_id");
    assert_eq!(thread["searched_folders"], json!(["[Gmail]/All Mail"]));
    let messages = thread["messages"].as_array().unwrap();
    let found: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["folder"].as_str().unwrap(),
                m["subject"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("[Gmail]/All Mail", "Offsite"),
            ("[Gmail]/All Mail", "Re: Offsite"),
            ("[Gmail]/All Mail", "Re: Offsite")
        ]
    );
    let reply = messages[1]["body"]["text"].as_str().unwrap();
    assert!(reply.starts_with("May works."), "{reply}");
    assert!(
        !reply.contains("> Shall we"),
        "the quote is folded: {reply}"
    );
    let commands = gmail.commands();
    assert!(
        commands
            .iter()
            .any(|c| c.ends_with(&format!("UID SEARCH X-GM-THRID {THREAD}"))),
        "{commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| c.contains("SEARCH") && c.contains("HEADER")),
        "{commands:?}"
    );
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.contains("BODY.PEEK[]<0."))
            .count(),
        1,
        "one FETCH for the bodies of All Mail: {commands:?}"
    );
}

/// label_mail_messages adds and removes labels with UID STORE ±X-GM-LABELS and returns
/// the labels Gmail reports afterwards; removing \Inbox takes the message out of INBOX
/// (Gmail's archive), leaving it in All Mail.
#[tokio::test]
async fn labels_are_added_and_removed() {
    let (gmail, server, token) = gmail().await;
    let page = server
        .call_tool_ok(&token, "list_mail_messages", json!({"folder": "INBOX"}))
        .await;
    let newsletter = page["messages"][0]["uid"].clone();
    let changed = server
        .call_tool_ok(
            &token,
            "label_mail_messages",
            json!({"folder": "INBOX", "uid": newsletter, "add": ["Read later", "\\Starred"], "remove": ["\\Inbox"]}),
        )
        .await;
    let labels = json!(["Newsletters", "Read later", "\\Starred"]);
    assert_eq!(changed["messages"][0]["labels"], labels, "{changed}");
    assert_eq!(
        gmail.labels_of(4),
        ["Newsletters", "Read later", "\\Starred"]
    );
    let commands = gmail.commands();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("+X-GM-LABELS (\"Read later\" \\Starred)")),
        "{commands:?}"
    );
    let inbox = server
        .call_tool_ok(&token, "list_mail_messages", json!({"folder": "INBOX"}))
        .await;
    assert_eq!(inbox["total"], 2, "archived out of INBOX: {inbox}");

    let bad = server
        .call_tool(
            &token,
            "label_mail_messages",
            json!({"folder": "INBOX", "uid": 1, "add": ["bad\r\nlabel"]}),
        )
        .await;
    assert!(error_text(&bad).contains("line breaks"));
}

/// label_mail_messages by search: a dry run counts the matches (by label) and changes
/// nothing; the real run labels exactly those, in a batch; on a server without X-GM-EXT-1
/// the same call is refused before anything is searched.
#[tokio::test]
async fn labels_follow_a_search_with_a_dry_run_first() {
    let (gmail, server, token) = gmail().await;
    let by_label =
        json!({"folder": "INBOX", "where": {"label": "Newsletters"}, "add": ["Read later"]});
    let mut dry = by_label.clone();
    dry["dry_run"] = json!(true);
    let counted = server
        .call_tool_ok(&token, "label_mail_messages", dry)
        .await;
    assert_eq!(counted["matched"], 1, "{counted}");
    assert_eq!(counted["sample"][0]["subject"], "Offsite", "{counted}");
    assert_eq!(gmail.labels_of(4), ["\\Inbox", "Newsletters"]);

    let labelled = server
        .call_tool_ok(&token, "label_mail_messages", by_label.clone())
        .await;
    assert_eq!(labelled["done"], 1, "{labelled}");
    assert_eq!(labelled["batches"], 1, "{labelled}");
    assert_eq!(gmail.labels_of(4), ["\\Inbox", "Newsletters", "Read later"]);
    assert_eq!(gmail.labels_of(3), ["\\Inbox", "\\Important", "Work"]);

    let stack = stack();
    let dovecot = TestServer::start(stack, &[]).await;
    let user = stack.new_user("labelswhere");
    let refused = dovecot
        .call_tool(
            &dovecot.access_token_for(stack.mail_account(&user)),
            "label_mail_messages",
            by_label,
        )
        .await;
    assert!(error_text(&refused).contains("X-GM-EXT-1"), "{refused}");
}
