//! Attachment bytes into text a model can read: PDF ([`pdf`], pdf-extract over lopdf),
//! DOCX and PPTX ([`office`], quick-xml over the OOXML parts), XLSX/XLS/ODS and CSV
//! ([`sheets`], calamine and csv), plain text and HTML ([`web`], html2text), and iCalendar
//! invitations ([`calendar`], the icalendar parser) as structured events. Images and other
//! types are described ([`described`]: type, size, pixel dimensions), never dumped.
//!
//! Everything here is bounded by [`Limits`]: input size, pages, sheets, rows, output
//! characters and CPU time. Archives (the OOXML and ODF formats are zip files) are checked
//! by [`zipped`] before anything is decompressed: too many entries or too many declared
//! bytes is refused as a zip bomb, and no entry may inflate past what it declared. The work
//! runs on the blocking pool ([`crate::mail::blocking::run_blocking`]) and stops at its
//! deadline: extractors check the clock between pages, slides, sheets and rows, and the
//! caller stops waiting at the deadline whatever the parser does. No I/O, no HTTP, no MCP.
//! The bytes are untrusted third-party data; nothing here runs or follows them.

pub mod calendar;
pub mod described;
pub mod office;
pub mod pdf;
pub mod sheets;
pub mod web;
pub mod zipped;

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

pub use calendar::CalendarEvent;

use crate::mail::blocking::run_blocking;
use crate::mail::error::MailError;
use crate::mail::message::BodyWindow;

/// What extraction may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest attachment converted, in bytes.
    pub max_input_bytes: usize,
    /// PDF pages and PPTX slides read at most.
    pub max_pages: usize,
    /// Spreadsheet sheets read at most.
    pub max_sheets: usize,
    /// Rows read at most, per sheet (and of a CSV file).
    pub max_rows: usize,
    /// Characters of text produced at most; the rest is cut with a note.
    pub max_output_chars: usize,
    /// Entries a zip-based document may have.
    pub max_zip_entries: usize,
    /// Bytes all entries of a zip-based document may declare together once inflated.
    pub max_unzipped_bytes: u64,
    /// CPU time one extraction may take.
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 25 * 1024 * 1024,
            max_pages: 500,
            max_sheets: 20,
            max_rows: 5_000,
            max_output_chars: 1_000_000,
            max_zip_entries: 5_000,
            max_unzipped_bytes: 100 * 1024 * 1024,
            time: Duration::from_secs(20),
        }
    }
}

/// The kind of document an attachment was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Docx,
    Pptx,
    /// XLSX, XLSM, XLSB, XLS or ODS.
    Spreadsheet,
    Csv,
    Text,
    Html,
    /// An iCalendar file (.ics), such as a meeting invitation.
    Calendar,
    /// An image: described, not converted.
    Image,
    /// Any other type: described, not converted.
    Other,
}

impl Format {
    /// Whether text can be taken from this kind of document (images and others are only
    /// described).
    pub fn is_text_bearing(self) -> bool {
        !matches!(self, Format::Image | Format::Other)
    }
}

/// The text of an attachment, and what was left out.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Extracted {
    /// What the attachment was read as.
    pub format: Format,
    /// The text (Markdown-like: headings for pages, slides and sheets; `|` between cells);
    /// for images and other types a one-line description.
    pub text: String,
    /// What the limits left out (pages, rows, characters), if anything.
    pub notes: Vec<String>,
    /// For an iCalendar file: its events, structured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<CalendarEvent>>,
}

impl Extracted {
    /// The window of at most `max_chars` characters of the text from `offset`.
    pub fn window(self, offset: usize, max_chars: usize) -> TextWindow {
        TextWindow {
            format: self.format,
            window: BodyWindow::of(&self.text, offset, max_chars),
            notes: self.notes,
            events: self.events,
        }
    }
}

/// A window of an attachment's text, as a tool returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TextWindow {
    /// What the attachment was read as: pdf, docx, pptx, spreadsheet, csv, text, html,
    /// calendar (text taken), or image, other (only described).
    pub format: Format,
    /// The text window: `text`, `offset`, `total_chars`, `truncated`, `next_offset`.
    #[serde(flatten)]
    pub window: BodyWindow,
    /// What the limits left out (pages, sheets, rows, characters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For an iCalendar file: its events, structured (organizer, start/end with time
    /// zones, attendees, location).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<CalendarEvent>>,
}

/// Why an attachment gave no text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtractError {
    #[error("the {format} could not be read: {reason}")]
    Unreadable {
        format: &'static str,
        reason: String,
    },
    #[error(
        "the attachment is {size} bytes, over the {limit}-byte limit for turning attachments \
         into text; download it with get_mail_attachment instead"
    )]
    TooLarge { size: usize, limit: usize },
    #[error(
        "the {format} was refused as a possible zip bomb: {reason}; it was not unpacked \
         (download it with get_mail_attachment to open it elsewhere)"
    )]
    ZipBomb {
        format: &'static str,
        reason: String,
    },
    #[error(
        "reading the {format} took longer than the limit of {} and was stopped; download it \
         with get_mail_attachment instead",
        humantime::format_duration(*limit)
    )]
    TimedOut {
        format: &'static str,
        limit: Duration,
    },
}

impl From<ExtractError> for MailError {
    fn from(error: ExtractError) -> Self {
        MailError::InvalidInput(error.to_string())
    }
}

/// An attachment as the mailbox gave it.
#[derive(Clone)]
pub struct Attachment {
    /// The decoded bytes of the file.
    pub bytes: Vec<u8>,
    /// `type/subtype`, possibly with parameters such as a charset.
    pub content_type: String,
    /// The file name the sender gave, if any.
    pub filename: Option<String>,
}

/// Turns `attachment` into text on the blocking pool within `limits`; a parser that fails,
/// panics or overruns the time limit gives an [`ExtractError`] (as `MailError::InvalidInput`).
pub async fn extract(attachment: Attachment, limits: Limits) -> Result<Extracted, MailError> {
    let format = detect(&attachment);
    let deadline = Instant::now() + limits.time;
    let work = run_blocking("the attachment could not be read", move || {
        extract_now(&attachment, format, &limits, deadline)
    });
    let timed_out = ExtractError::TimedOut {
        format: format.label(),
        limit: limits.time,
    };
    match tokio::time::timeout(limits.time, work).await {
        Err(_elapsed) => Err(timed_out.into()),
        Ok(Err(_panicked)) => Err(ExtractError::Unreadable {
            format: format.label(),
            reason: "its parser failed on it (the file is probably damaged)".into(),
        }
        .into()),
        Ok(Ok(result)) => result.map_err(MailError::from),
    }
}

/// [`extract`] on the calling thread, as `format`, giving up at `deadline`.
pub fn extract_now(
    attachment: &Attachment,
    format: Format,
    limits: &Limits,
    deadline: Instant,
) -> Result<Extracted, ExtractError> {
    let bytes = attachment.bytes.as_slice();
    if bytes.len() > limits.max_input_bytes && format.is_text_bearing() {
        return Err(ExtractError::TooLarge {
            size: bytes.len(),
            limit: limits.max_input_bytes,
        });
    }
    let mut out = Budget::new(format, limits, deadline);
    let mut events = None;
    match format {
        Format::Pdf => pdf::read(bytes, &mut out)?,
        Format::Docx => office::read_docx(bytes, &mut out)?,
        Format::Pptx => office::read_pptx(bytes, &mut out)?,
        Format::Spreadsheet => sheets::read_workbook(bytes, &mut out)?,
        Format::Csv => sheets::read_csv(bytes, &mut out)?,
        Format::Text => web::read_text(bytes, &attachment.content_type, &mut out),
        Format::Html => web::read_html(bytes, &attachment.content_type, &mut out),
        Format::Calendar => events = Some(calendar::read(bytes, &mut out)?),
        Format::Image | Format::Other => described::describe(attachment, format, &mut out),
    }
    Ok(out.finish(events))
}

impl Format {
    /// The format as named in messages.
    pub fn label(self) -> &'static str {
        match self {
            Format::Pdf => "PDF",
            Format::Docx => "Word document",
            Format::Pptx => "PowerPoint presentation",
            Format::Spreadsheet => "spreadsheet",
            Format::Csv => "CSV file",
            Format::Text => "text file",
            Format::Html => "HTML file",
            Format::Calendar => "calendar file",
            Format::Image => "image",
            Format::Other => "file",
        }
    }
}

/// What an attachment is, from its MIME type or file name alone (before its bytes are
/// fetched); `None` when only its bytes could tell.
pub fn guess(content_type: &str, filename: Option<&str>) -> Option<Format> {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    by_mime(&mime.to_ascii_lowercase()).or_else(|| filename.and_then(by_extension))
}

/// What `attachment` is: by its MIME type, else its file name's extension, else its first
/// bytes (mail clients often send documents as application/octet-stream).
pub fn detect(attachment: &Attachment) -> Format {
    guess(&attachment.content_type, attachment.filename.as_deref())
        .or_else(|| by_magic(&attachment.bytes))
        .unwrap_or(Format::Other)
}

fn by_mime(mime: &str) -> Option<Format> {
    const OOXML: &str = "application/vnd.openxmlformats-officedocument.";
    Some(match mime {
        "application/pdf" | "application/x-pdf" => Format::Pdf,
        m if m == format!("{OOXML}wordprocessingml.document") => Format::Docx,
        m if m == format!("{OOXML}presentationml.presentation") => Format::Pptx,
        m if m.starts_with(&format!("{OOXML}spreadsheetml."))
            || m.starts_with("application/vnd.ms-excel")
            || m == "application/vnd.oasis.opendocument.spreadsheet" =>
        {
            Format::Spreadsheet
        }
        "text/csv" | "text/comma-separated-values" | "application/csv" => Format::Csv,
        "text/calendar" | "application/ics" => Format::Calendar,
        "text/html" | "application/xhtml+xml" => Format::Html,
        m if m.starts_with("image/") => Format::Image,
        m if m.starts_with("text/") => Format::Text,
        _ => return None,
    })
}

fn by_extension(filename: &str) -> Option<Format> {
    let (_, extension) = filename.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "pdf" => Format::Pdf,
        "docx" => Format::Docx,
        "pptx" => Format::Pptx,
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Format::Spreadsheet,
        "csv" => Format::Csv,
        "ics" | "ical" | "ifb" => Format::Calendar,
        "html" | "htm" => Format::Html,
        "txt" | "md" | "log" | "text" => Format::Text,
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp" | "tif" | "tiff" | "heic" => Format::Image,
        _ => return None,
    })
}

fn by_magic(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"%PDF-") {
        return Some(Format::Pdf);
    }
    if bytes.starts_with(b"BEGIN:VCALENDAR") {
        return Some(Format::Calendar);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return zipped::office_kind(bytes);
    }
    imagesize::image_type(bytes).ok().map(|_| Format::Image)
}

/// The text being built, within the output, time and count limits.
pub struct Budget<'l> {
    format: Format,
    limits: &'l Limits,
    deadline: Instant,
    text: String,
    chars: usize,
    notes: Vec<String>,
    full: bool,
}

impl<'l> Budget<'l> {
    fn new(format: Format, limits: &'l Limits, deadline: Instant) -> Self {
        Budget {
            format,
            limits,
            deadline,
            text: String::new(),
            chars: 0,
            notes: Vec::new(),
            full: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        self.limits
    }

    /// The format being read, as named in messages.
    pub fn format_label(&self) -> &'static str {
        self.format.label()
    }

    /// Adds `text`, cutting it at the output limit (then noting it once).
    pub fn push(&mut self, text: &str) {
        if self.full {
            return;
        }
        let room = self.limits.max_output_chars - self.chars;
        let count = text.chars().count();
        if count <= room {
            self.text.push_str(text);
            self.chars += count;
            return;
        }
        self.text.extend(text.chars().take(room));
        self.chars += room;
        self.full = true;
        self.note(format!(
            "the text was cut at {} characters",
            self.limits.max_output_chars
        ));
    }

    /// Whether the output limit was reached (no more text is taken).
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Records what a limit left out.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// `Err(TimedOut)` once the deadline has passed; extractors call it between units of work.
    pub fn check_time(&self) -> Result<(), ExtractError> {
        match Instant::now() < self.deadline {
            true => Ok(()),
            false => Err(ExtractError::TimedOut {
                format: self.format.label(),
                limit: self.limits.time,
            }),
        }
    }

    /// An `Unreadable` error for this format.
    pub fn unreadable(&self, reason: impl std::fmt::Display) -> ExtractError {
        let reason = crate::mail::error::first_line_capped(&reason.to_string());
        ExtractError::Unreadable {
            format: self.format.label(),
            reason,
        }
    }

    fn finish(self, events: Option<Vec<CalendarEvent>>) -> Extracted {
        Extracted {
            format: self.format,
            text: self.text,
            notes: self.notes,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(content_type: &str, filename: Option<&str>, bytes: &[u8]) -> Attachment {
        Attachment {
            bytes: bytes.to_vec(),
            content_type: content_type.into(),
            filename: filename.map(str::to_owned),
        }
    }

    #[test]
    fn formats_are_found_by_type_then_name_then_bytes() {
        let cases = [
            ("application/pdf", None, &b""[..], Format::Pdf),
            (
                "application/octet-stream",
                Some("a.DOCX"),
                b"",
                Format::Docx,
            ),
            (
                "application/octet-stream",
                Some("x"),
                b"%PDF-1.4",
                Format::Pdf,
            ),
            ("text/calendar; method=REQUEST", None, b"", Format::Calendar),
            ("text/plain; charset=utf-8", None, b"", Format::Text),
            (
                "application/vnd.oasis.opendocument.spreadsheet",
                None,
                b"",
                Format::Spreadsheet,
            ),
            ("image/png", None, b"", Format::Image),
            (
                "application/octet-stream",
                Some("a.bin"),
                b"\x00\x01",
                Format::Other,
            ),
        ];
        for (mime, name, bytes, want) in cases {
            assert_eq!(
                detect(&attachment(mime, name, bytes)),
                want,
                "{mime} {name:?}"
            );
        }
    }

    #[test]
    fn the_budget_cuts_at_the_output_limit() {
        let limits = Limits {
            max_output_chars: 5,
            ..Limits::default()
        };
        let mut out = Budget::new(Format::Text, &limits, Instant::now() + limits.time);
        out.push("abc");
        out.push("défgh");
        out.push("more");
        let done = out.finish(None);
        assert_eq!(done.text, "abcdé");
        assert_eq!(done.notes, ["the text was cut at 5 characters"]);
    }

    #[test]
    fn a_passed_deadline_stops_the_work() {
        let limits = Limits::default();
        let out = Budget::new(Format::Pdf, &limits, Instant::now());
        assert!(matches!(
            out.check_time(),
            Err(ExtractError::TimedOut { .. })
        ));
    }

    #[tokio::test]
    async fn work_past_the_time_limit_is_stopped_with_a_clear_error() {
        let limits = Limits {
            time: Duration::from_millis(1),
            ..Limits::default()
        };
        let long = attachment("application/pdf", None, &pdf::tests::report(400));
        let err = extract(long, limits).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "reading the PDF took longer than the limit of 1ms and was stopped; download it \
             with get_mail_attachment instead"
        );
    }

    #[tokio::test]
    async fn text_comes_back_from_the_blocking_pool() {
        let csv = attachment("text/csv", Some("a.csv"), b"a,b\n1,2\n");
        let done = extract(csv, Limits::default()).await.unwrap();
        assert_eq!(
            (done.format, done.text.as_str()),
            (Format::Csv, "a | b\n1 | 2\n")
        );
        let window = done.window(4, 3);
        assert_eq!(window.window.text, "b\n1");
        assert_eq!(window.window.next_offset, Some(7));
    }

    #[test]
    fn a_large_attachment_is_refused_before_parsing() {
        let limits = Limits {
            max_input_bytes: 3,
            ..Limits::default()
        };
        let big = attachment("application/pdf", None, b"%PDF-1.4");
        let err = extract_now(&big, Format::Pdf, &limits, Instant::now() + limits.time);
        assert_eq!(
            err.unwrap_err(),
            ExtractError::TooLarge { size: 8, limit: 3 }
        );
    }
}
