//! The period report as a document: an XLSX workbook (summary, sites, major hazards) and a
//! printable, self-contained HTML page (A4 print CSS, no external resources, every text
//! escaped). Both are drawn from the same `PeriodReport` the JSON answer carries.

use hazardloop_storage::reports::PeriodReport;
use hazardloop_sync::report::{Amount, Outcome, Rectification};
use hazardloop_sync::timestamp::parse_rfc3339_ms;
use jiff::tz::TimeZone;
use rust_xlsxwriter::{Workbook, XlsxError};

use crate::export::{Cell, Lang, SheetWriter};

mod html;

pub use html::{escape, html};

type Text = (&'static str, &'static str);

const ORGANISATION: Text = ("Organisation", "单位");
const SCOPE: Text = ("Scope", "范围");
const WHOLE_ORG: Text = ("Whole organisation", "全单位");
const PERIOD: Text = ("Period", "统计期间");
const TIME_ZONE: Text = ("Time zone", "时区");
const DEADLINE: Text = ("Submit by", "报送期限");
const FOUND: Text = ("Hazards found", "排查隐患数");
const ON_TIME: Text = ("Rectified on time", "按期整改");
const LATE: Text = ("Rectified late", "逾期整改");
const STILL_OPEN: Text = ("Not yet rectified", "未整改");
const OVERDUE: Text = ("of which overdue", "其中超期未整改");
const CANCELLED: Text = ("Cancelled", "已撤销");
const RATE: Text = ("Rectification rate", "整改率");
const ON_TIME_RATE: Text = ("On-time rate", "按期整改率");
const GRADE: Text = ("Grade", "等级");
const CATEGORY: Text = ("Category", "类别");
const SOURCE: Text = ("Source", "来源");
const COST: Text = ("Rectification cost", "整改资金");
const MAJOR_FUNDS: Text = ("Major hazard funds", "重大隐患治理资金");
const PREVIOUS: Text = ("Previous period", "上期");
const CHANGE: Text = ("Change", "增减");
const ITEM: Text = ("Item", "项目");
const VALUE: Text = ("Value", "数值");
const SITE: Text = ("Site", "场所");
const TITLE: Text = ("Hazard", "隐患");
const STATE: Text = ("State", "状态");
const OUTCOME: Text = ("At period end", "期末整改情况");
const FOUND_AT: Text = ("Found", "发现时间");
const RECT_DEADLINE: Text = ("Deadline", "整改期限");
const CLOSED_AT: Text = ("Closed", "销号时间");
const RESPONSIBLE: Text = ("Responsible person", "责任人");
const MEASURES: Text = ("Measures", "治理措施");
const FUNDS: Text = ("Funds", "治理资金");
const FUNDS_AMOUNT: Text = ("Funds amount", "资金金额");
const CURRENCY: Text = ("Currency", "币种");
const CONTINGENCY: Text = ("Contingency plan", "应急预案");
const CARRIED: Text = ("Carried over", "上期结转");
const YES: Text = ("yes", "是");
const NO: Text = ("no", "否");
const SUMMARY_SHEET: Text = ("Summary", "汇总");
const SITES_SHEET: Text = ("Sites", "各场所");
const MAJOR_SHEET: Text = ("Major hazards", "重大隐患");
const HEADING: Text = (
    "Hazard investigation and rectification report",
    "隐患排查治理情况统计分析报告",
);
const SIGNATURE: Text = ("Principal (signature)", "主要负责人（签字）");
const DATE: Text = ("Date", "日期");

/// A grade, source, state or outcome name in the language (unknown names as they are).
fn term(lang: Lang, name: &str) -> String {
    let t: Option<Text> = match name {
        "general" => Some(("general", "一般隐患")),
        "major" => Some(("major", "重大隐患")),
        "check_task" => Some(("check task", "排查任务")),
        "inspection" => Some(("inspection", "检查表")),
        "ad_hoc" => Some(("reported ad hoc", "随手报")),
        "reported" => Some(("reported", "已上报")),
        "assigned" => Some(("assigned", "已下达")),
        "rectifying" => Some(("rectifying", "整改中")),
        "awaiting_verification" => Some(("awaiting verification", "待验收")),
        "closed" => Some(("closed", "已销号")),
        "cancelled" => Some(("cancelled", "已撤销")),
        "on_time" => Some(("rectified on time", "按期整改")),
        "late" => Some(("rectified late", "逾期整改")),
        "open" => Some(("open", "整改中")),
        "overdue" => Some(("overdue", "超期未整改")),
        _ => None,
    };
    t.map_or_else(|| name.to_owned(), |t| lang.of(t).to_owned())
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::OnTime => "on_time",
        Outcome::Late => "late",
        Outcome::Open => "open",
        Outcome::Overdue => "overdue",
        Outcome::Cancelled => "cancelled",
    }
}

fn rate_cell(r: Option<f64>) -> Cell {
    r.map_or(Cell::Empty, Cell::Number)
}

fn time(t: Option<&str>) -> Option<i64> {
    t.and_then(|t| parse_rfc3339_ms(t).ok())
}

/// The summary's `(label, value)` rows, shared by the workbook and the page.
fn summary(r: &PeriodReport, lang: Lang) -> Vec<(String, Cell)> {
    let f = &r.figures;
    let l = |t: Text| lang.of(t).to_owned();
    let mut rows: Vec<(String, Cell)> = vec![
        (l(ORGANISATION), r.scope.org_name.clone().into()),
        (
            l(SCOPE),
            r.scope
                .site_name
                .clone()
                .unwrap_or_else(|| l(WHOLE_ORG))
                .into(),
        ),
        (
            l(PERIOD),
            format!(
                "{} ({} – {})",
                r.period.label, r.period.first_day, r.period.last_day
            )
            .into(),
        ),
        (l(TIME_ZONE), r.time_zone.clone().into()),
        (l(DEADLINE), r.period.statutory_deadline.clone().into()),
        (l(FOUND), Cell::Number(f.found as f64)),
    ];
    rectification_rows(&mut rows, &f.rectification, lang);
    for (grade, n) in &f.by_grade {
        rows.push((
            format!("{}: {}", l(GRADE), term(lang, grade)),
            Cell::Number(*n as f64),
        ));
    }
    for (cat, n) in &f.by_category {
        rows.push((format!("{}: {}", l(CATEGORY), cat), Cell::Number(*n as f64)));
    }
    for (src, n) in &f.by_source {
        rows.push((
            format!("{}: {}", l(SOURCE), term(lang, src)),
            Cell::Number(*n as f64),
        ));
    }
    let amounts = |rows: &mut Vec<(String, Cell)>, label: Text, list: &[Amount]| {
        for a in list {
            rows.push((
                format!("{} ({})", l(label), a.currency),
                Cell::Number(a.amount),
            ));
        }
    };
    amounts(&mut rows, COST, &f.funds.rectification);
    amounts(&mut rows, MAJOR_FUNDS, &f.funds.major_hazard_funds);
    let p = &r.previous;
    rows.push((
        format!("{} ({}): {}", l(PREVIOUS), p.period.label, l(FOUND)),
        Cell::Number(p.headline.found as f64),
    ));
    rows.push((
        format!("{} ({}): {}", l(PREVIOUS), p.period.label, l(RATE)),
        rate_cell(p.headline.rectification_rate),
    ));
    rows.push((
        format!("{}: {}", l(CHANGE), l(FOUND)),
        Cell::Number(r.change["found"].as_f64().unwrap_or(0.0)),
    ));
    rows.push((
        format!("{}: {}", l(CHANGE), l(RATE)),
        rate_cell(r.change["rectification_rate"].as_f64()),
    ));
    rows
}

fn rectification_rows(rows: &mut Vec<(String, Cell)>, r: &Rectification, lang: Lang) {
    for (t, n) in [
        (ON_TIME, r.on_time),
        (LATE, r.late),
        (STILL_OPEN, r.still_open),
        (OVERDUE, r.overdue),
        (CANCELLED, r.cancelled),
    ] {
        rows.push((lang.of(t).to_owned(), Cell::Number(n as f64)));
    }
    rows.push((lang.of(RATE).to_owned(), rate_cell(r.rectification_rate)));
    rows.push((lang.of(ON_TIME_RATE).to_owned(), rate_cell(r.on_time_rate)));
}

const SITE_HEADERS: [Text; 7] = [SITE, FOUND, ON_TIME, LATE, STILL_OPEN, OVERDUE, RATE];

const MAJOR_HEADERS: [Text; 14] = [
    TITLE,
    SITE,
    STATE,
    OUTCOME,
    FOUND_AT,
    RECT_DEADLINE,
    CLOSED_AT,
    RESPONSIBLE,
    MEASURES,
    FUNDS,
    FUNDS_AMOUNT,
    CURRENCY,
    CONTINGENCY,
    CARRIED,
];

fn major_rows(r: &PeriodReport, lang: Lang) -> Vec<Vec<Cell>> {
    r.figures
        .major_hazards
        .iter()
        .map(|m| {
            let five = |k: &str| -> Cell {
                m.five
                    .as_ref()
                    .and_then(|f| f.get(k))
                    .and_then(|v| v.as_str())
                    .map_or(Cell::Empty, |s| s.into())
            };
            let amount = m.five.as_ref().and_then(|f| f.get("funds_amount"));
            vec![
                m.title.as_str().into(),
                m.site_name.as_str().into(),
                term(lang, &m.state).into(),
                term(lang, outcome_name(m.outcome)).into(),
                Cell::Time(time(Some(&m.found_at))),
                Cell::Time(time(m.deadline.as_deref())),
                Cell::Time(time(m.closed_at.as_deref())),
                five("responsible_person"),
                five("measures"),
                five("funds"),
                amount
                    .and_then(|a| a.get("amount"))
                    .and_then(|a| a.as_f64())
                    .map_or(Cell::Empty, Cell::Number),
                amount
                    .and_then(|a| a.get("currency"))
                    .and_then(|c| c.as_str())
                    .map_or(Cell::Empty, |c| c.into()),
                five("contingency_plan"),
                lang.of(if m.carried_over { YES } else { NO }).into(),
            ]
        })
        .collect()
}

fn site_rows(r: &PeriodReport) -> Vec<Vec<Cell>> {
    r.figures
        .by_site
        .iter()
        .map(|s| {
            let x = &s.rectification;
            vec![
                s.site_name.as_str().into(),
                Cell::Number(s.found as f64),
                Cell::Number(x.on_time as f64),
                Cell::Number(x.late as f64),
                Cell::Number(x.still_open as f64),
                Cell::Number(x.overdue as f64),
                rate_cell(x.rectification_rate),
            ]
        })
        .collect()
}

/// The report as a workbook: summary, sites, major hazards.
pub fn workbook(r: &PeriodReport, lang: Lang, tz: &TimeZone) -> Result<Workbook, XlsxError> {
    let mut wb = Workbook::new();
    {
        let mut s = SheetWriter::new(
            &mut wb,
            lang.of(SUMMARY_SHEET),
            &[lang.of(ITEM), lang.of(VALUE)],
            &[40.0, 30.0],
            tz,
        )?;
        for (label, value) in summary(r, lang) {
            s.row(vec![label.into(), value])?;
        }
        s.finish()?;
    }
    {
        let headers: Vec<&str> = SITE_HEADERS.iter().map(|t| lang.of(*t)).collect();
        let mut s = SheetWriter::new(
            &mut wb,
            lang.of(SITES_SHEET),
            &headers,
            &[30.0, 12.0, 12.0, 12.0, 12.0, 12.0, 12.0],
            tz,
        )?;
        for row in site_rows(r) {
            s.row(row)?;
        }
        s.finish()?;
    }
    {
        let headers: Vec<&str> = MAJOR_HEADERS.iter().map(|t| lang.of(*t)).collect();
        let mut widths = [16.0; 14];
        widths[0] = 30.0;
        let mut s = SheetWriter::new(&mut wb, lang.of(MAJOR_SHEET), &headers, &widths, tz)?;
        for row in major_rows(r, lang) {
            s.row(row)?;
        }
        s.finish()?;
    }
    Ok(wb)
}
