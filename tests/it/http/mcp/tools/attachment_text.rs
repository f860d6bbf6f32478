//! `read_mail_attachment` and `get_mail_message`'s `attachment_text` through MCP calls over
//! HTTP with a token from the real login, against the stack's Dovecot. The documents are
//! made in the tests by the libraries that write them (see `common::documents`), mailed as
//! attachments of a message put into the test account's INBOX, and read back as text.

use crate::common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::app::TestServer;
use common::documents::{
    Attached, INVITATION, docx_minutes, docx_zip_bomb, message_with_files, ods_inventory,
    pdf_report, pptx_deck, xlsx_budget,
};
use common::{TestUser, append, error_text, fetch_raw, stack};

/// The start of a PNG: its signature and header (64×48 pixels).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x40\x00\x00\x00\x30\x08\x06\x00\x00\x00\x00\x00\x00\x00";

/// A server, a fresh mailbox holding one message with `files`, and an access token.
async fn mailbox_with(prefix: &str, files: &[Attached]) -> (TestServer, TestUser, String) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user(prefix);
    append(
        &user,
        "INBOX",
        &message_with_files("Documents", "See attached.", files),
        &[],
    )
    .await;
    let token = server.tokens_for(stack, &user).await.access_token;
    (server, user, token)
}

/// The message's uid, uid_validity and its attachments' part ids by file name.
async fn the_message(server: &TestServer, token: &str) -> (u64, u64, Vec<(String, String)>) {
    let page = server
        .call_tool_ok(token, "list_mail_messages", json!({}))
        .await;
    let uid = page["messages"][0]["uid"].as_u64().unwrap();
    let message = server
        .call_tool_ok(
            token,
            "get_mail_message",
            json!({"uid": uid, "attachment_urls": false}),
        )
        .await;
    let parts = message["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let name = a["filename"].as_str().unwrap().to_owned();
            (name, a["part_id"].as_str().unwrap().to_owned())
        })
        .collect();
    (uid, page["uid_validity"].as_u64().unwrap(), parts)
}

fn part_of<'p>(parts: &'p [(String, String)], name: &str) -> &'p str {
    &parts.iter().find(|(n, _)| n == name).unwrap().1
}

fn file(name: &'static str, content_type: &'static str, bytes: Vec<u8>) -> Attached {
    Attached {
        name,
        content_type,
        bytes,
    }
}

fn assert_contains_all(text: &str, wanted: &[&str]) {
    for want in wanted {
        assert!(text.contains(want), "{want:?} missing from {text}");
    }
}

/// Each kind of document, made by a library and mailed as an attachment (a PDF, a DOCX
/// with a table, an XLSX of two sheets, an ODS of two sheets, a PPTX of two slides, a CSV, an ICS invitation, an
/// octet-stream PDF found by its name), comes back from read_mail_attachment as its text,
/// naming its format; the invitation also as a structured event with its time zone and
/// attendees; an image only as a description with its dimensions, never its bytes; and
/// reading leaves the message unread.
#[tokio::test]
async fn documents_come_back_as_their_text() {
    let files = [
        file("report.pdf", "application/pdf", pdf_report(3)),
        file(
            "minutes.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx_minutes(),
        ),
        file(
            "budget.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx_budget(),
        ),
        file(
            "stock.ods",
            "application/vnd.oasis.opendocument.spreadsheet",
            ods_inventory(),
        ),
        file(
            "deck.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            pptx_deck(),
        ),
        file(
            "people.csv",
            "text/csv",
            b"name,team\r\nAnn,Sales\r\n\"Bob, Jr.\",Ops\r\n".to_vec(),
        ),
        file(
            "invite.ics",
            "text/calendar; method=REQUEST",
            INVITATION.as_bytes().to_vec(),
        ),
        file("scan.bin.pdf", "application/octet-stream", pdf_report(1)),
        file("logo.png", "image/png", PNG.to_vec()),
    ];
    let (server, user, token) = mailbox_with("extract", &files).await;
    let (uid, uid_validity, parts) = the_message(&server, &token).await;
    let read = |name: &str| {
        let arguments =
            json!({"uid": uid, "uid_validity": uid_validity, "part": part_of(&parts, name)});
        let (server, token) = (&server, &token);
        async move {
            server
                .call_tool_ok(token, "read_mail_attachment", arguments)
                .await
        }
    };
    let expected: [(&str, &str, &[&str]); 8] = [
        (
            "report.pdf",
            "pdf",
            &[
                "--- page 1 of 3 ---",
                "Page 1 of the report",
                "Page 3 of the report",
            ],
        ),
        (
            "minutes.docx",
            "docx",
            &[
                "Minutes of the board meeting",
                "approved unanimously",
                "Action | Owner",
                "Order chairs | Bob",
            ],
        ),
        (
            "budget.xlsx",
            "spreadsheet",
            &[
                "## Sheet: Budget",
                "Item | Cost",
                "Chairs | 120.5",
                "Tables | 300",
                "## Sheet: Notes",
                "Prices include VAT",
            ],
        ),
        (
            "stock.ods",
            "spreadsheet",
            &[
                "## Sheet: Stock",
                "Part | Count",
                "Bolts | 250",
                "Nuts & washers | 75.5",
                "## Sheet: Suppliers",
                "Acme Fasteners Ltd",
            ],
        ),
        (
            "deck.pptx",
            "pptx",
            &[
                "--- slide 1 of 2 ---\nRoadmap 2026\nShip the reader",
                "--- slide 2 of 2 ---",
                "Zip bombs & friends",
            ],
        ),
        ("people.csv", "csv", &["name | team", "Bob, Jr. | Ops"]),
        (
            "invite.ics",
            "calendar",
            &[
                "Event: Budget review",
                "Starts: 2026-03-05T10:00:00 (Europe/Berlin)",
                "Organizer: Ann Smith <ann@example.test>",
                "Attendee: Bob Jones <bob@example.test> (REQ-PARTICIPANT, NEEDS-ACTION)",
            ],
        ),
        ("scan.bin.pdf", "pdf", &["Page 1 of the report"]),
    ];
    for (name, format, wanted) in expected {
        let result = read(name).await;
        assert_eq!(result["format"], format, "{name}: {result}");
        assert_eq!(result["filename"], name);
        assert_eq!(result["truncated"], false, "{name}: {result}");
        assert_contains_all(result["text"].as_str().unwrap(), wanted);
    }

    let invite = read("invite.ics").await;
    let event = &invite["events"][0];
    assert_eq!(event["method"], "REQUEST");
    assert_eq!(event["start"]["value"], "2026-03-05T10:00:00");
    assert_eq!(event["start"]["time_zone"], "Europe/Berlin");
    assert_eq!(event["end"]["value"], "2026-03-05T11:30:00");
    assert_eq!(event["location"], "Room 4, Building B");
    assert_eq!(event["organizer"]["email"], "ann@example.test");
    assert_eq!(event["attendees"][1]["name"], "Carl Diaz");
    assert_eq!(event["attendees"][1]["status"], "ACCEPTED");

    let image = read("logo.png").await;
    assert_eq!(image["format"], "image");
    let described = image["text"].as_str().unwrap();
    assert_contains_all(described, &["logo.png", "image/png", "64×48 pixels"]);
    assert!(
        !described.contains("PNG") && !described.contains("iVBOR"),
        "{described}"
    );

    let stored = fetch_raw(&user, "INBOX").await;
    assert!(
        !stored[0].flags.iter().any(|f| f.contains("Seen")),
        "reading left it unread"
    );
}

/// A 200-page PDF is read a window at a time: each window is at most max_chars, says
/// truncated with the next_offset to ask for, and the windows joined are the whole text
/// with every page in order; an offset past the end gives an empty last window.
#[tokio::test]
async fn a_200_page_pdf_is_paged_in_windows() {
    let (server, _user, token) = mailbox_with(
        "pdfpages",
        &[file("long.pdf", "application/pdf", pdf_report(200))],
    )
    .await;
    let (uid, _, parts) = the_message(&server, &token).await;
    let part = part_of(&parts, "long.pdf");
    let (mut offset, mut joined, mut windows) = (0, String::new(), 0);
    let total = loop {
        let window = server
            .call_tool_ok(
                &token,
                "read_mail_attachment",
                json!({"uid": uid, "part": part, "offset": offset, "max_chars": 1500}),
            )
            .await;
        let text = window["text"].as_str().unwrap();
        assert!(text.chars().count() <= 1500);
        assert_eq!(window["offset"], offset);
        joined.push_str(text);
        windows += 1;
        if window["truncated"] == false {
            assert_eq!(window["next_offset"], Value::Null);
            break window["total_chars"].as_u64().unwrap();
        }
        assert_eq!(window["next_offset"], offset + 1500);
        offset += 1500;
    };
    assert_eq!(joined.chars().count() as u64, total);
    assert!(windows > 5, "the text took {windows} windows");
    let mut from = 0;
    for page in 1..=200 {
        let marker = format!("--- page {page} of 200 ---\nPage {page} of the report");
        let at = joined[from..]
            .find(&marker)
            .unwrap_or_else(|| panic!("page {page} missing or out of order"));
        from += at + marker.len();
    }
    let past = server
        .call_tool_ok(
            &token,
            "read_mail_attachment",
            json!({"uid": uid, "part": part, "offset": total + 10}),
        )
        .await;
    assert_eq!(past["text"], "");
    assert_eq!(past["truncated"], false);
}

/// A damaged PDF, a workbook cut in half and a zip bomb dressed as a DOCX (64 MB of
/// spaces in a few dozen KB) each give a tool error that names the problem, well within
/// the time limit; bad part ids and windows are refused before anything is fetched; the
/// message is unchanged and the server keeps serving.
#[tokio::test]
async fn malformed_documents_and_zip_bombs_are_clear_errors() {
    let budget = xlsx_budget();
    let files = [
        file(
            "broken.pdf",
            "application/pdf",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog".to_vec(),
        ),
        file(
            "half.xlsx",
            "application/vnd.ms-excel",
            budget[..budget.len() / 2].to_vec(),
        ),
        file(
            "bomb.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx_zip_bomb(),
        ),
    ];
    let (server, user, token) = mailbox_with("badfiles", &files).await;
    let before = fetch_raw(&user, "INBOX").await;
    let (uid, _, parts) = the_message(&server, &token).await;
    let expected = [
        ("broken.pdf", "the PDF could not be read"),
        ("half.xlsx", "the spreadsheet could not be read"),
        ("bomb.docx", "refused as a possible zip bomb"),
    ];
    for (name, wanted) in expected {
        let started = Instant::now();
        let result = server
            .call_tool(
                &token,
                "read_mail_attachment",
                json!({"uid": uid, "part": part_of(&parts, name)}),
            )
            .await;
        let text = error_text(&result);
        assert!(text.contains(wanted), "{name}: {text}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    for (arguments, wanted) in [
        (json!({"uid": uid, "part": "2;DROP"}), "part"),
        (
            json!({"uid": uid, "part": "2", "max_chars": 0}),
            "max_chars",
        ),
        (json!({"uid": uid, "part": "9"}), "part"),
        (json!({"uid": uid + 7, "part": "2"}), "no message with UID"),
    ] {
        let text = error_text(
            &server
                .call_tool(&token, "read_mail_attachment", arguments)
                .await,
        );
        assert!(text.contains(wanted), "{text}");
    }
    let after = fetch_raw(&user, "INBOX").await;
    assert_eq!(before.len(), after.len());
    assert_eq!(
        before[0].flags, after[0].flags,
        "the message was not changed"
    );
    server
        .call_tool_ok(&token, "list_mail_messages", json!({}))
        .await;
}

/// get_mail_message with attachment_text gives each attached document the first window
/// of its text (a PDF's pages, a CSV's rows), leaves an image without text, reports a
/// damaged file's error on that attachment alone; without the option no text is read.
#[tokio::test]
async fn get_mail_message_includes_attachment_text_on_request() {
    let files = [
        file("report.pdf", "application/pdf", pdf_report(2)),
        file("logo.png", "image/png", PNG.to_vec()),
        file("people.csv", "text/csv", b"name,team\nAnn,Sales\n".to_vec()),
        file(
            "broken.pdf",
            "application/pdf",
            b"%PDF-1.4 nothing".to_vec(),
        ),
    ];
    let (server, _user, token) = mailbox_with("preview", &files).await;
    let page = server
        .call_tool_ok(&token, "list_mail_messages", json!({}))
        .await;
    let uid = page["messages"][0]["uid"].as_u64().unwrap();
    let read = |attachment_text: bool| {
        let arguments =
            json!({"uid": uid, "attachment_urls": false, "attachment_text": attachment_text});
        let (server, token) = (&server, &token);
        async move {
            server
                .call_tool_ok(token, "get_mail_message", arguments)
                .await
        }
    };
    let with_text = read(true).await;
    let attachment = |name: &str| {
        with_text["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["filename"] == name)
            .unwrap()
            .clone()
    };
    let pdf = attachment("report.pdf");
    assert_eq!(pdf["text"]["format"], "pdf");
    assert_contains_all(
        pdf["text"]["text"].as_str().unwrap(),
        &["Page 1 of the report", "Page 2 of the report"],
    );
    assert_eq!(
        attachment("people.csv")["text"]["text"],
        "name | team\nAnn | Sales\n"
    );
    assert!(attachment("logo.png").get("text").is_none());
    let broken = attachment("broken.pdf");
    assert!(broken.get("text").is_none());
    assert!(
        broken["text_error"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{broken}"
    );
    assert_eq!(
        with_text["body"]["text"].as_str().unwrap().trim(),
        "See attached."
    );

    let without = read(false).await;
    for attachment in without["attachments"].as_array().unwrap() {
        assert!(attachment.get("text").is_none() && attachment.get("text_error").is_none());
    }
}
