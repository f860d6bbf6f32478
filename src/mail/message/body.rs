//! The readable body of a message and the window of it a tool returns. The text is the
//! message's text/plain parts; a message with only HTML is converted to Markdown with
//! html2text (links kept as numbered references, tables drawn as text, what the message's
//! CSS hides left out). Windows count characters, not bytes, so a window never splits a
//! character.

use mail_parser::{Message, PartType};

use super::hidden;
use schemars::JsonSchema;
use serde::Serialize;

/// The width html2text wraps converted HTML to.
const HTML_TEXT_WIDTH: usize = 100;

/// Where the text of a body came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodySource {
    /// The message's text/plain part(s).
    Text,
    /// Converted from the message's HTML part(s): it has no text part.
    Html,
    /// The message has no text or HTML body.
    None,
}

/// A window of a long text: `text` is at most `max_chars` characters from `offset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BodyWindow {
    /// The characters of the window.
    pub text: String,
    /// Index (in characters) of the window's first character.
    pub offset: usize,
    /// Length of the whole text, in characters.
    pub total_chars: usize,
    /// True when text follows the window: ask again with `offset` = `next_offset`.
    pub truncated: bool,
    /// Where the next window starts, when `truncated`.
    pub next_offset: Option<usize>,
}

impl BodyWindow {
    /// The characters of `full` from `offset`, at most `max_chars` of them.
    pub fn of(full: &str, offset: usize, max_chars: usize) -> Self {
        let total_chars = full.chars().count();
        let text: String = full.chars().skip(offset).take(max_chars).collect();
        let end = offset.saturating_add(max_chars);
        let truncated = end < total_chars;
        BodyWindow {
            text,
            offset,
            total_chars,
            truncated,
            next_offset: truncated.then_some(end),
        }
    }
}

/// The message's text: its text/plain body parts, else its HTML parts as text.
pub fn readable_text(message: &Message<'_>) -> (String, BodySource) {
    let plain = texts_of(message, &message.text_body, |body| match body {
        PartType::Text(text) => Some(text.to_string()),
        _ => None,
    });
    if !plain.is_empty() {
        return (plain.join("\n"), BodySource::Text);
    }
    let html = html_parts(message);
    if !html.is_empty() {
        let converted: Vec<String> = html.iter().map(|h| html_to_markdown(h)).collect();
        return (converted.join("\n"), BodySource::Html);
    }
    (String::new(), BodySource::None)
}

/// The message's own HTML, when it has an HTML part.
pub fn html(message: &Message<'_>) -> Option<String> {
    let parts = html_parts(message);
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn html_parts(message: &Message<'_>) -> Vec<String> {
    texts_of(message, &message.html_body, |body| match body {
        PartType::Html(html) => Some(html.to_string()),
        _ => None,
    })
}

fn texts_of(
    message: &Message<'_>,
    ids: &[u32],
    pick: impl Fn(&PartType<'_>) -> Option<String>,
) -> Vec<String> {
    ids.iter()
        .filter_map(|id| message.part(*id))
        .filter_map(|part| pick(&part.body))
        .collect()
}

/// HTML as Markdown: headings, emphasis and lists marked, links kept (as numbered
/// references listed at the end), tables drawn as text; what a reader would not see
/// ([`hidden`]: display:none, zero sizes, text coloured like its background, …) and
/// comments left out. Should html2text fail to render, the text of the same cleaned
/// document without its CSS; only then mail-parser's plainer conversion.
pub fn html_to_markdown(html: &str) -> String {
    let Ok(dom) = html2text::config::plain().parse_html(html.as_bytes()) else {
        return html_to_text(html);
    };
    hidden::drop_hidden(&dom);
    let render = |config: html2text::config::Config<_>| {
        config
            .dom_to_render_tree(&dom)
            .and_then(|tree| config.render_to_string(tree, HTML_TEXT_WIDTH))
    };
    render(html2text::config::plain().use_doc_css())
        .or_else(|_| render(html2text::config::plain()))
        .unwrap_or_else(|_| mail_parser::decoders::html::html_to_text(html))
}

/// HTML as readable text (emphasis and headings marked as in Markdown, links as numbered
/// references listed at the end); falls back to mail-parser's plainer conversion when html2text
/// cannot render it.
pub fn html_to_text(html: &str) -> String {
    html2text::config::plain()
        .string_from_read(html.as_bytes(), HTML_TEXT_WIDTH)
        .unwrap_or_else(|_| mail_parser::decoders::html::html_to_text(html))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn windows_count_characters() {
        let cases = [
            ("hello world", 0, 5, "hello", true, Some(5)),
            ("hello world", 6, 100, "world", false, None),
            ("hello", 0, 5, "hello", false, None),
            ("hello", 9, 5, "", false, None),
            ("grüße", 2, 2, "üß", true, Some(4)),
            ("", 0, 10, "", false, None),
        ];
        for (full, offset, max, text, truncated, next) in cases {
            let window = BodyWindow::of(full, offset, max);
            assert_eq!(window.text, text, "{full} {offset} {max}");
            assert_eq!(window.truncated, truncated, "{full} {offset} {max}");
            assert_eq!(window.next_offset, next, "{full} {offset} {max}");
            assert_eq!(window.total_chars, full.chars().count());
        }
    }

    fn parse(raw: &str) -> Message<'_> {
        MessageParser::default().parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn text_is_preferred_to_html() {
        let raw = "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nplain words\r\n--b\r\n\
Content-Type: text/html\r\n\r\n<p>html words</p>\r\n--b--\r\n";
        let message = parse(raw);
        assert_eq!(
            readable_text(&message),
            ("plain words".to_owned(), BodySource::Text)
        );
        assert_eq!(html(&message).as_deref(), Some("<p>html words</p>"));
    }

    #[test]
    fn html_only_mail_reads_as_text() {
        let raw = "Content-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><style>p{color:red}</style><script>alert(1)</script></head>\
<body><h1>Offer</h1><p>Dear <b>Bob</b>,</p><p>see <a href=\"https://x.test/a\">the link</a>.</p></body></html>";
        let message = parse(raw);
        let (text, source) = readable_text(&message);
        assert_eq!(source, BodySource::Html);
        for wanted in ["Offer", "Dear **Bob**,", "the link", "https://x.test/a"] {
            assert!(text.contains(wanted), "{wanted:?} missing from {text:?}");
        }
        for unwanted in ["<p>", "alert(1)", "color:red"] {
            assert!(!text.contains(unwanted), "{unwanted:?} in {text:?}");
        }
    }

    #[test]
    fn html_becomes_markdown_with_links_and_tables_and_without_hidden_parts() {
        let html = "<html><head><style>.pre{display:none}</style></head><body>\
<span class=\"pre\">preheader secret</span><div style=\"display:none\">hidden offer</div>\
<!-- tracking comment --><h2>Invoice</h2><p>Pay via <a href=\"https://pay.test/i/7\">the portal</a>.</p>\
<table><tr><th>Item</th><th>Cost</th></tr><tr><td>Widget</td><td>12.50</td></tr></table></body></html>";
        let markdown = html_to_markdown(html);
        for wanted in [
            "## Invoice",
            "[the portal][1]",
            "[1]: https://pay.test/i/7",
            "Widget",
            "12.50",
        ] {
            assert!(
                markdown.contains(wanted),
                "{wanted:?} missing from {markdown}"
            );
        }
        let row = markdown.lines().find(|l| l.contains("Widget")).unwrap();
        assert!(
            row.contains("12.50"),
            "a table row stays on one line: {markdown}"
        );
        for hidden in ["preheader secret", "hidden offer", "tracking comment"] {
            assert!(!markdown.contains(hidden), "{hidden:?} in {markdown}");
        }
    }

    #[test]
    fn a_text_only_message_has_no_html() {
        let message = parse("Subject: x\r\n\r\njust text\r\n");
        assert_eq!(readable_text(&message).1, BodySource::Text);
        assert_eq!(html(&message), None);
    }

    #[test]
    fn deeply_nested_html_does_not_overflow() {
        let html = "<div>".repeat(5_000) + "deep" + &"</div>".repeat(5_000);
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || html_to_text(&html))
            .unwrap();
        assert!(handle.join().unwrap().contains("deep"));
    }
}
