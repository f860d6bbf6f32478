//! Replies and forwards from an [`Original`]: who they go to, their subject (`Re: ` or
//! `Fwd: ` once), their threading headers, and the original quoted below the new text
//! (`> ` lines in text, an escaped `<blockquote>` in HTML). Pure.

use lettre::message::Mailbox;

use super::address::contains_address;
use super::message::{Author, Outgoing};
use super::original::Original;
use crate::mail::error::MailError;

/// What the person writes in a reply.
#[derive(Clone, Debug, Default)]
pub struct ReplyText {
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// The identity the reply is sent from, when the caller chose one; `None`: the one the
    /// original was addressed to (see [`addressed_identity`]), else the main address.
    pub from: Option<Author>,
}

/// The first of `identities` (addresses, compared case-insensitively) that `original`
/// was addressed to in To or Cc.
pub fn addressed_identity<'a>(original: &Original, identities: &'a [Author]) -> Option<&'a Author> {
    let addressed: Vec<String> = original
        .to
        .iter()
        .chain(&original.cc)
        .map(|m| m.email.to_string())
        .collect();
    identities
        .iter()
        .find(|i| addressed.iter().any(|a| a.eq_ignore_ascii_case(&i.email)))
}

/// A reply to `original` from `own`: to its Reply-To (else From), with
/// `reply_all` also to its To and Cc except the account itself; threaded and quoted.
pub fn reply_to(
    original: &Original,
    own: &[String],
    reply_all: bool,
    text: ReplyText,
) -> Result<Outgoing, MailError> {
    let (to, cc) = reply_recipients(original, own, reply_all);
    if to.is_empty() {
        return Err(MailError::InvalidInput(
            "the message has no From or Reply-To address to reply to; use send_mail_message \
             with the recipients you want"
                .into(),
        ));
    }
    let sender = text.from.clone();
    let (text_body, html_body) = quoted_bodies(original, text);
    Ok(Outgoing {
        to,
        cc,
        subject: reply_subject(&original.subject),
        text_body: Some(text_body),
        html_body,
        in_reply_to: original.message_id.as_ref().map(|id| format!("<{id}>")),
        references: references_after(original),
        sender,
        ..Outgoing::default()
    })
}

/// A draft that answers `original`: threaded and quoted like a reply. The draft's own
/// recipients and subject are kept; where it has none, the reply's fill in.
pub fn draft_reply(original: &Original, own: &[String], draft: Outgoing) -> Outgoing {
    let no_recipients = draft.to.is_empty() && draft.cc.is_empty() && draft.bcc.is_empty();
    let (reply_to, _) = reply_recipients(original, own, false);
    let text = ReplyText {
        text_body: draft.text_body,
        html_body: draft.html_body,
        from: None,
    };
    let (text_body, html_body) = quoted_bodies(original, text);
    Outgoing {
        to: if no_recipients { reply_to } else { draft.to },
        cc: draft.cc,
        bcc: draft.bcc,
        subject: match draft.subject.trim() {
            "" => reply_subject(&original.subject),
            _ => draft.subject,
        },
        text_body: Some(text_body),
        html_body,
        attachments: draft.attachments,
        in_reply_to: original.message_id.as_ref().map(|id| format!("<{id}>")),
        references: references_after(original),
        sender: draft.sender,
    }
}

/// The reply's text with the original quoted below it, and its HTML (if any) with the
/// original in a blockquote. Without text, the text part is made from the HTML.
fn quoted_bodies(original: &Original, text: ReplyText) -> (String, Option<String>) {
    let quoted_text = format!(
        "{}\r\n{}",
        attribution(original),
        quote_text(&original.text)
    );
    let own_text = text
        .text_body
        .or_else(|| text.html_body.as_deref().map(html_to_text));
    let text_body = match own_text {
        Some(body) => format!("{}\r\n\r\n{quoted_text}", body.trim_end()),
        None => quoted_text,
    };
    let html_body = text
        .html_body
        .map(|html| append_html(&html, &quote_html(original)));
    (text_body, html_body)
}

/// A forward of `original` with `note` above it; its attachments go along when
/// `include_attachments`. Recipients are the caller's to set.
pub fn forward(original: &Original, note: Option<&str>, include_attachments: bool) -> Outgoing {
    let header = forwarded_header(original);
    let text_body = match note.map(str::trim_end).filter(|n| !n.is_empty()) {
        Some(note) => format!("{note}\r\n\r\n{header}\r\n{}", original.text),
        None => format!("{header}\r\n{}", original.text),
    };
    Outgoing {
        subject: forward_subject(&original.subject),
        text_body: Some(text_body),
        references: references_after(original),
        attachments: if include_attachments {
            original.attachments.clone()
        } else {
            Vec::new()
        },
        ..Outgoing::default()
    }
}

/// (To, Cc) of a reply. The reply goes to Reply-To, else From; when that is only the
/// account itself (replying to one's own message) it goes to the original To instead.
/// `reply_all` adds To and Cc, without the account and without duplicates.
pub fn reply_recipients(
    original: &Original,
    own: &[String],
    reply_all: bool,
) -> (Vec<Mailbox>, Vec<Mailbox>) {
    let mut primary = if original.reply_to.is_empty() {
        original.from.clone()
    } else {
        original.reply_to.clone()
    };
    let own_message = !primary.is_empty() && primary.iter().all(|m| is_own(m, own));
    if own_message {
        primary = original.to.clone();
    }
    let mut to = Vec::new();
    push_new(&mut to, &primary, own, &[]);
    let mut cc = Vec::new();
    if reply_all {
        let others: Vec<Mailbox> = if own_message {
            original.cc.clone()
        } else {
            original.to.iter().chain(&original.cc).cloned().collect()
        };
        push_new(&mut cc, &others, own, &to);
    }
    (to, cc)
}

/// Appends the mailboxes of `from` not yet in `into` or `also_taken`, skipping the account.
fn push_new(into: &mut Vec<Mailbox>, from: &[Mailbox], own: &[String], also_taken: &[Mailbox]) {
    for mailbox in from {
        let address = mailbox.email.to_string();
        let taken = contains_address(into, &address) || contains_address(also_taken, &address);
        if !taken && !is_own(mailbox, own) {
            into.push(mailbox.clone());
        }
    }
}

fn is_own(mailbox: &Mailbox, own: &[String]) -> bool {
    let address = mailbox.email.to_string();
    own.iter().any(|o| address.eq_ignore_ascii_case(o))
}

/// References of a reply or forward: the original's References, then its Message-ID.
fn references_after(original: &Original) -> Vec<String> {
    original
        .references
        .iter()
        .chain(&original.message_id)
        .map(|id| format!("<{id}>"))
        .collect()
}

/// `Re: subject`, with any `Re:`/`RE:`/`Re :`/`Re[2]:` prefixes the subject had made one.
pub fn reply_subject(subject: &str) -> String {
    with_prefix("Re:", strip_prefixes(subject, &["re"]))
}

/// `Fwd: subject`, with any `Fwd:`/`FW:` prefixes the subject had made one.
pub fn forward_subject(subject: &str) -> String {
    with_prefix("Fwd:", strip_prefixes(subject, &["fwd", "fw"]))
}

fn with_prefix(prefix: &str, rest: &str) -> String {
    match rest {
        "" => prefix.to_owned(),
        rest => format!("{prefix} {rest}"),
    }
}

/// `subject` without leading prefixes such as `Re:`, `RE :`, `Re[2]:`, `re(3):`.
fn strip_prefixes<'a>(subject: &'a str, words: &[&str]) -> &'a str {
    let mut rest = subject.trim();
    while let Some(after) = strip_one_prefix(rest, words) {
        rest = after.trim_start();
    }
    rest
}

fn strip_one_prefix<'a>(subject: &'a str, words: &[&str]) -> Option<&'a str> {
    let word = words.iter().find(|w| {
        subject
            .get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
    })?;
    let mut rest = subject[word.len()..].trim_start();
    if let Some(counted) = strip_counter(rest) {
        rest = counted.trim_start();
    }
    rest.strip_prefix(':')
}

/// Strips a reply counter such as `[2]` or `(3)`.
fn strip_counter(text: &str) -> Option<&str> {
    let close = match text.chars().next()? {
        '[' => ']',
        '(' => ')',
        _ => return None,
    };
    let end = text.find(close)?;
    text[1..end]
        .chars()
        .all(|c| c.is_ascii_digit())
        .then(|| &text[end + 1..])
}

/// "On <date>, <author> wrote:".
fn attribution(original: &Original) -> String {
    match &original.date {
        Some(date) => format!("On {date}, {} wrote:", original.author()),
        None => format!("{} wrote:", original.author()),
    }
}

/// Every line of `text` behind `> ` (`>` alone for an empty line), CRLF line ends.
pub fn quote_text(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| match line.trim_end_matches('\r') {
            "" => ">".to_owned(),
            line if line.starts_with('>') => format!(">{line}"),
            line => format!("> {line}"),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The original as an HTML fragment: attribution and its text, escaped, in a blockquote.
fn quote_html(original: &Original) -> String {
    let lines: Vec<String> = original
        .text
        .trim_end()
        .lines()
        .map(|l| escape_html(l.trim_end_matches('\r')))
        .collect();
    format!(
        "<div>{}</div>\r\n<blockquote style=\"margin:0 0 0 .8ex;border-left:1px solid \
         #ccc;padding-left:1ex\">{}</blockquote>",
        escape_html(&attribution(original)),
        lines.join("<br>\r\n")
    )
}

/// `fragment` added at the end of `html`, inside its `<body>` when it has one.
fn append_html(html: &str, fragment: &str) -> String {
    let lower = html.to_ascii_lowercase();
    match lower.rfind("</body>") {
        Some(at) => format!("{}<br>\r\n{fragment}\r\n{}", &html[..at], &html[at..]),
        None => format!("{html}<br>\r\n{fragment}"),
    }
}

/// The block that introduces a forwarded message's text.
fn forwarded_header(original: &Original) -> String {
    let list = |mailboxes: &[Mailbox]| {
        mailboxes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        "---------- Forwarded message ----------".to_owned(),
        format!("From: {}", list(&original.from)),
    ];
    if let Some(date) = &original.date {
        lines.push(format!("Date: {date}"));
    }
    lines.push(format!("Subject: {}", original.subject));
    lines.push(format!("To: {}", list(&original.to)));
    if !original.cc.is_empty() {
        lines.push(format!("Cc: {}", list(&original.cc)));
    }
    lines.push(String::new());
    lines.join("\r\n")
}

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Readable text for an HTML body (used when a text part must be made from HTML).
pub fn html_to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 78).unwrap_or_else(|_| html.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::compose::reply;

    fn mailbox(text: &str) -> Mailbox {
        text.parse().unwrap()
    }

    fn addresses(list: &[Mailbox]) -> Vec<String> {
        list.iter().map(|m| m.email.to_string()).collect()
    }

    fn parent() -> Original {
        Original {
            message_id: Some("p1@example.com".into()),
            references: vec!["r0@example.com".into()],
            from: vec![mailbox("Bob <bob@example.com>")],
            to: vec![
                mailbox("alice@example.com"),
                mailbox("Carol <carol@example.com>"),
            ],
            cc: vec![mailbox("dave@example.com"), mailbox("BOB@example.com")],
            subject: "Plans".into(),
            date: Some("Tue, 01 Jul 2025 10:00:00 +0000".into()),
            text: "Line one\r\n\r\n> older\r\n".into(),
            ..Original::default()
        }
    }

    #[test]
    fn subjects_get_one_prefix() {
        let cases = [
            ("Plans", "Re: Plans", "Fwd: Plans"),
            ("Re: Plans", "Re: Plans", "Fwd: Re: Plans"),
            ("RE: Plans", "Re: Plans", "Fwd: RE: Plans"),
            ("Re : Plans", "Re: Plans", "Fwd: Re : Plans"),
            ("re: Re: Plans", "Re: Plans", "Fwd: re: Re: Plans"),
            ("Re[2]: Plans", "Re: Plans", "Fwd: Re[2]: Plans"),
            ("Fwd: Plans", "Re: Fwd: Plans", "Fwd: Plans"),
            ("FW: Plans", "Re: FW: Plans", "Fwd: Plans"),
            (
                "Regarding plans",
                "Re: Regarding plans",
                "Fwd: Regarding plans",
            ),
            ("Re:", "Re:", "Fwd: Re:"),
            ("", "Re:", "Fwd:"),
        ];
        for (subject, reply, fwd) in cases {
            assert_eq!(reply_subject(subject), reply, "{subject:?}");
            assert_eq!(forward_subject(subject), fwd, "{subject:?}");
        }
    }

    #[test]
    fn recipients_follow_reply_to_from_and_reply_all() {
        let mut with_reply_to = parent();
        with_reply_to.reply_to = vec![mailbox("list@example.com")];
        let mut own = parent();
        own.from = vec![mailbox("Alice <ALICE@example.com>")];
        type Case = (
            Original,
            bool,
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: [Case; 5] = [
            (parent(), false, &["bob@example.com"], &[]),
            (
                parent(),
                true,
                &["bob@example.com"],
                &["carol@example.com", "dave@example.com"],
            ),
            (with_reply_to.clone(), false, &["list@example.com"], &[]),
            (
                with_reply_to,
                true,
                &["list@example.com"],
                &["carol@example.com", "dave@example.com", "BOB@example.com"],
            ),
            (
                own,
                true,
                &["carol@example.com"],
                &["dave@example.com", "BOB@example.com"],
            ),
        ];
        for (original, all, want_to, want_cc) in cases {
            let (to, cc) = reply_recipients(&original, &["alice@example.com".to_string()], all);
            assert_eq!(addresses(&to), want_to, "reply_all={all}");
            assert_eq!(addresses(&cc), want_cc, "reply_all={all}");
        }
    }

    #[test]
    fn a_reply_threads_and_quotes_its_parent() {
        let text = ReplyText {
            text_body: Some("Sounds good.".into()),
            html_body: Some("<html><body><p>Sounds <b>good</b>.</p></body></html>".into()),
            from: None,
        };
        let mut original = parent();
        original.text = "Use <script> & \"quotes\"\r\n\r\n> older\r\n".into();
        let reply = reply_to(&original, &["alice@example.com".to_string()], false, text).unwrap();
        assert_eq!(reply.subject, "Re: Plans");
        assert_eq!(reply.in_reply_to.as_deref(), Some("<p1@example.com>"));
        assert_eq!(reply.references, ["<r0@example.com>", "<p1@example.com>"]);
        assert_eq!(
            reply.text_body.as_deref(),
            Some(
                "Sounds good.\r\n\r\nOn Tue, 01 Jul 2025 10:00:00 +0000, Bob <bob@example.com> \
                 wrote:\r\n> Use <script> & \"quotes\"\r\n>\r\n>> older"
            )
        );
        let html = reply.html_body.unwrap();
        assert!(html.ends_with("</blockquote>\r\n</body></html>"), "{html}");
        assert!(
            html.contains("Use &lt;script&gt; &amp; &quot;quotes&quot;<br>"),
            "{html}"
        );
        assert!(
            html.contains("Bob &lt;bob@example.com&gt; wrote:"),
            "{html}"
        );
    }

    #[test]
    fn a_reply_without_text_still_quotes() {
        let reply = reply_to(
            &parent(),
            &["alice@example.com".to_string()],
            false,
            ReplyText::default(),
        )
        .unwrap();
        assert!(reply.text_body.unwrap().starts_with("On Tue"));
        assert!(reply.html_body.is_none());
    }

    #[test]
    fn a_parent_without_sender_cannot_be_answered() {
        let mut original = parent();
        original.from.clear();
        let err = reply_to(
            &original,
            &["alice@example.com".to_string()],
            false,
            ReplyText::default(),
        );
        assert!(err.unwrap_err().to_string().contains("no From or Reply-To"));
    }

    #[test]
    fn a_reply_draft_fills_in_only_what_the_draft_left_empty() {
        let empty = reply::draft_reply(
            &parent(),
            &["alice@example.com".to_string()],
            Outgoing::default(),
        );
        assert_eq!(addresses(&empty.to), ["bob@example.com"]);
        assert_eq!(empty.subject, "Re: Plans");
        assert_eq!(empty.in_reply_to.as_deref(), Some("<p1@example.com>"));
        assert!(empty.text_body.unwrap().contains("> Line one"));
        let own = Outgoing {
            bcc: vec![mailbox("eve@example.com")],
            subject: "My title".into(),
            text_body: Some("Draft text".into()),
            ..Outgoing::default()
        };
        let kept = reply::draft_reply(&parent(), &["alice@example.com".to_string()], own);
        assert!(kept.to.is_empty());
        assert_eq!(addresses(&kept.bcc), ["eve@example.com"]);
        assert_eq!(kept.subject, "My title");
        assert!(kept.text_body.unwrap().starts_with("Draft text\r\n\r\nOn "));
    }

    #[test]
    fn a_forward_carries_headers_text_and_attachments() {
        let mut original = parent();
        original.attachments = vec![super::super::Attachment::new("a.pdf", None, vec![1, 2])];
        let fwd = forward(&original, Some("FYI"), true);
        assert_eq!(fwd.subject, "Fwd: Plans");
        assert_eq!(fwd.references, ["<r0@example.com>", "<p1@example.com>"]);
        assert_eq!(fwd.in_reply_to, None);
        let text = fwd.text_body.unwrap();
        assert!(
            text.starts_with(
                "FYI\r\n\r\n---------- Forwarded message ----------\r\nFrom: Bob \
                 <bob@example.com>\r\nDate: Tue, 01 Jul 2025 10:00:00 +0000\r\nSubject: \
                 Plans\r\nTo: alice@example.com, Carol <carol@example.com>\r\nCc: \
                 dave@example.com, BOB@example.com\r\n\r\nLine one"
            ),
            "{text}"
        );
        assert_eq!(fwd.attachments.len(), 1);
        assert!(forward(&original, None, false).attachments.is_empty());
    }
}
