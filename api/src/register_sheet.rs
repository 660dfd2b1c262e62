//! Reading a register sheet's cells as text: the first worksheet of an XLSX workbook, or a CSV
//! file in UTF-8 (RFC 4180 quoting; a byte-order mark, as Excel writes, is skipped). What the
//! cells mean is `hazardloop_sync::risk::register`'s business.

use calamine::{Data, Reader};

/// The media type of an XLSX workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// At most this many rows are read (a register larger than that is split).
pub const MAX_ROWS: usize = 20_000;

/// The two accepted formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    Csv,
    Xlsx,
}

impl SheetFormat {
    /// The format a `Content-Type` names (parameters such as `charset` ignored).
    pub fn from_content_type(value: &str) -> Option<SheetFormat> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(SheetFormat::Csv),
            XLSX_TYPE => Some(SheetFormat::Xlsx),
            _ => None,
        }
    }
}

/// The header row and the data rows as text cells.
pub type Sheet = (Vec<String>, Vec<Vec<String>>);

/// Reads the sheet, or says why it cannot be read.
pub fn read(format: SheetFormat, bytes: &[u8]) -> Result<Sheet, String> {
    let mut rows = match format {
        SheetFormat::Csv => csv(bytes)?,
        SheetFormat::Xlsx => xlsx(bytes)?,
    };
    if rows.len() > MAX_ROWS + 1 {
        return Err(format!("the sheet has more than {MAX_ROWS} rows"));
    }
    if rows.is_empty() {
        return Err("the sheet is empty: the first row must name the columns".into());
    }
    // PostgreSQL's text cannot hold NUL: no register has one, so the sheet is refused whole.
    if let Some(r) = rows
        .iter()
        .position(|row| row.iter().any(|c| c.contains('\0')))
    {
        return Err(format!("row {} contains a NUL character", r + 1));
    }
    let header = rows.remove(0);
    Ok((header, rows))
}

fn xlsx(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec()))
            .map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or("the workbook has no worksheet")?
        .map_err(|e| format!("the first worksheet cannot be read: {e}"))?;
    // The used range starts at the header: the sheet's first row in a register as laid out.
    Ok(range
        .rows()
        .take(MAX_ROWS + 2)
        .map(|row| row.iter().map(cell_text).collect())
        .collect())
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

/// RFC 4180 CSV: fields separated by commas, rows by CRLF or LF, quoted fields may hold
/// commas, line breaks and doubled quotes.
fn csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the CSV file is not UTF-8 (byte {}): save it as CSV UTF-8",
            e.valid_up_to()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                other => field.push(other),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                if rows.len() > MAX_ROWS + 1 {
                    return Ok(rows);
                }
            }
            other => field.push(other),
        }
    }
    if quoted {
        return Err(format!("a quoted field is not closed (line {line})"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_line_breaks() {
        let text = "\u{feff}a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"two\nlines\",\n";
        let rows = csv(text.as_bytes()).unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a", "b", "c"],
                vec!["1", "x, y", "say \"hi\""],
                vec!["2", "two\nlines", ""],
            ]
        );
    }

    #[test]
    fn csv_without_final_newline_and_unclosed_quote() {
        assert_eq!(
            csv(b"a,b\n1,2").unwrap(),
            vec![vec!["a", "b"], vec!["1", "2"]]
        );
        assert!(csv(b"a,b\n\"1,2\n").unwrap_err().contains("not closed"));
        assert!(csv(&[0xff, 0xfe, b'a']).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn a_nul_refuses_the_sheet() {
        assert!(read(SheetFormat::Csv, b"a,b\n1,x\0y\n")
            .unwrap_err()
            .contains("row 2"));
    }

    #[test]
    fn formats_from_content_types() {
        assert_eq!(
            SheetFormat::from_content_type("text/csv; charset=utf-8"),
            Some(SheetFormat::Csv)
        );
        assert_eq!(
            SheetFormat::from_content_type(XLSX_TYPE),
            Some(SheetFormat::Xlsx)
        );
        assert_eq!(SheetFormat::from_content_type("application/json"), None);
    }

    #[test]
    fn whole_numbers_read_without_decimals() {
        assert_eq!(cell_text(&Data::Float(5.0)), "5");
        assert_eq!(cell_text(&Data::Float(0.5)), "0.5");
        assert_eq!(cell_text(&Data::String("是".into())), "是");
        assert_eq!(cell_text(&Data::Empty), "");
    }
}

#[cfg(test)]
mod sample {
    //! The sample register in `demo/`: the XLSX is made from the CSV (run the ignored test
    //! `write_sample_xlsx` after changing the CSV), and this checks that they still agree.

    use super::*;

    fn demo(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../demo")
            .join(name)
    }

    #[test]
    #[ignore = "writes demo/risk-register-sample.xlsx from the CSV"]
    fn write_sample_xlsx() {
        let csv_bytes = std::fs::read(demo("risk-register-sample.csv")).unwrap();
        let rows = csv(&csv_bytes).unwrap();
        let mut wb = rust_xlsxwriter::Workbook::new();
        let sheet = wb.add_worksheet();
        sheet.set_name("风险分级管控清单").unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match cell.parse::<f64>() {
                    Ok(n) if r > 0 => sheet.write_number(r, c, n).map(|_| ()),
                    _ => sheet.write_string(r, c, cell).map(|_| ()),
                }
                .unwrap();
            }
        }
        wb.save(demo("risk-register-sample.xlsx")).unwrap();
    }

    #[test]
    fn the_sample_workbook_holds_the_sample_csv() {
        let from_csv = read(
            SheetFormat::Csv,
            &std::fs::read(demo("risk-register-sample.csv")).unwrap(),
        )
        .unwrap();
        let from_xlsx = read(
            SheetFormat::Xlsx,
            &std::fs::read(demo("risk-register-sample.xlsx")).unwrap(),
        )
        .unwrap();
        assert_eq!(from_csv.0.len(), 20);
        assert_eq!(from_csv.1.len(), 200);
        assert_eq!(from_csv, from_xlsx);
    }
}
