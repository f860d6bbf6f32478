//! The reading tools (`list_mail_messages`, `get_mail_message`, `search_mail_messages`,
//! `get_mail_thread`) through MCP calls over HTTP with a token from the real login,
//! against the stack's Dovecot. Messages are put in over IMAP and every outcome is checked
//! in the mailbox itself as well as in the tool's answer.

use crate::common;

use std::time::Instant;

use async_imap::imap_proto::SectionPath;
use base64::Engine;
use futures::TryStreamExt;
use serde_json::{Value, json};

use common::app::TestServer;
use common::{TestUser, append, error_text, fetch_raw, imap_session, stack};

/// A server, a fresh mailbox and an access token from the browser login.
async fn setup(prefix: &str) -> (TestServer, TestUser, String) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user(prefix);
    let token = server.tokens_for(stack, &user).await.access_token;
    (server, user, token)
}

/// A plain text message.
fn simple(from: &str, subject: &str, date: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: someone@example.test\r\nSubject: {subject}\r\nDate: {date}\r\n\
Message-ID: <{}@test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

fn subjects(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Appends `raw` with `flags` and an INTERNALDATE such as `"01-Feb-2024 10:00:00 +0000"`.
async fn append_dated(user: &TestUser, folder: &str, raw: &[u8], flags: &str, received: &str) {
    let mut session = imap_session(user).await;
    let flags = (!flags.is_empty()).then(|| format!("({flags})"));
    session
        .append(
            folder,
            flags.as_deref(),
            Some(&format!("\"{received}\"")),
            raw,
        )
        .await
        .unwrap_or_else(|e| panic!("APPEND to {folder} failed: {e}"));
    session.logout().await.ok();
}

/// Appends many messages to `folder` with MULTIAPPEND and LITERAL+ (one command per
/// batch of 500, no round trip per message), in 5 sessions at once: one session appends
/// about 300 messages a second here, five together several times that. The order of the
/// batches, and so of the UIDs, is not the order of `messages`.
async fn multiappend(user: &TestUser, folder: &str, messages: Vec<Vec<u8>>) {
    const BATCH: usize = 500;
    const SESSIONS: usize = 5;
    let per_session = messages.len().div_ceil(SESSIONS);
    let sessions = messages.chunks(per_session).map(|share| async move {
        let mut session = imap_session(user).await;
        for batch in share.chunks(BATCH) {
            let mut command = format!("APPEND \"{folder}\"");
            for raw in batch {
                let text = std::str::from_utf8(raw).expect("test messages are UTF-8");
                command.push_str(&format!(" {{{}+}}\r\n{text}", raw.len()));
            }
            session
                .run_command_and_check_ok(&command)
                .await
                .unwrap_or_else(|e| panic!("MULTIAPPEND to {folder} failed: {e}"));
        }
        session.logout().await.ok();
    });
    futures::future::join_all(sessions).await;
}

/// UIDVALIDITY and every UID of `folder`, over IMAP.
async fn folder_uids(user: &TestUser, folder: &str) -> (u32, Vec<u32>) {
    let mut session = imap_session(user).await;
    let mailbox = session.examine(folder).await.unwrap();
    let mut uids: Vec<u32> = session
        .uid_search("ALL")
        .await
        .unwrap()
        .into_iter()
        .collect();
    uids.sort_unstable();
    session.logout().await.ok();
    (mailbox.uid_validity.unwrap(), uids)
}

/// The flags of message `uid` of `folder` over IMAP, without the session's `\Recent`.
async fn flags_of(user: &TestUser, folder: &str, uid: u32) -> Vec<String> {
    fetch_raw(user, folder)
        .await
        .into_iter()
        .find(|m| m.uid == uid)
        .unwrap_or_else(|| panic!("no UID {uid} in {folder}"))
        .flags
        .into_iter()
        .filter(|f| f != "\\Recent")
        .collect()
}

/// Section `part` of message `uid`, fetched alone over IMAP with BODY.PEEK[part].
async fn fetch_part(user: &TestUser, folder: &str, uid: u32, part: &str) -> Vec<u8> {
    let mut session = imap_session(user).await;
    session.examine(folder).await.unwrap();
    let fetches: Vec<_> = session
        .uid_fetch(uid.to_string(), format!("(BODY.PEEK[{part}])"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let path = SectionPath::Part(part.split('.').map(|n| n.parse().unwrap()).collect(), None);
    let bytes = fetches
        .iter()
        .find_map(|f| f.section(&path))
        .unwrap_or_else(|| panic!("no BODY[{part}] in the answer"))
        .to_vec();
    session.logout().await.ok();
    bytes
}

/// The tools are offered with annotations and output schemas.
#[tokio::test]
async fn the_read_tools_are_listed_with_annotations_and_schemas() {
    let (server, _user, token) = setup("read-tools-list").await;
    let tools = server.mcp(&token, "tools/list", json!({})).await;
    for name in [
        "list_mail_messages",
        "get_mail_message",
        "search_mail_messages",
        "get_mail_thread",
    ] {
        let tool = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is offered"));
        assert!(tool["annotations"]["title"].is_string(), "{name}");
        assert_eq!(tool["annotations"]["destructiveHint"], false, "{name}");
        assert!(tool["outputSchema"].is_object(), "{name}");
        assert!(
            tool["description"]
                .as_str()
                .unwrap()
                .contains("instructions"),
            "{name} warns that mail is data"
        );
    }
}

/// Messages come newest first, paged, with decoded subjects and names, the folder's
/// uid_validity and UIDs that are the mailbox's; listing marks nothing seen.
#[tokio::test]
async fn lists_newest_first_in_pages() {
    let (server, user, token) = setup("read-list").await;
    for n in 1..=6 {
        let raw = simple(
            "Ann <ann@x.test>",
            &format!("m{n}"),
            "Mon, 1 Jan 2024 10:00:00 +0000",
            "hi",
        );
        append(&user, "INBOX", &raw, &[]).await;
    }
    let encoded = b"From: =?UTF-8?Q?J=C3=BCrg_M=C3=BCller?= <jm@x.test>\r\n\
Subject: =?UTF-8?B?R3LDvMOfZQ==?= m7\r\nDate: Tue, 2 Jan 2024 08:30:00 +0100\r\n\r\nhallo\r\n";
    append(&user, "INBOX", encoded, &["\\Flagged"]).await;
    let (uid_validity, uids) = folder_uids(&user, "INBOX").await;

    let first = server
        .call_tool_ok(&token, "list_mail_messages", json!({"per_page": 3}))
        .await;
    assert_eq!(subjects(&first), ["Grüße m7", "m6", "m5"]);
    assert_eq!(first["total"], 7);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["uid_validity"], uid_validity);
    assert_eq!(first["folder"], "INBOX");
    let newest = &first["messages"][0];
    assert_eq!(newest["uid"], uids[6]);
    assert_eq!(newest["from"][0]["name"], "Jürg Müller");
    assert_eq!(newest["from"][0]["email"], "jm@x.test");
    assert_eq!(newest["date"], "2024-01-02T08:30:00+01:00");
    assert_eq!(newest["flags"], json!(["\\Flagged"]));
    assert_eq!(newest["has_attachments"], false);
    assert!(newest["size"].as_u64().unwrap() > 50);

    let last = server
        .call_tool_ok(
            &token,
            "list_mail_messages",
            json!({"folder": "inbox", "page": 3, "per_page": 3}),
        )
        .await;
    assert_eq!(subjects(&last), ["m1"]);
    assert_eq!(last["messages"][0]["uid"], uids[0]);
    assert_eq!(last["has_more"], false);
    let beyond = server
        .call_tool_ok(
            &token,
            "list_mail_messages",
            json!({"page": 4, "per_page": 3}),
        )
        .await;
    assert_eq!(subjects(&beyond), Vec::<String>::new());

    let stored = fetch_raw(&user, "INBOX").await;
    assert_eq!(stored.len(), 7);
    assert!(stored.iter().all(|m| !m.flags.contains(&"\\Seen".into())));

    let too_many = server
        .call_tool(&token, "list_mail_messages", json!({"per_page": 101}))
        .await;
    assert!(error_text(&too_many).contains("per_page must be between 1 and 100"));
}

/// On a folder of 5,000 messages the first and the last page are the right ones: the
/// highest and the lowest UIDs the folder holds, newest first.
#[tokio::test]
async fn lists_the_first_and_last_pages_of_5000_messages() {
    let (server, user, token) = setup("read-5000").await;
    let messages = (1..=5000)
        .map(|n| {
            simple(
                "Bulk <bulk@x.test>",
                &format!("n{n}"),
                "Mon, 1 Jan 2024 10:00:00 +0000",
                "x",
            )
        })
        .collect();
    let started = Instant::now();
    multiappend(&user, "INBOX", messages).await;
    eprintln!("appended 5000 messages in {:?}", started.elapsed());
    let (uid_validity, uids) = folder_uids(&user, "INBOX").await;
    assert_eq!(uids.len(), 5000);
    let uids_of = |page: &Value| -> Vec<u32> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uid"].as_u64().unwrap() as u32)
            .collect()
    };

    let first = server
        .call_tool_ok(&token, "list_mail_messages", json!({"per_page": 100}))
        .await;
    let newest: Vec<u32> = uids[4900..].iter().rev().copied().collect();
    assert_eq!(uids_of(&first), newest);
    assert_eq!(first["total"], 5000);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["uid_validity"], uid_validity);
    assert!(subjects(&first).iter().all(|s| s.starts_with('n')));

    let last = server
        .call_tool_ok(
            &token,
            "list_mail_messages",
            json!({"page": 50, "per_page": 100}),
        )
        .await;
    let oldest: Vec<u32> = uids[..100].iter().rev().copied().collect();
    assert_eq!(uids_of(&last), oldest);
    assert_eq!(last["has_more"], false);

    let middle = server
        .call_tool_ok(
            &token,
            "list_mail_messages",
            json!({"page": 2, "per_page": 30}),
        )
        .await;
    let second: Vec<u32> = uids[4940..4970].iter().rev().copied().collect();
    assert_eq!(uids_of(&middle), second);
}

/// multipart/mixed
///   1     multipart/alternative
///   1.1     text/plain
///   1.2     multipart/related
///   1.2.1     text/html
///   1.2.2     image/png, inline by Content-ID
///   2     application/pdf attachment, RFC 2231 file name
///   3     message/rfc822 (a forwarded message)
fn nested_message() -> Vec<u8> {
    let png = base64::engine::general_purpose::STANDARD.encode(PNG);
    let pdf = base64::engine::general_purpose::STANDARD.encode(PDF);
    format!(
        "From: Ann Example <ann@x.test>\r\nSender: Assistant <assistant@x.test>\r\n\
Reply-To: Replies <replies@x.test>\r\nTo: Bob <bob@example.test>, carol@example.test\r\n\
Cc: dave@example.test\r\nSubject: =?UTF-8?Q?Quartalsbericht_f=C3=BCr_Q1?=\r\n\
Date: Wed, 3 Apr 2024 09:15:00 +0200\r\nMessage-ID: <nested-1@x.test>\r\n\
In-Reply-To: <parent-1@x.test>\r\nReferences: <root-1@x.test> <parent-1@x.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
This is a multi-part message.\r\n\
--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Hallo Bob,=0D=0Ader Bericht f=C3=BCr Q1 h=C3=A4ngt an.\r\n\
--alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hallo Bob,</p><img src=\"cid:logo@x.test\">\r\n\
--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x.test>\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n\
--rel--\r\n\r\n--alt--\r\n\r\n\
--outer\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename*=UTF-8''Bericht%20Q1%20%C3%BC.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{FORWARDED}\r\n\
--outer--\r\n"
    )
    .into_bytes()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake image bytes";
const PDF: &[u8] = b"%PDF-1.4\n% fake pdf \xe2\xe3\xcf\xd3\n";
const FORWARDED: &str = "From: Eve <eve@x.test>\r\nSubject: Original\r\n\
Content-Type: text/plain\r\n\r\nforwarded text";

/// get_mail_message on a nested multipart message: every header, the text part, and
/// attachments whose part ids fetch exactly those parts from IMAP; nothing marked seen.
#[tokio::test]
async fn reads_a_nested_multipart_message_with_part_ids() {
    let (server, user, token) = setup("read-nested").await;
    append(&user, "INBOX", &nested_message(), &[]).await;
    let (uid_validity, uids) = folder_uids(&user, "INBOX").await;
    let uid = uids[0];

    let message = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"folder": "INBOX", "uid": uid, "uid_validity": uid_validity}),
        )
        .await;
    assert_eq!(message["uid"], uid);
    assert_eq!(message["uid_validity"], uid_validity);
    assert_eq!(message["subject"], "Quartalsbericht für Q1");
    assert_eq!(message["message_id"], "<nested-1@x.test>");
    assert_eq!(message["in_reply_to"], json!(["<parent-1@x.test>"]));
    assert_eq!(
        message["references"],
        json!(["<root-1@x.test>", "<parent-1@x.test>"])
    );
    assert_eq!(
        message["from"],
        json!([{"name": "Ann Example", "email": "ann@x.test"}])
    );
    assert_eq!(message["sender"]["email"], "assistant@x.test");
    assert_eq!(message["reply_to"][0]["email"], "replies@x.test");
    assert_eq!(
        message["to"],
        json!([{"name": "Bob", "email": "bob@example.test"}, {"name": null, "email": "carol@example.test"}])
    );
    assert_eq!(message["cc"][0]["email"], "dave@example.test");
    assert_eq!(message["date"], "2024-04-03T09:15:00+02:00");
    assert_eq!(message["flags"], json!([]));
    assert_eq!(message["body_source"], "text");
    assert_eq!(
        message["body"]["text"].as_str().unwrap().trim_end(),
        "Hallo Bob,\r\nder Bericht für Q1 hängt an."
    );
    assert_eq!(message["body"]["truncated"], false);
    assert_eq!(message["html"], Value::Null, "HTML only on request");

    let attachments = message["attachments"].as_array().unwrap();
    let described: Vec<(&str, &str, Option<&str>, bool)> = attachments
        .iter()
        .map(|a| {
            (
                a["part_id"].as_str().unwrap(),
                a["content_type"].as_str().unwrap(),
                a["filename"].as_str(),
                a["inline"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("1.2.2", "image/png", None, true),
            ("2", "application/pdf", Some("Bericht Q1 ü.pdf"), false),
            ("3", "message/rfc822", Some("Original.eml"), false),
        ]
    );
    assert_eq!(attachments[0]["content_id"], "logo@x.test");
    assert_eq!(attachments[0]["size"], PNG.len());
    assert_eq!(attachments[1]["size"], PDF.len());

    let decode = |bytes: Vec<u8>| {
        let text: String = String::from_utf8(bytes)
            .unwrap()
            .split_whitespace()
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    };
    assert_eq!(decode(fetch_part(&user, "INBOX", uid, "1.2.2").await), PNG);
    assert_eq!(decode(fetch_part(&user, "INBOX", uid, "2").await), PDF);
    assert_eq!(
        fetch_part(&user, "INBOX", uid, "3").await,
        FORWARDED.as_bytes()
    );
    assert!(
        String::from_utf8(fetch_part(&user, "INBOX", uid, "1.1").await)
            .unwrap()
            .contains("Hallo Bob,")
    );

    assert_eq!(flags_of(&user, "INBOX", uid).await, Vec::<String>::new());
    let listed = server
        .call_tool_ok(&token, "list_mail_messages", json!({}))
        .await;
    assert_eq!(listed["messages"][0]["has_attachments"], true);
}

/// A message with only an HTML part reads as text; the HTML comes only when asked for.
#[tokio::test]
async fn html_only_mail_reads_as_text() {
    let (server, user, token) = setup("read-html").await;
    let raw =
        b"From: shop@x.test\r\nSubject: Offer\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><style>p{color:red}</style></head><body><h1>Spring sale</h1>\
<p>Dear <b>Bob</b>, see <a href=\"https://shop.x.test/sale\">our offers</a>.</p></body></html>\r\n";
    append(&user, "INBOX", raw, &[]).await;
    let (_, uids) = folder_uids(&user, "INBOX").await;

    let message = server
        .call_tool_ok(&token, "get_mail_message", json!({"uid": uids[0]}))
        .await;
    assert_eq!(message["body_source"], "html");
    let text = message["body"]["text"].as_str().unwrap();
    for wanted in [
        "Spring sale",
        "Bob",
        "our offers",
        "https://shop.x.test/sale",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing from {text:?}");
    }
    assert!(!text.contains('<') && !text.contains("color:red"), "{text}");
    assert_eq!(message["html"], Value::Null);

    let with_html = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"uid": uids[0], "include_html": true}),
        )
        .await;
    assert!(
        with_html["html"]["text"]
            .as_str()
            .unwrap()
            .contains("<h1>Spring sale</h1>")
    );
}

/// A long body comes in windows of max_chars from offset, with truncated and next_offset.
#[tokio::test]
async fn long_bodies_come_in_windows() {
    let (server, user, token) = setup("read-window").await;
    let body: String = (0..1000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    append(
        &user,
        "INBOX",
        &simple("a@x.test", "long", "Mon, 1 Jan 2024 10:00:00 +0000", &body),
        &[],
    )
    .await;
    let (_, uids) = folder_uids(&user, "INBOX").await;

    let head = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"uid": uids[0], "max_chars": 100}),
        )
        .await;
    assert_eq!(head["body"]["text"], body[..100]);
    assert_eq!(head["body"]["truncated"], true);
    assert_eq!(head["body"]["next_offset"], 100);
    let total = head["body"]["total_chars"].as_u64().unwrap();
    assert!(total >= 1000, "{total}");

    let tail = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"uid": uids[0], "max_chars": 100, "offset": 950}),
        )
        .await;
    assert_eq!(
        tail["body"]["text"].as_str().unwrap().trim_end(),
        &body[950..]
    );
    assert_eq!(tail["body"]["truncated"], false);
    assert_eq!(tail["body"]["offset"], 950);
}

/// Reading leaves \Seen alone; mark_seen sets it, in the mailbox and in the answer.
#[tokio::test]
async fn reading_marks_seen_only_when_asked() {
    let (server, user, token) = setup("read-seen").await;
    append(
        &user,
        "INBOX",
        &simple("a@x.test", "s", "Mon, 1 Jan 2024 10:00:00 +0000", "b"),
        &["\\Flagged"],
    )
    .await;
    let (_, uids) = folder_uids(&user, "INBOX").await;
    let uid = uids[0];

    server
        .call_tool_ok(&token, "get_mail_message", json!({"uid": uid}))
        .await;
    assert_eq!(flags_of(&user, "INBOX", uid).await, ["\\Flagged"]);

    let read = server
        .call_tool_ok(
            &token,
            "get_mail_message",
            json!({"uid": uid, "mark_seen": true}),
        )
        .await;
    let mut stored = flags_of(&user, "INBOX", uid).await;
    stored.sort();
    assert_eq!(stored, ["\\Flagged", "\\Seen"]);
    let mut reported: Vec<String> = serde_json::from_value(read["flags"].clone()).unwrap();
    reported.sort();
    assert_eq!(reported, stored);
}

/// Structured criteria, non-ASCII strings, dates, flags, attachments and a quoted raw
/// query find exactly the right messages, newest first and paged.
#[tokio::test]
async fn searches_with_criteria_and_a_quoted_raw_query() {
    let (server, user, token) = setup("read-search").await;
    let messages: [(&str, &str, &str, &str); 4] = [
        (
            "John Smith <john@x.test>",
            "Budget",
            "",
            "15-Jan-2024 10:00:00 +0000",
        ),
        (
            "Johnny Smithers <js@y.test>",
            "Grüße aus Zürich",
            "\\Seen",
            "01-Feb-2024 10:00:00 +0000",
        ),
        (
            "Jane Doe <jane@z.test>",
            "Lunch",
            "\\Flagged \\Seen",
            "10-Feb-2024 10:00:00 +0000",
        ),
        (
            "John Smith <john@x.test>",
            "Budget v2",
            "\\Answered",
            "01-Mar-2024 10:00:00 +0000",
        ),
    ];
    for (from, subject, flags, received) in messages {
        let raw = simple(
            from,
            subject,
            "Mon, 1 Jan 2024 10:00:00 +0000",
            "body words",
        );
        append_dated(&user, "INBOX", &raw, flags, received).await;
    }
    append_dated(
        &user,
        "INBOX",
        &nested_message(),
        "",
        "05-Mar-2024 10:00:00 +0000",
    )
    .await;
    let (uid_validity, uids) = folder_uids(&user, "INBOX").await;

    let search = |args: Value| {
        let server = &server;
        let token = &token;
        async move {
            server
                .call_tool_ok(token, "search_mail_messages", args)
                .await
        }
    };
    let found = search(json!({"query": "FROM \"John Smith\""})).await;
    assert_eq!(subjects(&found), ["Budget v2", "Budget"]);
    assert_eq!(found["total"], 2);
    assert_eq!(found["uid_validity"], uid_validity);
    assert_eq!(found["messages"][0]["uid"], uids[3]);

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"from": "jane"}), vec!["Lunch"]),
        (json!({"subject": "Grüße"}), vec!["Grüße aus Zürich"]),
        (json!({"from": "john@", "answered": false}), vec!["Budget"]),
        (json!({"flagged": true}), vec!["Lunch"]),
        (
            json!({"seen": false, "from": "smith"}),
            vec!["Budget v2", "Budget"],
        ),
        (
            json!({"since": "2024-01-20", "before": "2024-02-20"}),
            vec!["Lunch", "Grüße aus Zürich"],
        ),
        (
            json!({"has_attachments": true}),
            vec!["Quartalsbericht für Q1"],
        ),
        (
            json!({"body": "Bericht", "text": "Hallo"}),
            vec!["Quartalsbericht für Q1"],
        ),
        (
            json!({"query": "OR FROM jane SUBJECT \"v2\""}),
            vec!["Budget v2", "Lunch"],
        ),
        (
            json!({"query": "from \"Johnny\" NOT flagged"}),
            vec!["Grüße aus Zürich"],
        ),
        (json!({"subject": "nothing like this"}), vec![]),
    ];
    for (args, want) in cases {
        let found = search(args.clone()).await;
        assert_eq!(subjects(&found), want, "{args}");
    }

    let paged = search(json!({"seen": false, "per_page": 2})).await;
    assert_eq!(subjects(&paged), ["Quartalsbericht für Q1", "Budget v2"]);
    assert_eq!(paged["total"], 3);
    assert_eq!(paged["has_more"], true);
    let page_two = search(json!({"seen": false, "per_page": 2, "page": 2})).await;
    assert_eq!(subjects(&page_two), ["Budget"]);
    assert_eq!(page_two["has_more"], false);
}

/// Attempts to smuggle IMAP commands through the raw query, and malformed queries, are
/// refused with a reason, and the mailbox (messages and folders) is untouched.
#[tokio::test]
async fn injection_attempts_are_refused_and_the_mailbox_is_intact() {
    let (server, user, token) = setup("read-inject").await;
    append(
        &user,
        "INBOX",
        &simple("a@x.test", "keep me", "Mon, 1 Jan 2024 10:00:00 +0000", "b"),
        &[],
    )
    .await;
    let before = fetch_raw(&user, "INBOX").await;
    let attempts = [
        ("ALL\r\nA1 DELETE Archive", "line break"),
        ("ALL\nA1 DELETE Archive", "line break"),
        ("FROM \"x\r\nA1 DELETE Archive\"", "line break"),
        ("FROM \"John Smith", "unbalanced quotes"),
        ("ALL) (DELETE Archive", "unbalanced parentheses"),
        ("ALL DELETE Archive", "unknown search key \"DELETE\""),
        ("FROM {12+}\r\nA1 LOGOUT", "literals"),
        ("1:*", "use UID 1:* instead"),
    ];
    for (query, reason) in attempts {
        let result = server
            .call_tool(&token, "search_mail_messages", json!({"query": query}))
            .await;
        let text = error_text(&result);
        assert!(
            text.contains("invalid search query") && text.contains(reason),
            "{query:?} -> {text}"
        );
    }
    let from_with_crlf = server
        .call_tool(
            &token,
            "search_mail_messages",
            json!({"from": "x\r\nA1 DELETE Archive"}),
        )
        .await;
    assert!(error_text(&from_with_crlf).contains("line break"));

    assert_eq!(fetch_raw(&user, "INBOX").await, before);
    let mut session = imap_session(&user).await;
    let names: Vec<String> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    session.logout().await.ok();
    assert!(names.contains(&"Archive".to_owned()), "{names:?}");
}

/// A conversation whose reply sits in Sent is gathered from INBOX and Sent, oldest first,
/// from any of its messages; an unrelated message is left out.
#[tokio::test]
async fn gathers_a_thread_across_inbox_and_sent() {
    let (server, user, token) = setup("read-thread").await;
    let me = user.email.clone();
    let root = format!(
        "From: Bob <bob@x.test>\r\nTo: {me}\r\nSubject: Plans\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
Message-ID: <root@x.test>\r\n\r\nShall we?\r\n"
    );
    let reply = format!(
        "From: {me}\r\nTo: Bob <bob@x.test>\r\nSubject: Re: Plans\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\
Message-ID: <reply@example.test>\r\nIn-Reply-To: <root@x.test>\r\nReferences: <root@x.test>\r\n\r\nYes.\r\n"
    );
    let answer = "From: Bob <bob@x.test>\r\nSubject: Re: Plans\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n\
Message-ID: <answer@x.test>\r\nIn-Reply-To: <reply@example.test>\r\n\
References: <root@x.test> <reply@example.test>\r\n\r\nGreat.\r\n";
    let other = "From: Carol <carol@x.test>\r\nSubject: Plans\r\nDate: Tue, 2 Jan 2024 11:00:00 +0000\r\n\
Message-ID: <other@x.test>\r\n\r\nUnrelated.\r\n";
    append(&user, "INBOX", root.as_bytes(), &["\\Seen"]).await;
    append(&user, "INBOX", other.as_bytes(), &[]).await;
    append(&user, "Sent", reply.as_bytes(), &["\\Seen"]).await;
    append(&user, "INBOX", answer.as_bytes(), &[]).await;
    let (inbox_validity, inbox) = folder_uids(&user, "INBOX").await;
    let (sent_validity, sent) = folder_uids(&user, "Sent").await;

    let expected = json!([
        ["INBOX", inbox_validity, inbox[0], "<root@x.test>"],
        ["Sent", sent_validity, sent[0], "<reply@example.test>"],
        ["INBOX", inbox_validity, inbox[2], "<answer@x.test>"],
    ]);
    for start in [inbox[2], inbox[0]] {
        let thread = server
            .call_tool_ok(
                &token,
                "get_mail_thread",
                json!({"folder": "INBOX", "uid": start, "uid_validity": inbox_validity}),
            )
            .await;
        let found: Vec<Value> = thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| json!([m["folder"], m["uid_validity"], m["uid"], m["message_id"]]))
            .collect();
        assert_eq!(json!(found), expected, "from UID {start}");
        assert_eq!(thread["uid_validity"], inbox_validity);
        assert_eq!(thread["searched_folders"], json!(["INBOX", "Sent"]));
    }
    assert_eq!(
        flags_of(&user, "INBOX", inbox[2]).await,
        Vec::<String>::new()
    );
}

/// A stale uid_validity, an unknown folder and an unknown UID are tool errors that say
/// what to do; nothing is read from another message.
#[tokio::test]
async fn stale_validity_unknown_folder_and_unknown_uid_are_refused() {
    let (server, user, token) = setup("read-errors").await;
    append(
        &user,
        "INBOX",
        &simple("a@x.test", "only", "Mon, 1 Jan 2024 10:00:00 +0000", "b"),
        &[],
    )
    .await;
    let (uid_validity, uids) = folder_uids(&user, "INBOX").await;
    let stale = uid_validity.wrapping_add(1);

    for tool in ["get_mail_message", "get_mail_thread"] {
        let result = server
            .call_tool(&token, tool, json!({"uid": uids[0], "uid_validity": stale}))
            .await;
        let text = error_text(&result);
        assert!(
            text.contains("changed") && text.contains("list it again"),
            "{tool}: {text}"
        );
    }

    for (tool, args) in [
        ("list_mail_messages", json!({"folder": "Archiv"})),
        ("get_mail_message", json!({"folder": "Archiv", "uid": 1})),
        (
            "search_mail_messages",
            json!({"folder": "Archiv", "from": "a"}),
        ),
        ("get_mail_thread", json!({"folder": "Archiv", "uid": 1})),
    ] {
        let text = error_text(&server.call_tool(&token, tool, args).await);
        assert!(
            text.contains("no folder named \"Archiv\"")
                && text.contains("INBOX")
                && text.contains("Archive")
                && text.contains("Sent"),
            "{tool}: {text}"
        );
    }

    for tool in ["get_mail_message", "get_mail_thread"] {
        let text = error_text(
            &server
                .call_tool(&token, tool, json!({"uid": 999_999}))
                .await,
        );
        assert!(
            text.contains("no message with UID 999999 in \"INBOX\""),
            "{tool}: {text}"
        );
    }
    assert_eq!(
        flags_of(&user, "INBOX", uids[0]).await,
        Vec::<String>::new()
    );
}
