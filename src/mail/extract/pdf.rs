//! PDF text with pdf-extract (over lopdf), page by page: each page under a `--- page N
//! of M ---` line, at most [`Limits::max_pages`](super::Limits) pages, the clock checked
//! between pages. Encrypted PDFs are refused (no password is ever asked for). Before any
//! page is read, the deflated streams are inflated once into nothing, at most
//! [`Limits::max_unzipped_bytes`](super::Limits) of them together: a "PDF bomb" whose
//! streams would inflate to gigabytes is refused like a zip bomb instead of filling memory.

use std::io::Read;
use std::panic::AssertUnwindSafe;

use lopdf::Document;
use pdf_extract::PlainTextOutput;

use super::{Budget, ExtractError};

/// Reads the text of the PDF `bytes` into `out`.
pub fn read(bytes: &[u8], out: &mut Budget<'_>) -> Result<(), ExtractError> {
    let document = Document::load_mem(bytes).map_err(|e| out.unreadable(e))?;
    if document.is_encrypted() {
        return Err(out.unreadable("it is password-protected"));
    }
    check_streams(&document, out)?;
    let pages: Vec<u32> = document.get_pages().into_keys().collect();
    let total = pages.len();
    let max_pages = out.limits().max_pages;
    for &number in pages.iter().take(max_pages) {
        out.check_time()?;
        if out.is_full() {
            return Ok(());
        }
        out.push(&format!("--- page {number} of {total} ---\n"));
        match page_text(&document, number) {
            Some(text) => out.push(text.trim_matches('\n')),
            None => out.push("[this page could not be read]"),
        }
        out.push("\n\n");
    }
    if total > max_pages {
        out.note(format!(
            "only the first {max_pages} of {total} pages were read"
        ));
    }
    Ok(())
}

/// Refuses `document` when its FlateDecode streams inflate to more than the limit,
/// counting without keeping the bytes.
fn check_streams(document: &Document, out: &Budget<'_>) -> Result<(), ExtractError> {
    let limit = out.limits().max_unzipped_bytes;
    let mut total: u64 = 0;
    for object in document.objects.values() {
        let Ok(stream) = object.as_stream() else {
            continue;
        };
        let deflated = stream
            .filters()
            .is_ok_and(|filters| filters.first() == Some(&&b"FlateDecode"[..]));
        total += match deflated {
            true => inflated_size(&stream.content, limit - total + 1),
            false => stream.content.len() as u64,
        };
        if total > limit {
            return Err(ExtractError::ZipBomb {
                format: out.format_label(),
                reason: format!("its compressed streams inflate to more than {limit} bytes"),
            });
        }
    }
    Ok(())
}

/// How many bytes `deflated` (zlib) inflates to, counting at most `cap`.
fn inflated_size(deflated: &[u8], cap: u64) -> u64 {
    let mut inflater = flate2::read::ZlibDecoder::new(deflated).take(cap);
    std::io::copy(&mut inflater, &mut std::io::sink()).unwrap_or(0)
}

/// The text of page `number`; `None` when pdf-extract fails on it (it panics on some
/// damaged pages: one bad page does not lose the others).
fn page_text(document: &Document, number: u32) -> Option<String> {
    let read = || {
        let mut text = String::new();
        let mut output = PlainTextOutput::new(&mut text);
        pdf_extract::output_doc_page(document, &mut output, number).map(|()| text)
    };
    std::panic::catch_unwind(AssertUnwindSafe(read)).ok()?.ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Instant;

    use lopdf::content::{Content, Operation};
    use lopdf::{Object, Stream, dictionary};

    use super::super::{Format, Limits};
    use super::*;

    /// A PDF of `pages` pages, page n saying "Page n of the report", made with lopdf.
    pub(crate) fn report(pages: u32) -> Vec<u8> {
        let mut document = Document::with_version("1.5");
        let pages_id = document.new_object_id();
        let font = document.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let resources = document.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
        let kids: Vec<Object> = (1..=pages)
            .map(|n| {
                let content = Content {
                    operations: vec![
                        Operation::new("BT", vec![]),
                        Operation::new("Tf", vec!["F1".into(), 12.into()]),
                        Operation::new("Td", vec![72.into(), 720.into()]),
                        Operation::new(
                            "Tj",
                            vec![Object::string_literal(format!("Page {n} of the report"))],
                        ),
                        Operation::new("ET", vec![]),
                    ],
                };
                let stream = Stream::new(dictionary! {}, content.encode().unwrap());
                let contents = document.add_object(stream);
                document
                    .add_object(dictionary! {
                        "Type" => "Page", "Parent" => pages_id, "Contents" => contents,
                    })
                    .into()
            })
            .collect();
        let tree = dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            "Resources" => resources, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        };
        document.objects.insert(pages_id, Object::Dictionary(tree));
        let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        document.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).unwrap();
        bytes
    }

    fn read_with(bytes: &[u8], limits: Limits) -> Result<(String, Vec<String>), ExtractError> {
        let mut out = Budget::new(Format::Pdf, &limits, Instant::now() + limits.time);
        read(bytes, &mut out)?;
        let done = out.finish(None);
        Ok((done.text, done.notes))
    }

    #[test]
    fn pages_are_read_in_order_under_page_lines() {
        let (text, notes) = read_with(&report(3), Limits::default()).unwrap();
        let first = text.find("--- page 1 of 3 ---").unwrap();
        let second = text.find("Page 2 of the report").unwrap();
        assert!(first < second, "{text}");
        assert!(
            text.contains("--- page 3 of 3 ---\nPage 3 of the report"),
            "{text}"
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn only_max_pages_are_read() {
        let limits = Limits {
            max_pages: 2,
            ..Limits::default()
        };
        let (text, notes) = read_with(&report(5), limits).unwrap();
        assert!(text.contains("Page 2 of the report"));
        assert!(!text.contains("Page 3 of the report"));
        assert_eq!(notes, ["only the first 2 of 5 pages were read"]);
    }

    #[test]
    fn a_pdf_whose_streams_inflate_past_the_limit_is_refused() {
        let mut document = Document::load_mem(&report(2)).unwrap();
        let bomb = {
            use flate2::write::ZlibEncoder;
            use std::io::Write;
            let mut encoder = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&vec![b' '; 8 * 1024 * 1024]).unwrap();
            encoder.finish().unwrap()
        };
        let stream = Stream::new(dictionary! { "Filter" => "FlateDecode" }, bomb);
        document.add_object(stream);
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).unwrap();
        let limits = Limits {
            max_unzipped_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        };
        let err = read_with(&bytes, limits).unwrap_err();
        assert!(matches!(err, ExtractError::ZipBomb { .. }), "{err}");
        assert!(read_with(&report(2), limits).is_ok());
    }

    #[test]
    fn damaged_pdfs_are_unreadable() {
        for bytes in [
            &b"%PDF-1.4\ngarbage"[..],
            b"",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog",
        ] {
            let err = read_with(bytes, Limits::default()).unwrap_err();
            assert!(matches!(err, ExtractError::Unreadable { .. }), "{err}");
            assert!(
                err.to_string().starts_with("the PDF could not be read: "),
                "{err}"
            );
        }
    }
}
