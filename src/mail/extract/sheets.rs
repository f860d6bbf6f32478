//! Spreadsheets (XLSX, XLSM, XLSB, XLS, ODS) with calamine and CSV files with csv: each
//! sheet under a `## Sheet: name` heading, one line per row with ` | ` between cells,
//! at most [`Limits::max_sheets`](super::Limits) sheets and `max_rows` rows a sheet, the
//! clock checked between rows. Zip-based workbooks pass [`super::zipped`]'s checks first.

use std::io::Cursor;

use calamine::{Data, Reader, open_workbook_auto_from_rs};

use super::{Budget, ExtractError, zipped};

/// Reads the sheets of the workbook `bytes` into `out`.
pub fn read_workbook(bytes: &[u8], out: &mut Budget<'_>) -> Result<(), ExtractError> {
    if bytes.starts_with(b"PK") {
        zipped::open(bytes, out)?;
    }
    let mut workbook =
        open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| out.unreadable(e))?;
    let names = workbook.sheet_names();
    let max_sheets = out.limits().max_sheets;
    for (index, name) in names.iter().enumerate().take(max_sheets) {
        out.check_time()?;
        if out.is_full() {
            return Ok(());
        }
        out.push(&format!("## Sheet: {name}\n"));
        match workbook.worksheet_range_at(index) {
            Some(Ok(range)) => push_rows(range.rows().map(row_cells), out)?,
            Some(Err(e)) => out.push(&format!("[this sheet could not be read: {e}]\n")),
            None => {}
        }
        out.push("\n");
    }
    if names.len() > max_sheets {
        out.note(format!(
            "only the first {max_sheets} of {} sheets were read",
            names.len()
        ));
    }
    Ok(())
}

fn row_cells(row: &[Data]) -> Vec<String> {
    row.iter().map(ToString::to_string).collect()
}

/// Reads the rows of the CSV file `bytes` into `out`.
pub fn read_csv(bytes: &[u8], out: &mut Budget<'_>) -> Result<(), ExtractError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut failure = None;
    let rows = reader.byte_records().map_while(|record| match record {
        Ok(record) => Some(
            record
                .iter()
                .map(|cell| String::from_utf8_lossy(cell).into_owned())
                .collect(),
        ),
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    push_rows(rows, out)?;
    match failure {
        Some(e) => Err(out.unreadable(e)),
        None => Ok(()),
    }
}

/// Adds `rows` to `out` within the row, output and time limits; trailing empty cells of
/// a row and wholly empty rows are dropped.
fn push_rows(
    rows: impl Iterator<Item = Vec<String>>,
    out: &mut Budget<'_>,
) -> Result<(), ExtractError> {
    let max_rows = out.limits().max_rows;
    for (read, row) in rows.enumerate() {
        if read == max_rows {
            out.note(format!(
                "only the first {max_rows} rows of a sheet were read"
            ));
            break;
        }
        if read % 256 == 0 {
            out.check_time()?;
        }
        if out.is_full() {
            break;
        }
        let filled = row.iter().rposition(|cell| !cell.trim().is_empty());
        let Some(last) = filled else { continue };
        let line: Vec<&str> = row[..=last].iter().map(|c| c.trim()).collect();
        out.push(&line.join(" | "));
        out.push("\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::{Format, Limits};
    use super::*;

    fn run(limits: Limits, read: impl Fn(&mut Budget<'_>) -> Result<(), ExtractError>) -> String {
        let mut out = Budget::new(Format::Csv, &limits, Instant::now() + limits.time);
        read(&mut out).unwrap();
        let done = out.finish(None);
        format!("{}{}", done.text, done.notes.join(";"))
    }

    #[test]
    fn csv_rows_become_lines_within_the_row_limit() {
        let csv = b"name,amount\n\"Smith, Ann\",12.5\n,,\nBob,3,\nCarl,4\n";
        let limits = Limits {
            max_rows: 4,
            ..Limits::default()
        };
        let text = run(limits, |out| read_csv(csv, out));
        assert_eq!(
            text,
            "name | amount\nSmith, Ann | 12.5\nBob | 3\nonly the first 4 rows of a sheet were read"
        );
    }

    #[test]
    fn garbage_is_not_a_workbook() {
        let limits = Limits::default();
        let mut out = Budget::new(Format::Spreadsheet, &limits, Instant::now() + limits.time);
        assert!(matches!(
            read_workbook(b"not a workbook", &mut out),
            Err(ExtractError::Unreadable { .. })
        ));
    }
}
