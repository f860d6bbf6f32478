//! Real documents made by the libraries that write them, to mail as attachments: a PDF
//! (lopdf), a Word file (docx-rs), a workbook (rust_xlsxwriter), a PowerPoint file (its
//! OOXML parts zipped with the zip crate: no maintained crate writes PPTX), an OpenDocument
//! spreadsheet (its ODF 1.2 package parts zipped the same way), a calendar
//! invitation (RFC 5545 text), a zip bomb dressed as a DOCX, and a message carrying files.

use std::io::{Cursor, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use zip::write::SimpleFileOptions;

/// A file attached to a test message.
pub struct Attached {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// A message from Ann with `body` as its text and `files` attached (base64).
pub fn message_with_files(subject: &str, body: &str, files: &[Attached]) -> Vec<u8> {
    let mut raw = format!(
        "From: Ann <ann@example.test>\r\nTo: you@example.test\r\nSubject: {subject}\r\n\
Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{}@test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b0und\"\r\n\r\n--b0und\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4()
    );
    for file in files {
        let encoded = STANDARD.encode(&file.bytes);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        raw.push_str(&format!(
            "--b0und\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; \
filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            file.content_type,
            file.name,
            file.name,
            lines.join("\r\n")
        ));
    }
    raw.push_str("--b0und--\r\n");
    raw.into_bytes()
}

/// A PDF of `pages` A4 pages, page n saying "Page n of the report", made with lopdf.
pub fn pdf_report(pages: u32) -> Vec<u8> {
    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font = document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources = document.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let kids: Vec<Object> = (1..=pages)
        .map(|n| {
            let line = format!("Page {n} of the report");
            let content = Content {
                operations: vec![
                    Operation::new("BT", vec![]),
                    Operation::new("Tf", vec!["F1".into(), 12.into()]),
                    Operation::new("Td", vec![72.into(), 720.into()]),
                    Operation::new("Tj", vec![Object::string_literal(line)]),
                    Operation::new("ET", vec![]),
                ],
            };
            let stream = Stream::new(dictionary! {}, content.encode().unwrap());
            let contents = document.add_object(stream);
            let page =
                dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => contents };
            document.add_object(page).into()
        })
        .collect();
    let tree = dictionary! {
        "Type" => "Pages", "Kids" => kids, "Count" => pages as i64, "Resources" => resources,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    };
    document.objects.insert(pages_id, Object::Dictionary(tree));
    let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).unwrap();
    bytes
}

/// A Word document made with docx-rs: a heading line, a paragraph and a two-row table.
pub fn docx_minutes() -> Vec<u8> {
    use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};
    let paragraph = |text: &str| Paragraph::new().add_run(Run::new().add_text(text));
    let cell = |text: &str| TableCell::new().add_paragraph(paragraph(text));
    let table = Table::new(vec![
        TableRow::new(vec![cell("Action"), cell("Owner")]),
        TableRow::new(vec![cell("Order chairs"), cell("Bob")]),
    ]);
    let mut out = Cursor::new(Vec::new());
    Docx::new()
        .add_paragraph(paragraph("Minutes of the board meeting"))
        .add_paragraph(paragraph("The budget was approved unanimously."))
        .add_table(table)
        .build()
        .pack(&mut out)
        .unwrap();
    out.into_inner()
}

/// A workbook made with rust_xlsxwriter: sheet "Budget" (a header row and two items) and
/// sheet "Notes".
pub fn xlsx_budget() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let budget = workbook.add_worksheet();
    budget.set_name("Budget").unwrap();
    budget.write_string(0, 0, "Item").unwrap();
    budget.write_string(0, 1, "Cost").unwrap();
    budget.write_string(1, 0, "Chairs").unwrap();
    budget.write_number(1, 1, 120.5).unwrap();
    budget.write_string(2, 0, "Tables").unwrap();
    budget.write_number(2, 1, 300).unwrap();
    let notes = workbook.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "Prices include VAT").unwrap();
    workbook.save_to_buffer().unwrap()
}

/// A PowerPoint file of two slides: the OOXML parts a reader needs, zipped.
pub fn pptx_deck() -> Vec<u8> {
    let slide = |title: &str, point: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><p:sld xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" \
xmlns:p=\"http://schemas.openxmlformats.org/presentationml/2006/main\"><p:cSld><p:spTree>\
<p:sp><p:txBody><a:p><a:r><a:t>{title}</a:t></a:r></a:p><a:p><a:r><a:t>{point}</a:t></a:r></a:p></p:txBody></p:sp>\
</p:spTree></p:cSld></p:sld>"
        )
    };
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>".to_vec()),
        ("ppt/presentation.xml", b"<p:presentation/>".to_vec()),
        (
            "ppt/slides/slide1.xml",
            slide("Roadmap 2026", "Ship the reader").into_bytes(),
        ),
        (
            "ppt/slides/slide2.xml",
            slide("Risks", "Zip bombs &amp; friends").into_bytes(),
        ),
    ])
}

/// An OpenDocument spreadsheet (ODS) of two sheets, "Stock" (a header row and two items,
/// a number cell among them) and "Suppliers": the ODF 1.2 package a reader needs (the
/// `mimetype` entry first, the manifest, `content.xml`), zipped.
pub fn ods_inventory() -> Vec<u8> {
    let text_cell = |text: &str| {
        format!(
            "<table:table-cell office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>"
        )
    };
    let number_cell = |value: &str| {
        format!(
            "<table:table-cell office:value-type=\"float\" office:value=\"{value}\"><text:p>{value}</text:p></table:table-cell>"
        )
    };
    let row = |cells: &[String]| format!("<table:table-row>{}</table:table-row>", cells.concat());
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content \
xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
<office:body><office:spreadsheet>\
<table:table table:name=\"Stock\">{}{}{}</table:table>\
<table:table table:name=\"Suppliers\">{}</table:table>\
</office:spreadsheet></office:body></office:document-content>",
        row(&[text_cell("Part"), text_cell("Count")]),
        row(&[text_cell("Bolts"), number_cell("250")]),
        row(&[text_cell("Nuts &amp; washers"), number_cell("75.5")]),
        row(&[text_cell("Acme Fasteners Ltd")]),
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><manifest:manifest \
xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\
<manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
<manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
</manifest:manifest>";
    zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet".to_vec(),
        ),
        ("META-INF/manifest.xml", manifest.as_bytes().to_vec()),
        ("content.xml", content.into_bytes()),
    ])
}

/// A "DOCX" whose document part inflates 64 MB of spaces from a few dozen kilobytes.
pub fn docx_zip_bomb() -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>".to_vec()),
        ("word/document.xml", vec![b' '; 64 * 1024 * 1024]),
    ])
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in entries {
        writer
            .start_file(*name, SimpleFileOptions::default())
            .unwrap();
        writer.write_all(body).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A meeting invitation (METHOD:REQUEST) in Europe/Berlin time with two attendees.
pub const INVITATION: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mail_mcp tests//EN\r\n\
METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:review-42@example.test\r\nDTSTAMP:20260301T120000Z\r\n\
SUMMARY:Budget review\r\nDTSTART;TZID=Europe/Berlin:20260305T100000\r\n\
DTEND;TZID=Europe/Berlin:20260305T113000\r\nLOCATION:Room 4\\, Building B\r\n\
ORGANIZER;CN=Ann Smith:mailto:ann@example.test\r\n\
ATTENDEE;CN=Bob Jones;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.test\r\n\
ATTENDEE;CN=Carl Diaz;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:carl@example.test\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";
