//! The register's spreadsheet layout: one row per control measure's check duty, the way safety
//! departments keep their 风险分级管控清单 in Excel, read into typed rows with every bad cell named
//! by row and column. Reading the file (XLSX or CSV) is the caller's; this module gets the header
//! row and the data rows as text cells.
//!
//! Rows that share a unit (site + unit name) describe one unit; rows that share a unit and an
//! event describe one event; each row adds one measure with one check duty. Headers may be given
//! in Chinese or in English (see [`COLUMNS`]); column order is free; unknown columns are refused,
//! so a misspelt header does not silently drop a column.

use std::collections::HashMap;

use super::cycle::{Cycle, CycleUnit, DayRule, WorkWindow};
use super::matrix::Assessment;

/// A column of the register sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// The site's code or name.
    Site,
    /// 风险分析单元.
    Unit,
    /// 单元类型: place, installation or job.
    UnitKind,
    /// 责任部门.
    Department,
    /// 责任人 (an account's e-mail).
    Responsible,
    /// 重大危险源 (是/否).
    MajorHazard,
    /// 包保主要负责人.
    Principal,
    /// 包保技术负责人.
    TechnicalLead,
    /// 包保操作负责人.
    OperationsLead,
    /// 风险事件.
    Event,
    /// L.
    Likelihood,
    /// S (LS).
    Severity,
    /// E (LEC).
    Exposure,
    /// C (LEC).
    Consequence,
    /// 管控措施.
    Measure,
    /// 措施分类 (first level).
    Category,
    /// 二级分类.
    Subcategory,
    /// 排查内容.
    CheckContent,
    /// 排查周期, e.g. `1天`, `4小时`, `1 week`.
    Cycle,
    /// 工作时间, `08:00-17:30`.
    WorkingTime,
    /// 仅工作日 (是/否).
    WorkdaysOnly,
    /// 排查岗位/人员: a post name or an account's e-mail.
    Checker,
}

/// Every column: its Chinese header, its English header, and whether a row must fill it.
pub const COLUMNS: &[(Column, &str, &str, bool)] = &[
    (Column::Site, "站点", "site", true),
    (Column::Unit, "风险分析单元", "unit", true),
    (Column::UnitKind, "单元类型", "unit_kind", true),
    (Column::Department, "责任部门", "department", true),
    (Column::Responsible, "责任人", "responsible", true),
    (Column::MajorHazard, "重大危险源", "major_hazard", false),
    (Column::Principal, "包保主要负责人", "principal", false),
    (
        Column::TechnicalLead,
        "包保技术负责人",
        "technical_lead",
        false,
    ),
    (
        Column::OperationsLead,
        "包保操作负责人",
        "operations_lead",
        false,
    ),
    (Column::Event, "风险事件", "event", true),
    (Column::Likelihood, "可能性L", "likelihood", true),
    (Column::Severity, "严重性S", "severity", false),
    (Column::Exposure, "暴露频率E", "exposure", false),
    (Column::Consequence, "后果C", "consequence", false),
    (Column::Measure, "管控措施", "measure", true),
    (Column::Category, "措施分类", "category", true),
    (Column::Subcategory, "二级分类", "subcategory", false),
    (Column::CheckContent, "排查内容", "check_content", true),
    (Column::Cycle, "排查周期", "cycle", true),
    (Column::WorkingTime, "工作时间", "working_time", true),
    (Column::WorkdaysOnly, "仅工作日", "workdays_only", false),
    (Column::Checker, "排查岗位/人员", "checker", true),
];

impl Column {
    /// The Chinese header, the name rows' errors use.
    pub fn header(self) -> &'static str {
        COLUMNS
            .iter()
            .find(|(c, ..)| *c == self)
            .map(|(_, zh, ..)| *zh)
            .unwrap_or("")
    }
}

text_enum! {
    /// What a risk analysis unit is.
    pub enum UnitKind as "unit kind" {
        /// A place (场所/区域).
        Place => "place",
        /// An installation or equipment (设备设施).
        Installation => "installation",
        /// A job or activity (作业活动).
        Job => "job",
    }
}

text_enum! {
    /// The first level of a control measure's classification.
    pub enum MeasureCategory as "measure category" {
        /// 工程技术.
        Engineering => "engineering",
        /// 维护保养.
        Maintenance => "maintenance",
        /// 操作行为.
        Operations => "operations",
        /// 应急措施.
        Emergency => "emergency",
    }
}

/// One data row, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRow {
    /// The row's number in the sheet (the header is row 1).
    pub row: usize,
    /// Site code or name.
    pub site: String,
    /// Unit name.
    pub unit: String,
    /// Unit kind.
    pub unit_kind: UnitKind,
    /// Responsible department.
    pub department: String,
    /// Responsible person's e-mail.
    pub responsible: String,
    /// Whether the unit is a major hazard installation.
    pub major_hazard: bool,
    /// 包保 principal, technical lead, operations lead (e-mails; required for a major hazard).
    pub leads: Option<[String; 3]>,
    /// Risk event.
    pub event: String,
    /// The event's assessment inputs.
    pub assessment: Assessment,
    /// Control measure.
    pub measure: String,
    /// Its classification.
    pub category: MeasureCategory,
    /// Its second-level classification, free text.
    pub subcategory: String,
    /// What to check.
    pub check_content: String,
    /// How often.
    pub cycle: Cycle,
    /// When in the day.
    pub window: WorkWindow,
    /// Which days.
    pub days: DayRule,
    /// The post or person who checks.
    pub checker: String,
}

/// One bad cell or row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Row number in the sheet (1 is the header).
    pub row: usize,
    /// The column's Chinese header, or `None` for a problem with the whole row.
    pub column: Option<&'static str>,
    /// Why, in words.
    pub reason: String,
}

/// Maps the header row to columns. Every required column must be present, none twice, none
/// unknown. Errors are on row 1.
pub fn read_header(cells: &[String]) -> Result<Vec<Column>, Vec<RowError>> {
    let mut out = Vec::with_capacity(cells.len());
    let mut errors = Vec::new();
    for cell in cells {
        let name = cell.trim().trim_start_matches('\u{feff}');
        match COLUMNS
            .iter()
            .find(|(_, zh, en, _)| *zh == name || en.eq_ignore_ascii_case(name))
        {
            Some((c, ..)) if out.contains(c) => errors.push(RowError {
                row: 1,
                column: Some(c.header()),
                reason: "appears twice".into(),
            }),
            Some((c, ..)) => out.push(*c),
            None => errors.push(RowError {
                row: 1,
                column: None,
                reason: format!("unknown column {name:?}"),
            }),
        }
    }
    for (c, zh, _, required) in COLUMNS {
        if *required && !out.contains(c) {
            errors.push(RowError {
                row: 1,
                column: Some(zh),
                reason: "column missing".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parses the data rows (the first data row is row 2). Blank rows are skipped. Either every row
/// parses, or every bad cell of every row is returned.
pub fn read_rows(
    header: &[Column],
    rows: &[Vec<String>],
    lec: bool,
) -> Result<Vec<RegisterRow>, Vec<RowError>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (i, cells) in rows.iter().enumerate() {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        match read_row(i + 2, header, cells, lec) {
            Ok(row) => out.push(row),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

struct Cells<'a> {
    row: usize,
    map: HashMap<Column, &'a str>,
    errors: Vec<RowError>,
}

impl<'a> Cells<'a> {
    fn text(&mut self, c: Column) -> String {
        let v = self.map.get(&c).map(|s| s.trim()).unwrap_or("");
        let required = COLUMNS.iter().any(|(col, .., r)| *col == c && *r);
        if required && v.is_empty() {
            self.fail(c, "is empty".into());
        } else if v.chars().count() > 500 {
            self.fail(c, "is longer than 500 characters".into());
        }
        v.to_owned()
    }

    fn fail(&mut self, c: Column, reason: String) {
        self.errors.push(RowError {
            row: self.row,
            column: Some(c.header()),
            reason,
        });
    }

    fn number(&mut self, c: Column, required: bool) -> Option<f64> {
        let v = self.text(c);
        if v.is_empty() {
            // `text` has already named an empty column that every row must fill.
            if required && !COLUMNS.iter().any(|(col, .., r)| *col == c && *r) {
                self.fail(c, "is empty".into());
            }
            return None;
        }
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                self.fail(c, format!("{v:?} is not a number"));
                None
            }
        }
    }

    fn yes_no(&mut self, c: Column) -> bool {
        let v = self.text(c);
        match v.to_lowercase().as_str() {
            "" | "否" | "no" | "n" | "false" => false,
            "是" | "yes" | "y" | "true" => true,
            _ => {
                self.fail(c, format!("{v:?} is neither 是 nor 否"));
                false
            }
        }
    }
}

fn read_row(
    row: usize,
    header: &[Column],
    cells: &[String],
    lec: bool,
) -> Result<RegisterRow, Vec<RowError>> {
    let mut c = Cells {
        row,
        map: header
            .iter()
            .copied()
            .zip(cells.iter().map(String::as_str))
            .collect(),
        errors: Vec::new(),
    };
    if cells.len() > header.len() {
        c.errors.push(RowError {
            row,
            column: None,
            reason: format!(
                "has {} cells, the header {} columns",
                cells.len(),
                header.len()
            ),
        });
    }
    let site = c.text(Column::Site);
    let unit = c.text(Column::Unit);
    let kind_text = c.text(Column::UnitKind);
    let unit_kind = parse_unit_kind(&kind_text);
    if unit_kind.is_none() && !kind_text.is_empty() {
        c.fail(
            Column::UnitKind,
            format!("{kind_text:?} is not 场所, 设备设施 or 作业活动"),
        );
    }
    let department = c.text(Column::Department);
    let responsible = c.text(Column::Responsible);
    let major_hazard = c.yes_no(Column::MajorHazard);
    let lead_cols = [
        Column::Principal,
        Column::TechnicalLead,
        Column::OperationsLead,
    ];
    let leads = lead_cols.map(|col| c.text(col));
    let leads = if major_hazard {
        for (col, v) in lead_cols.iter().zip(&leads) {
            if v.is_empty() {
                c.fail(*col, "is required for a major hazard installation".into());
            }
        }
        Some(leads)
    } else {
        None
    };
    let event = c.text(Column::Event);
    let likelihood = c.number(Column::Likelihood, true);
    let (severity, exposure, consequence) = if lec {
        (
            None,
            c.number(Column::Exposure, true),
            c.number(Column::Consequence, true),
        )
    } else {
        (c.number(Column::Severity, true), None, None)
    };
    let measure = c.text(Column::Measure);
    let category_text = c.text(Column::Category);
    let category = parse_category(&category_text);
    if category.is_none() && !category_text.is_empty() {
        c.fail(
            Column::Category,
            format!("{category_text:?} is not 工程技术, 维护保养, 操作行为 or 应急措施"),
        );
    }
    let subcategory = c.text(Column::Subcategory);
    let check_content = c.text(Column::CheckContent);
    let cycle_text = c.text(Column::Cycle);
    let cycle = parse_cycle(&cycle_text);
    if cycle.is_none() && !cycle_text.is_empty() {
        c.fail(
            Column::Cycle,
            format!("{cycle_text:?} is not a cycle such as 4小时, 1天, 1周, 1月, 1季度 or 1年"),
        );
    }
    let time_text = c.text(Column::WorkingTime);
    let window = match time_text.split_once(['-', '~', '至']) {
        Some((a, b)) => match WorkWindow::parse(a.trim(), b.trim()) {
            Ok(w) => Some(w),
            Err(e) => {
                c.fail(Column::WorkingTime, e.to_string());
                None
            }
        },
        None => {
            if !time_text.is_empty() {
                c.fail(
                    Column::WorkingTime,
                    format!("{time_text:?} is not a range such as 08:00-17:30"),
                );
            }
            None
        }
    };
    let workdays = c.yes_no(Column::WorkdaysOnly);
    let checker = c.text(Column::Checker);
    match (likelihood, unit_kind, category, cycle, window) {
        (Some(likelihood), Some(unit_kind), Some(category), Some(cycle), Some(window))
            if c.errors.is_empty() =>
        {
            Ok(RegisterRow {
                row,
                site,
                unit,
                unit_kind,
                department,
                responsible,
                major_hazard,
                leads,
                event,
                assessment: Assessment {
                    likelihood,
                    severity,
                    exposure,
                    consequence,
                },
                measure,
                category,
                subcategory,
                check_content,
                cycle,
                window,
                days: if workdays {
                    DayRule::Workdays
                } else {
                    DayRule::EveryDay
                },
                checker,
            })
        }
        _ => Err(c.errors),
    }
}

fn parse_unit_kind(text: &str) -> Option<UnitKind> {
    match text {
        "场所" | "区域" | "场所/区域" => Some(UnitKind::Place),
        "设备设施" | "设备" | "设施" => Some(UnitKind::Installation),
        "作业活动" | "作业" => Some(UnitKind::Job),
        other => other.to_ascii_lowercase().parse().ok(),
    }
}

fn parse_category(text: &str) -> Option<MeasureCategory> {
    match text {
        "工程技术" => Some(MeasureCategory::Engineering),
        "维护保养" => Some(MeasureCategory::Maintenance),
        "操作行为" => Some(MeasureCategory::Operations),
        "应急措施" | "应急处置" => Some(MeasureCategory::Emergency),
        other => other.to_ascii_lowercase().parse().ok(),
    }
}

/// `4小时`, `1天`, `2周`, `1月`/`1个月`, `1季度`, `1年`, or `1 day`, `2 weeks`... (English).
pub fn parse_cycle(text: &str) -> Option<Cycle> {
    let text = text.trim();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let every: u16 = text.get(..digits)?.parse().ok()?;
    let unit = match text.get(digits..)?.trim().to_ascii_lowercase().as_str() {
        "小时" | "h" | "hour" | "hours" => CycleUnit::Hour,
        "天" | "日" | "d" | "day" | "days" => CycleUnit::Day,
        "周" | "w" | "week" | "weeks" => CycleUnit::Week,
        "月" | "个月" | "month" | "months" => CycleUnit::Month,
        "季度" | "季" | "quarter" | "quarters" => CycleUnit::Quarter,
        "年" | "year" | "years" => CycleUnit::Year,
        _ => return None,
    };
    let max = if unit == CycleUnit::Hour { 24 } else { 1000 };
    (1..=max).contains(&every).then_some(Cycle { unit, every })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    fn header() -> Vec<Column> {
        read_header(&strings(&[
            "站点",
            "风险分析单元",
            "单元类型",
            "责任部门",
            "责任人",
            "重大危险源",
            "包保主要负责人",
            "包保技术负责人",
            "包保操作负责人",
            "风险事件",
            "可能性L",
            "严重性S",
            "管控措施",
            "措施分类",
            "二级分类",
            "排查内容",
            "排查周期",
            "工作时间",
            "仅工作日",
            "排查岗位/人员",
        ]))
        .unwrap()
    }

    const GOOD: &[&str] = &[
        "PLANT1",
        "储罐区T-101",
        "设备设施",
        "储运部",
        "zhang@example.com",
        "是",
        "li@example.com",
        "wang@example.com",
        "zhao@example.com",
        "满罐溢流",
        "3",
        "5",
        "液位高高联锁",
        "工程技术",
        "安全仪表",
        "检查液位联锁投用情况",
        "1天",
        "08:00-17:30",
        "否",
        "储运班长",
    ];

    #[test]
    fn a_good_row_parses() {
        let rows = read_rows(&header(), &[strings(GOOD)], false).unwrap();
        let r = &rows[0];
        assert_eq!(r.row, 2);
        assert_eq!(r.unit_kind, UnitKind::Installation);
        assert!(r.major_hazard);
        assert_eq!(r.leads.as_ref().unwrap()[2], "zhao@example.com");
        assert_eq!(r.assessment.severity, Some(5.0));
        assert_eq!(r.category, MeasureCategory::Engineering);
        assert_eq!(
            r.cycle,
            Cycle {
                unit: CycleUnit::Day,
                every: 1
            }
        );
        assert_eq!(r.window, WorkWindow::parse("08:00", "17:30").unwrap());
        assert_eq!(r.days, DayRule::EveryDay);
    }

    #[test]
    fn every_bad_cell_of_every_row_is_named() {
        let mut bad = strings(GOOD);
        bad[2] = "仓库".into(); // unit kind
        bad[7] = String::new(); // technical lead of a major hazard
        bad[11] = "x".into(); // severity
        bad[16] = "每天".into(); // cycle
        let mut also_bad = strings(GOOD);
        also_bad[17] = "17:30-08:00".into();
        let blank = vec![String::new(); 20];
        let errors =
            read_rows(&header(), &[strings(GOOD), bad, blank, also_bad], false).unwrap_err();
        let named: Vec<(usize, Option<&str>)> = errors.iter().map(|e| (e.row, e.column)).collect();
        assert_eq!(
            named,
            vec![
                (3, Some("单元类型")),
                (3, Some("包保技术负责人")),
                (3, Some("严重性S")),
                (3, Some("排查周期")),
                (5, Some("工作时间")),
            ]
        );
    }

    #[test]
    fn headers_in_english_any_order_and_unknown_ones_refused() {
        let mut names: Vec<String> = COLUMNS.iter().map(|(_, _, en, _)| en.to_string()).collect();
        names.reverse();
        assert_eq!(read_header(&names).unwrap().len(), COLUMNS.len());
        let errors = read_header(&strings(&["站点", "风险单元", "站点"])).unwrap_err();
        assert!(errors.iter().any(|e| e.reason.contains("风险单元")));
        assert!(errors.iter().any(|e| e.reason == "appears twice"));
        assert!(errors
            .iter()
            .any(|e| e.column == Some("排查周期") && e.reason == "column missing"));
    }

    #[test]
    fn cycles_in_both_languages() {
        for (text, unit, every) in [
            ("4小时", CycleUnit::Hour, 4),
            ("1天", CycleUnit::Day, 1),
            ("2周", CycleUnit::Week, 2),
            ("1个月", CycleUnit::Month, 1),
            ("1季度", CycleUnit::Quarter, 1),
            ("1年", CycleUnit::Year, 1),
            ("3 days", CycleUnit::Day, 3),
        ] {
            assert_eq!(parse_cycle(text), Some(Cycle { unit, every }), "{text}");
        }
        for bad in ["", "天", "0天", "25小时", "1 fortnight", "-1天"] {
            assert_eq!(parse_cycle(bad), None, "{bad}");
        }
    }
}
