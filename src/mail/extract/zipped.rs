//! Zip-based documents (DOCX, PPTX, XLSX, ODS) opened safely. [`open`] reads only the
//! central directory and refuses an archive with more entries than
//! [`Limits::max_zip_entries`], or whose entries declare more than
//! [`Limits::max_unzipped_bytes`] together, or one entry claiming a compression ratio no
//! document has: zip bombs are refused before any byte is inflated. While an entry is read,
//! the zip crate stops it at the size it declared, and [`read_entry`] also stops at the
//! limit, so a lying header cannot inflate past what was checked.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::{Budget, ExtractError, Format, Limits};

/// A compression ratio (inflated / compressed) above this, for an entry inflating to more
/// than [`RATIO_FLOOR`] bytes, is a zip bomb: real XML compresses 10–30 times, rarely 100.
const MAX_RATIO: u64 = 1_000;

/// Entries smaller than this are not judged by their ratio (a run of spaces compresses well).
const RATIO_FLOOR: u64 = 1024 * 1024;

/// An archive whose directory passed the checks.
pub type Archive<'b> = ZipArchive<Cursor<&'b [u8]>>;

/// Opens `bytes` as a zip archive and checks its directory against `limits`.
pub fn open<'b>(bytes: &'b [u8], out: &Budget<'_>) -> Result<Archive<'b>, ExtractError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| out.unreadable(e))?;
    check_directory(&mut archive, out.limits(), out.format_label())?;
    Ok(archive)
}

fn check_directory(
    archive: &mut Archive<'_>,
    limits: &Limits,
    format: &'static str,
) -> Result<(), ExtractError> {
    let bomb = |reason: String| ExtractError::ZipBomb { format, reason };
    if archive.len() > limits.max_zip_entries {
        return Err(bomb(format!(
            "it has {} entries, more than the {} allowed",
            archive.len(),
            limits.max_zip_entries
        )));
    }
    let mut declared: u64 = 0;
    for index in 0..archive.len() {
        let Ok(entry) = archive.by_index_raw(index) else {
            continue;
        };
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        if size > RATIO_FLOOR && size / packed > MAX_RATIO {
            return Err(bomb(format!(
                "one entry inflates {packed} bytes to {size} (over {MAX_RATIO} times)"
            )));
        }
        declared = declared.saturating_add(size);
    }
    if declared > limits.max_unzipped_bytes {
        return Err(bomb(format!(
            "its entries would inflate to {declared} bytes, more than the {} allowed",
            limits.max_unzipped_bytes
        )));
    }
    Ok(())
}

/// The entry `name` as text, `None` when the archive has no such entry. Reads at most
/// [`Limits::max_unzipped_bytes`] (and never more than the entry declared).
pub fn read_entry(
    archive: &mut Archive<'_>,
    name: &str,
    out: &Budget<'_>,
) -> Result<Option<String>, ExtractError> {
    let Ok(entry) = archive.by_name(name) else {
        return Ok(None);
    };
    let limit = out.limits().max_unzipped_bytes;
    let mut text = String::new();
    entry
        .take(limit)
        .read_to_string(&mut text)
        .map_err(|e| out.unreadable(format!("{name}: {e}")))?;
    Ok(Some(text))
}

/// The names of the archive's entries.
pub fn names(archive: &Archive<'_>) -> Vec<String> {
    archive
        .file_names()
        .filter_map(Result::ok)
        .map(|name| name.into_owned())
        .collect()
}

/// Which office document a zip file is, from the entries it has; `None` for other zips.
pub fn office_kind(bytes: &[u8]) -> Option<Format> {
    let archive = ZipArchive::new(Cursor::new(bytes)).ok()?;
    let has = |prefix: &str| {
        archive
            .file_names()
            .filter_map(Result::ok)
            .any(|n| n.starts_with(prefix))
    };
    if has("word/") {
        Some(Format::Docx)
    } else if has("ppt/") {
        Some(Format::Pptx)
    } else if has("xl/") || has("content.xml") {
        Some(Format::Spreadsheet)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(body).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn budget(limits: &Limits) -> Budget<'_> {
        Budget::new(Format::Docx, limits, Instant::now() + limits.time)
    }

    #[test]
    fn a_small_archive_opens_and_reads() {
        let bytes = zip_of(&[("word/document.xml", b"<w:t>hi</w:t>")]);
        let limits = Limits::default();
        let out = budget(&limits);
        let mut archive = open(&bytes, &out).unwrap();
        let text = read_entry(&mut archive, "word/document.xml", &out).unwrap();
        assert_eq!(text.as_deref(), Some("<w:t>hi</w:t>"));
        assert_eq!(read_entry(&mut archive, "absent", &out).unwrap(), None);
        assert_eq!(office_kind(&bytes), Some(Format::Docx));
    }

    #[test]
    fn a_highly_compressed_entry_is_a_zip_bomb() {
        let zeros = vec![0u8; 20 * 1024 * 1024];
        let bytes = zip_of(&[("word/document.xml", &zeros)]);
        let limits = Limits::default();
        let err = open(&bytes, &budget(&limits)).unwrap_err();
        assert!(matches!(err, ExtractError::ZipBomb { .. }), "{err}");
    }

    #[test]
    fn too_many_declared_bytes_or_entries_are_refused() {
        let bytes = zip_of(&[("a", &[1u8; 600]), ("b", &[2u8; 600])]);
        let few_bytes = Limits {
            max_unzipped_bytes: 1000,
            ..Limits::default()
        };
        assert!(matches!(
            open(&bytes, &budget(&few_bytes)),
            Err(ExtractError::ZipBomb { .. })
        ));
        let few_entries = Limits {
            max_zip_entries: 1,
            ..Limits::default()
        };
        assert!(matches!(
            open(&bytes, &budget(&few_entries)),
            Err(ExtractError::ZipBomb { .. })
        ));
    }

    #[test]
    fn not_a_zip_is_unreadable() {
        let limits = Limits::default();
        let err = open(b"PK\x03\x04garbage", &budget(&limits)).unwrap_err();
        assert!(matches!(err, ExtractError::Unreadable { .. }), "{err}");
    }
}
