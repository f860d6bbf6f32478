//! Composing never injects a header. Either from fields a caller gives (subject, the
//! account's display name, addresses, an attachment's name and type, bodies) or from a
//! reply, reply-all, draft reply or forward of any raw original message (its Message-ID,
//! References, addresses and subject flow into the new headers), the built message has
//! no bare CR or LF and no NUL in its headers (top-level or a part's), and every header
//! line is a continuation or one of the fields we write.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_mcp::mail::compose::{
    Attachment, Author, Original, Outgoing, Purpose, ReplyText, build, forward, parse_address,
    reply::draft_reply, reply_to,
};

const OWN_ADDRESS: &str = "me@example.com";
const MESSAGE_ID: &str = "<fuzz@example.com>";

/// Header fields the builder writes, top-level and in MIME parts.
const FIELDS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "message-id",
    "date",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let author = |name: Option<&str>| Author {
        email: OWN_ADDRESS.into(),
        display_name: name.map(str::to_owned),
    };
    if mode % 2 == 0 {
        let fields: Vec<String> = rest
            .split(|&b| b == 0xff)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or_default();
        let outgoing = Outgoing {
            to: parse_address("to", field(2)).into_iter().collect(),
            cc: parse_address("cc", field(3)).into_iter().collect(),
            bcc: parse_address("bcc", field(4)).into_iter().collect(),
            subject: field(0).to_owned(),
            text_body: Some(field(5).to_owned()),
            html_body: (!field(6).is_empty()).then(|| field(6).to_owned()),
            attachments: vec![Attachment::new(field(7), Some(field(8)), b"x".to_vec())],
            ..Outgoing::default()
        };
        check_build(&author(Some(field(1))), &outgoing);
    } else if let Ok(original) = Original::parse(rest) {
        let text = || ReplyText {
            text_body: Some("ok".into()),
            html_body: None,
            from: None,
        };
        let own = [OWN_ADDRESS.to_owned()];
        for all in [false, true] {
            if let Ok(reply) = reply_to(&original, &own, all, text()) {
                check_build(&author(None), &reply);
            }
        }
        check_build(&author(None), &forward(&original, Some("fyi"), true));
        check_build(
            &author(None),
            &draft_reply(&original, &own, Outgoing::default()),
        );
    }
});

fn check_build(author: &Author, outgoing: &Outgoing) {
    for purpose in [Purpose::Delivery, Purpose::Draft] {
        if let Ok(message) = build(author, outgoing, MESSAGE_ID, purpose) {
            check_headers(&message.formatted());
        }
    }
}

/// Every header block of the message (the top one, then each after a boundary line).
fn check_headers(raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut in_headers = true;
    let mut boundaries: Vec<String> = Vec::new();
    let mut in_content_type = false;
    for line in lines {
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                in_content_type = false;
                continue;
            }
            check_header_line(line);
            if !line.starts_with([' ', '\t']) {
                in_content_type = line.to_ascii_lowercase().starts_with("content-type:");
            }
            // Only Content-Type declares a boundary (a subject may quote one).
            if in_content_type && let Some(b) = boundary_of(line) {
                boundaries.push(b);
            }
        } else if boundaries.iter().any(|b| line == format!("--{b}")) {
            in_headers = true;
        }
    }
}

fn check_header_line(line: &str) {
    assert!(
        !line.contains(['\r', '\n', '\0']),
        "a bare CR/LF or NUL in the header line {line:?}"
    );
    if line.starts_with([' ', '\t']) {
        return;
    }
    let name = line.split_once(':').map(|(n, _)| n.to_ascii_lowercase());
    assert!(
        name.as_deref().is_some_and(|n| FIELDS.contains(&n)),
        "an unexpected header line {line:?}"
    );
}

/// The boundary a Content-Type header line declares, if any.
fn boundary_of(line: &str) -> Option<String> {
    let start = line.find("boundary=\"")? + "boundary=\"".len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}
