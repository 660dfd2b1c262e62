//! The ledgers as XLSX workbooks: their columns, and one paging writer both ledgers share.

use hazardloop_storage::hazards::{self, Hazard, HazardFilter};
use hazardloop_storage::inspections::{self, InspectionFilter};
use hazardloop_storage::{orgs, Db, DbConn, StorageError};
use rust_xlsxwriter::Workbook;

use super::PAGE;
use crate::error::ApiError;
use crate::export::{self, Cell, Lang, SheetWriter};

type Text = (&'static str, &'static str);

const YES_NO: (Text, Text) = (("yes", "是"), ("no", "否"));

const HAZARD_COLUMNS: [(Text, f64); 19] = [
    (("ID", "编号"), 38.0),
    (("Site ID", "场所编号"), 38.0),
    (("State", "状态"), 14.0),
    (("Title", "隐患名称"), 36.0),
    (("Category", "类别"), 16.0),
    (("Grade", "等级"), 10.0),
    (("Risk", "风险"), 8.0),
    (("Reporter", "上报人"), 38.0),
    (("Owner", "整改责任人"), 38.0),
    (("Verifier", "验收人"), 38.0),
    (("Deadline", "整改期限"), 17.0),
    (("Overdue", "是否超期"), 8.0),
    (("Found (device)", "发现时间"), 17.0),
    (("Reported", "上报时间"), 17.0),
    (("Closed", "销号时间"), 17.0),
    (("Location", "位置"), 24.0),
    (("Description", "描述"), 40.0),
    (("Rectification cost", "整改资金"), 14.0),
    (("Currency", "币种"), 8.0),
];

/// The organisation's time zone for the dates of a workbook.
fn org_zone(db: &Db, org: &str) -> Result<jiff::tz::TimeZone, ApiError> {
    let zone = db.read_blocking(|c| Ok(orgs::get(c, org)?.time_zone()))?;
    hazardloop_sync::period::time_zone(&zone)
        .map_err(|m| ApiError::unprocessable("validation_failed", m))
}

/// The hazard ledger as a workbook, page by page into a constant-memory sheet (runs on a
/// blocking thread).
pub(super) fn hazard_workbook(
    db: &Db,
    org: &str,
    filter: &HazardFilter,
    now: i64,
    lang: Lang,
) -> Result<std::fs::File, ApiError> {
    ledger_workbook(
        db,
        org,
        lang,
        (("Hazards", "隐患台账"), &HAZARD_COLUMNS),
        |c, after| hazards::list(c, org, filter, now, after, PAGE),
        |h: &Hazard| h.id.clone(),
        |h| {
            let cost = h
                .rectification_cost
                .as_deref()
                .and_then(|c| serde_json::from_str::<hazardloop_sync::Money>(c).ok());
            let yes_no = if h.is_overdue(now) {
                YES_NO.0
            } else {
                YES_NO.1
            };
            vec![
                h.id.as_str().into(),
                h.site_id.as_str().into(),
                h.state.as_str().into(),
                h.title.as_str().into(),
                h.category.as_str().into(),
                h.grade.as_str().into(),
                h.risk.as_str().into(),
                h.reporter_id.as_str().into(),
                h.owner_id.clone().into(),
                h.verifier_id.clone().into(),
                Cell::Time(h.deadline),
                lang.of(yes_no).into(),
                Cell::Time(Some(h.reported_at_device)),
                Cell::Time(Some(h.reported_at)),
                Cell::Time(h.closed_at),
                h.location.as_str().into(),
                h.description.as_str().into(),
                cost.as_ref()
                    .map_or(Cell::Empty, |c| Cell::Number(c.amount())),
                cost.map_or(Cell::Empty, |c| Cell::Text(c.currency)),
            ]
        },
    )
}

const INSPECTION_COLUMNS: [(Text, f64); 10] = [
    (("ID", "编号"), 38.0),
    (("Site ID", "场所编号"), 38.0),
    (("Checklist", "检查表"), 30.0),
    (("Version", "版本"), 8.0),
    (("Inspector", "检查人"), 38.0),
    (("Status", "状态"), 10.0),
    (("Started (device)", "开始时间"), 17.0),
    (("Finished (device)", "完成时间"), 17.0),
    (("Submitted", "提交时间"), 17.0),
    (("Created", "创建时间"), 17.0),
];

pub(super) fn inspection_workbook(
    db: &Db,
    org: &str,
    filter: &InspectionFilter,
    lang: Lang,
) -> Result<std::fs::File, ApiError> {
    let templates: std::collections::BTreeMap<String, (String, i32)> = db.read_blocking(|c| {
        Ok(hazardloop_storage::templates::list(c, org, None)?
            .into_iter()
            .map(|t| (t.id, (t.title, t.version)))
            .collect())
    })?;
    ledger_workbook(
        db,
        org,
        lang,
        (("Inspections", "检查台账"), &INSPECTION_COLUMNS),
        |c, after| inspections::list(c, org, filter, after, PAGE),
        |i: &inspections::Inspection| i.id.clone(),
        |i| {
            let (title, version) = templates
                .get(&i.template_id)
                .map_or((Cell::Empty, Cell::Empty), |(t, v)| {
                    (Cell::Text(t.clone()), Cell::Number(f64::from(*v)))
                });
            vec![
                i.id.as_str().into(),
                i.site_id.as_str().into(),
                title,
                version,
                i.inspector_id.as_str().into(),
                i.status.as_str().into(),
                Cell::Time(i.started_at_device),
                Cell::Time(i.finished_at_device),
                Cell::Time(i.submitted_at),
                Cell::Time(Some(i.created_at)),
            ]
        },
    )
}

/// A ledger as a workbook: one sheet (`sheet`: its name and columns) filled page by page
/// (`PAGE` rows after the last row's id) into a constant-memory sheet, each row's cells made
/// by `cells`. Runs on a blocking thread.
fn ledger_workbook<T>(
    db: &Db,
    org: &str,
    lang: Lang,
    sheet: (Text, &[(Text, f64)]),
    mut page: impl FnMut(&mut DbConn, Option<&str>) -> Result<Vec<T>, StorageError>,
    id_of: impl Fn(&T) -> String,
    mut cells: impl FnMut(&T) -> Vec<Cell>,
) -> Result<std::fs::File, ApiError> {
    let (name, columns) = sheet;
    let tz = org_zone(db, org)?;
    let headers: Vec<&str> = columns.iter().map(|(t, _)| lang.of(*t)).collect();
    let widths: Vec<f64> = columns.iter().map(|(_, w)| *w).collect();
    let mut wb = Workbook::new();
    let mut sheet = SheetWriter::new(&mut wb, lang.of(name), &headers, &widths, &tz)
        .map_err(export::xlsx_error)?;
    let mut after: Option<String> = None;
    loop {
        let a = after.clone();
        let rows = db.read_blocking(|c| page(c, a.as_deref()))?;
        for row in &rows {
            sheet.row(cells(row)).map_err(export::xlsx_error)?;
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
        after = rows.last().map(&id_of);
    }
    sheet.finish().map_err(export::xlsx_error)?;
    export::save(wb)
}
