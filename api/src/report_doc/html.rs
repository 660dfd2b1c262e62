//! The period report as a printable, self-contained HTML page.

use hazardloop_storage::reports::PeriodReport;
use jiff::tz::TimeZone;

use super::{
    major_rows, site_rows, summary, DATE, HEADING, ITEM, MAJOR_HEADERS, MAJOR_SHEET, SIGNATURE,
    SITES_SHEET, SITE_HEADERS, SUMMARY_SHEET, VALUE,
};
use crate::export::{Cell, Lang};

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cell_html(c: &Cell, tz: &TimeZone) -> String {
    match c {
        Cell::Text(t) => escape(t),
        Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Cell::Number(n) => format!("{n}"),
        Cell::Time(Some(ms)) => {
            let local = hazardloop_sync::period::local_ms(*ms, tz);
            escape(&hazardloop_sync::timestamp::format_rfc3339_ms(local)[..16].replace('T', " "))
        }
        Cell::Time(None) | Cell::Empty => String::new(),
    }
}

fn table(out: &mut String, headers: &[&str], rows: &[Vec<Cell>], tz: &TimeZone) {
    out.push_str("<table><thead><tr>");
    for h in headers {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let class = if matches!(c, Cell::Number(_)) {
                " class=\"n\""
            } else {
                ""
            };
            out.push_str(&format!("<td{class}>{}</td>", cell_html(c, tz)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

const CSS: &str = "@page{size:A4;margin:18mm 15mm}\
body{font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC',sans-serif;font-size:10.5pt;color:#000;margin:0 auto;max-width:190mm}\
h1{font-size:16pt;text-align:center;margin:0 0 4mm}h2{font-size:12pt;margin:6mm 0 2mm}\
table{border-collapse:collapse;width:100%;page-break-inside:auto}tr{page-break-inside:avoid}\
th,td{border:1px solid #444;padding:1.5mm 2mm;text-align:left;vertical-align:top}th{background:#eee}\
td.n{text-align:right}.sign{margin-top:12mm;display:flex;justify-content:space-between}\
@media print{th{background:#eee !important;-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// The report as one self-contained HTML page for A4 printing.
pub fn html(r: &PeriodReport, lang: Lang, tz: &TimeZone) -> String {
    let title = format!(
        "{} {} {}",
        r.scope.org_name,
        r.period.label,
        lang.of(HEADING)
    );
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body><h1>{}</h1>",
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        escape(&title),
        escape(&title)
    );
    let rows: Vec<Vec<Cell>> = summary(r, lang)
        .into_iter()
        .map(|(k, v)| vec![Cell::Text(k), v])
        .collect();
    out.push_str(&format!("<h2>{}</h2>", escape(lang.of(SUMMARY_SHEET))));
    table(&mut out, &[lang.of(ITEM), lang.of(VALUE)], &rows, tz);
    out.push_str(&format!("<h2>{}</h2>", escape(lang.of(SITES_SHEET))));
    let headers: Vec<&str> = SITE_HEADERS.iter().map(|t| lang.of(*t)).collect();
    table(&mut out, &headers, &site_rows(r), tz);
    out.push_str(&format!("<h2>{}</h2>", escape(lang.of(MAJOR_SHEET))));
    let headers: Vec<&str> = MAJOR_HEADERS.iter().map(|t| lang.of(*t)).collect();
    table(&mut out, &headers, &major_rows(r, lang), tz);
    out.push_str(&format!(
        "<div class=\"sign\"><span>{}: ____________________</span><span>{}: ______________</span></div></body></html>",
        escape(lang.of(SIGNATURE)),
        escape(lang.of(DATE))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
