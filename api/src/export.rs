//! Downloads in the forms offices use: XLSX workbooks (written in rust_xlsxwriter's
//! constant-memory mode, row by row, into a temporary file that is then streamed, so memory
//! stays flat whatever the row count), the language of column headers, and the byte-order mark
//! Excel needs to read UTF-8 CSV.
//!
//! Every sheet has its header row frozen and a filter on it; times are real Excel dates (serial
//! numbers with a date format), shown in the organisation's time zone.

use std::io::{Read, Seek};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_sync::period::local_ms;
use jiff::tz::TimeZone;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::error::ApiError;

/// The language of headers and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `lang=zh|en` when given, else Chinese when the `Accept-Language` the client prefers
    /// most is Chinese, else English.
    pub fn pick(req: &HttpRequest, lang: Option<&str>) -> Result<Lang, ApiError> {
        match lang.map(str::trim) {
            Some("zh") => Ok(Lang::Zh),
            Some("en") => Ok(Lang::En),
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
                "lang must be zh or en",
            )),
            None if prefers_zh(req) => Ok(Lang::Zh),
            None => Ok(Lang::En),
        }
    }

    /// The text of `(english, chinese)` in this language.
    pub fn of(self, text: (&'static str, &'static str)) -> &'static str {
        match self {
            Lang::En => text.0,
            Lang::Zh => text.1,
        }
    }
}

/// True when the language the client's `Accept-Language` ranks highest is Chinese (`zh`,
/// `zh-CN`, `zh-Hans`...). Ties keep the first listed.
pub fn prefers_zh(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut best: Option<(f32, &str)> = None;
    for part in value.split(',') {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or_default().trim();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if tag.is_empty() || q <= 0.0 {
            continue;
        }
        if !matches!(best, Some((b, _)) if q <= b) {
            best = Some((q, tag));
        }
    }
    best.is_some_and(|(_, tag)| tag.to_ascii_lowercase().starts_with("zh"))
}

/// One cell of a row.
#[derive(Debug, Clone)]
pub enum Cell {
    /// Text (cut at Excel's 32,767 characters).
    Text(String),
    /// A number.
    Number(f64),
    /// A time (unix ms) shown as a local date and time; `None`: an empty cell.
    Time(Option<i64>),
    /// Nothing.
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Cell {
        s.map_or(Cell::Empty, Cell::Text)
    }
}

/// Excel's own limit on a cell's text.
const MAX_CELL_CHARS: usize = 32_767;

/// Days from Excel's epoch (1899-12-30) to the unix epoch.
const EXCEL_UNIX_EPOCH: f64 = 25_569.0;

/// Writes one sheet row by row: header first (frozen, filtered), then rows in order.
pub struct SheetWriter<'a> {
    ws: &'a mut Worksheet,
    row: u32,
    cols: u16,
    date: Format,
    bold: Format,
    tz: &'a TimeZone,
}

impl<'a> SheetWriter<'a> {
    /// A new constant-memory sheet called `name` with `headers` and column `widths`.
    pub fn new(
        wb: &'a mut Workbook,
        name: &str,
        headers: &[&str],
        widths: &[f64],
        tz: &'a TimeZone,
    ) -> Result<SheetWriter<'a>, XlsxError> {
        let ws = wb.add_worksheet_with_constant_memory();
        ws.set_name(name)?;
        for (i, w) in widths.iter().enumerate() {
            ws.set_column_width(i as u16, *w)?;
        }
        ws.set_freeze_panes(1, 0)?;
        let mut s = SheetWriter {
            ws,
            row: 0,
            cols: headers.len() as u16,
            date: Format::new().set_num_format("yyyy-mm-dd hh:mm"),
            bold: Format::new().set_bold(),
            tz,
        };
        for (i, h) in headers.iter().enumerate() {
            s.ws.write_string_with_format(0, i as u16, *h, &s.bold)?;
        }
        s.row = 1;
        Ok(s)
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<Cell>) -> Result<(), XlsxError> {
        for (i, cell) in cells.into_iter().enumerate() {
            let col = i as u16;
            match cell {
                Cell::Text(t) if t.chars().count() > MAX_CELL_CHARS => {
                    let cut: String = t.chars().take(MAX_CELL_CHARS).collect();
                    self.ws.write_string(self.row, col, cut)?;
                }
                Cell::Text(t) => {
                    self.ws.write_string(self.row, col, t)?;
                }
                Cell::Number(n) => {
                    self.ws.write_number(self.row, col, n)?;
                }
                Cell::Time(Some(ms)) => {
                    let serial = local_ms(ms, self.tz) as f64 / 86_400_000.0 + EXCEL_UNIX_EPOCH;
                    self.ws
                        .write_number_with_format(self.row, col, serial, &self.date)?;
                }
                Cell::Time(None) | Cell::Empty => {}
            }
        }
        self.row += 1;
        Ok(())
    }

    /// Puts the filter over the header and every row written.
    pub fn finish(self) -> Result<(), XlsxError> {
        self.ws.autofilter(
            0,
            0,
            self.row.saturating_sub(1),
            self.cols.saturating_sub(1),
        )?;
        Ok(())
    }
}

/// An XLSX error as an answer (nothing the client did: a 500 with the cause logged).
pub fn xlsx_error(e: XlsxError) -> ApiError {
    tracing::error!(error = %e, "writing a workbook failed");
    ApiError::internal("the workbook could not be written")
}

/// Saves the workbook into a temporary file (deleted when closed) and rewinds it.
pub fn save(mut wb: Workbook) -> Result<std::fs::File, ApiError> {
    let io = |e: std::io::Error| {
        tracing::error!(error = %e, "spooling a workbook failed");
        ApiError::internal("the workbook could not be written")
    };
    let mut file = tempfile::tempfile().map_err(io)?;
    wb.save_to_writer(&mut file).map_err(xlsx_error)?;
    file.rewind().map_err(io)?;
    Ok(file)
}

/// The media type of XLSX.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Streams a spooled file as a download.
pub fn download(file: std::fs::File, content_type: &str, filename: &str) -> HttpResponse {
    let body = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await;
        match read {
            Ok(Ok((buf, _))) if buf.is_empty() => None,
            Ok(Ok((buf, file))) => Some((Ok(web::Bytes::from(buf)), Some(file))),
            _ => Some((
                Err(actix_web::error::ErrorServiceUnavailable(
                    "download interrupted",
                )),
                None,
            )),
        }
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type.to_owned()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn chinese_is_preferred_by_the_highest_ranked_language() {
        let pick = |v: &str| {
            let req = TestRequest::default()
                .insert_header((header::ACCEPT_LANGUAGE, v))
                .to_http_request();
            prefers_zh(&req)
        };
        assert!(pick("zh-CN,zh;q=0.9,en;q=0.8"));
        assert!(pick("en;q=0.5, zh-Hans"));
        assert!(!pick("en-US,en;q=0.9,zh-CN;q=0.8"));
        assert!(!pick("zh;q=0"));
        assert!(!pick(""));
        let req = TestRequest::default().to_http_request();
        assert!(!prefers_zh(&req));
        assert_eq!(Lang::pick(&req, Some("zh")).ok(), Some(Lang::Zh));
        assert!(Lang::pick(&req, Some("fr")).is_err());
    }
}
