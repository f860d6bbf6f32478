//! PDF text with pdf-extract (over lopdf), page by page: each page under a `--- page N
//! of M ---` line, at most [`Limits::max_pages`](super::Limits) pages, the clock checked
//! between pages. Encrypted PDFs are refused (no password is ever asked for).

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
