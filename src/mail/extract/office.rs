//! Word (DOCX) and PowerPoint (PPTX) text, read with quick-xml straight from their OOXML
//! parts inside the zip ([`super::zipped`] checks it first): `word/document.xml` (its
//! paragraphs, table rows with ` | ` between cells), and `ppt/slides/slideN.xml` in slide
//! order, each under a `--- slide N of M ---` line, at most
//! [`Limits::max_pages`](super::Limits) slides. No crate reads these formats to text with
//! less code than these element names: docx-rs reads DOCX into a model (and writes it, which
//! the tests use), and nothing maintained reads PPTX.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

use super::zipped::{self, Archive};
use super::{Budget, ExtractError};

/// The main part of a Word document.
const DOCUMENT_PART: &str = "word/document.xml";

/// Reads the text of the DOCX `bytes` into `out`.
pub fn read_docx(bytes: &[u8], out: &mut Budget<'_>) -> Result<(), ExtractError> {
    let mut archive = zipped::open(bytes, out)?;
    let xml = zipped::read_entry(&mut archive, DOCUMENT_PART, out)?
        .ok_or_else(|| out.unreadable(format!("it has no {DOCUMENT_PART}")))?;
    let text = xml_text(&xml, &WORD).map_err(|e| out.unreadable(e))?;
    out.push(text.trim());
    Ok(())
}

/// Reads the text of the PPTX `bytes` into `out`, slide by slide.
pub fn read_pptx(bytes: &[u8], out: &mut Budget<'_>) -> Result<(), ExtractError> {
    let mut archive = zipped::open(bytes, out)?;
    let slides = slide_parts(&archive);
    if slides.is_empty() {
        return Err(out.unreadable("it has no slides (ppt/slides/slideN.xml)"));
    }
    let (total, max) = (slides.len(), out.limits().max_pages);
    for (index, name) in slides.iter().take(max).enumerate() {
        out.check_time()?;
        if out.is_full() {
            return Ok(());
        }
        let xml = read_slide(&mut archive, name, out)?;
        let text = xml_text(&xml, &DRAWING).map_err(|e| out.unreadable(e))?;
        out.push(&format!("--- slide {} of {total} ---\n", index + 1));
        out.push(text.trim());
        out.push("\n\n");
    }
    if total > max {
        out.note(format!("only the first {max} of {total} slides were read"));
    }
    Ok(())
}

fn read_slide(
    archive: &mut Archive<'_>,
    name: &str,
    out: &Budget<'_>,
) -> Result<String, ExtractError> {
    zipped::read_entry(archive, name, out).map(Option::unwrap_or_default)
}

/// `ppt/slides/slideN.xml`, ordered by N.
fn slide_parts(archive: &Archive<'_>) -> Vec<String> {
    let mut slides: Vec<(u32, String)> = zipped::names(archive)
        .into_iter()
        .filter_map(|name| {
            let number = name
                .strip_prefix("ppt/slides/slide")?
                .strip_suffix(".xml")?
                .parse()
                .ok()?;
            Some((number, name))
        })
        .collect();
    slides.sort();
    slides.into_iter().map(|(_, name)| name).collect()
}

/// Which elements of an OOXML vocabulary hold text and which end lines or cells.
struct Vocabulary {
    /// Elements whose text content is document text (`w:t`, `a:t`).
    text: &'static [&'static str],
    /// Elements that end a line when they close (paragraphs, table rows).
    line_end: &'static [&'static str],
    /// Elements that end a table cell when they close.
    cell_end: &'static [&'static str],
    /// Empty elements that stand for a tab.
    tab: &'static [&'static str],
    /// Empty elements that stand for a line break.
    line_break: &'static [&'static str],
}

/// WordprocessingML (`w:` elements of word/document.xml).
const WORD: Vocabulary = Vocabulary {
    text: &["t"],
    line_end: &["p", "tr"],
    cell_end: &["tc"],
    tab: &["tab"],
    line_break: &["br", "cr"],
};

/// DrawingML (`a:` elements of slides).
const DRAWING: Vocabulary = Vocabulary {
    text: &["t"],
    line_end: &["p", "tr"],
    cell_end: &["tc"],
    tab: &["tab"],
    line_break: &["br"],
};

/// The text of an OOXML part, by the element names of `vocabulary` (namespace prefixes
/// ignored). Inside a table cell a paragraph's end is a space, so a row stays one line.
fn xml_text(xml: &str, vocabulary: &Vocabulary) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_str(xml);
    let mut text = String::new();
    let (mut in_text, mut cells_open) = (false, 0usize);
    loop {
        match reader.read_event()? {
            Event::Start(e) => {
                let local = e.local_name();
                let name = local.as_ref();
                in_text = vocabulary.text.contains(&name);
                cells_open += usize::from(vocabulary.cell_end.contains(&name));
            }
            Event::Empty(e) => {
                let local = e.local_name();
                let name = local.as_ref();
                if vocabulary.tab.contains(&name) {
                    text.push('\t');
                } else if vocabulary.line_break.contains(&name) {
                    text.push('\n');
                }
            }
            Event::End(e) => {
                let local = e.local_name();
                let name = local.as_ref();
                in_text = false;
                if vocabulary.cell_end.contains(&name) {
                    cells_open = cells_open.saturating_sub(1);
                    trim_end_spaces(&mut text);
                    text.push_str(" | ");
                } else if vocabulary.line_end.contains(&name) && cells_open == 0 {
                    end_line(&mut text);
                } else if vocabulary.line_end.contains(&name) {
                    text.push(' ');
                }
            }
            Event::Text(t) if in_text => text.push_str(&t.xml10_content()),
            Event::CData(t) if in_text => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => push_reference(&mut text, &r),
            Event::Eof => return Ok(text),
            _ => {}
        }
    }
}

fn trim_end_spaces(text: &mut String) {
    let kept = text.trim_end_matches(' ').len();
    text.truncate(kept);
}

/// Ends a line, dropping the ` | ` a row's last cell left.
fn end_line(text: &mut String) {
    if text.ends_with(" | ") {
        text.truncate(text.len() - 3);
    }
    trim_end_spaces(text);
    text.push('\n');
}

fn push_reference(text: &mut String, reference: &quick_xml::events::BytesRef<'_>) {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        text.push(c);
    } else if let Some(resolved) = resolve_predefined_entity(reference) {
        text.push_str(resolved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_paragraphs_tables_and_entities_become_lines() {
        let xml = r#"<?xml version="1.0"?><w:document xmlns:w="w"><w:body>
<w:p><w:r><w:t>Quarterly</w:t></w:r><w:r><w:t xml:space="preserve"> report &amp; plan</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Cost</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><w:t>a</w:t><w:tab/><w:t>b&#233;</w:t><w:br/><w:t>c</w:t></w:r></w:p>
<w:p><w:r><w:instrText>HYPERLINK</w:instrText></w:r></w:p>
</w:body></w:document>"#;
        let text = xml_text(xml, &WORD).unwrap();
        assert!(text.contains("Quarterly report & plan\n"), "{text:?}");
        assert!(text.contains("a\tbé\nc\n"), "{text:?}");
        assert!(!text.contains("HYPERLINK"), "{text:?}");
        assert!(text.contains("\nItem | Cost\n"), "{text:?}");
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(xml_text("<w:p><w:t>a</w:x>", &WORD).is_err());
    }
}
