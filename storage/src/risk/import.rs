//! Importing a register sheet: rows already parsed by `hazardloop_sync::risk::register` are
//! resolved (sites by id or name, people by e-mail) and checked against the caller's rights and
//! the register, every bad row named; then written in one savepoint, all or nothing.

use std::collections::HashMap;

use diesel::Connection;

use hazardloop_sync::risk::register::{Column, RegisterRow, RowError};
use serde::Serialize;

use super::duties::{self, DutyFields};
use super::events;
use super::measures::{self, MeasureFields};
use super::units::{self, Leads, UnitFields};
use super::{may_manage, Caller, Refusal};
use crate::change::Change;
use crate::sites::Site;
use crate::{access, sites, users, DbConn, StorageError};

/// What an import added.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: usize,
    pub units_created: usize,
    pub events_created: usize,
    pub measures_created: usize,
    pub duties_created: usize,
}

fn row_error(row: usize, column: Option<Column>, reason: impl Into<String>) -> RowError {
    RowError {
        row,
        column: column.map(Column::header),
        reason: reason.into(),
    }
}

/// Resolves what a row names, or says why not.
struct Resolver<'a> {
    caller: &'a Caller,
    sites: Vec<Site>,
    visibility: access::Visibility,
    people: HashMap<String, Option<String>>,
    manages: HashMap<String, bool>,
}

impl Resolver<'_> {
    fn site(&self, text: &str) -> Result<Site, String> {
        let found: Vec<&Site> = self
            .sites
            .iter()
            .filter(|s| (s.id == text || s.name == text) && self.visibility.sees(s))
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!("no site {text:?}")),
            _ => Err(format!("{text:?} names several sites; use the site's id")),
        }
    }

    fn person(&mut self, conn: &mut DbConn, email: &str) -> Result<Option<String>, StorageError> {
        let key = users::normalise_email(email);
        if let Some(id) = self.people.get(&key) {
            return Ok(id.clone());
        }
        let id = users::find_active_by_email(conn, &key)?
            .filter(|u| u.org_id == self.caller.org_id)
            .map(|u| u.id);
        self.people.insert(key, id.clone());
        Ok(id)
    }

    fn manages(&mut self, conn: &mut DbConn, site: &Site) -> Result<bool, StorageError> {
        if let Some(m) = self.manages.get(&site.id) {
            return Ok(*m);
        }
        let m = may_manage(conn, self.caller, site)?;
        self.manages.insert(site.id.clone(), m);
        Ok(m)
    }
}

/// A row resolved to ids.
struct Resolved {
    row: RegisterRow,
    site: Site,
    unit: UnitFields,
    assignee: Option<String>,
    post: Option<String>,
    lead_role: Option<String>,
}

fn measure_exists(
    conn: &mut DbConn,
    org_id: &str,
    site_id: &str,
    row: &RegisterRow,
) -> Result<bool, StorageError> {
    let Some(unit) = units::by_name(conn, org_id, site_id, &row.unit)? else {
        return Ok(false);
    };
    let Some(ev) = events::of_unit(conn, &unit.id)?
        .into_iter()
        .find(|e| e.name == row.event)
    else {
        return Ok(false);
    };
    Ok(measures::of_events(conn, std::slice::from_ref(&ev.id))?
        .iter()
        .any(|m| m.name == row.measure))
}

/// Imports parsed rows: either every row is written (one savepoint) and the summary returned,
/// or nothing is and every bad row is named.
pub fn import(
    conn: &mut DbConn,
    caller: &Caller,
    rows: Vec<RegisterRow>,
    now: i64,
) -> Result<Result<ImportSummary, Vec<RowError>>, StorageError> {
    let mut r = Resolver {
        caller,
        sites: sites::list(conn, &caller.org_id)?,
        visibility: access::visibility(conn, &caller.org_id, &caller.user_id, caller.is_admin)?,
        people: HashMap::new(),
        manages: HashMap::new(),
    };
    let mut errors = Vec::new();
    let mut resolved = Vec::new();
    let mut first_of_unit: HashMap<(String, String), usize> = HashMap::new();
    let mut measures_seen: HashMap<(String, String, String, String), usize> = HashMap::new();
    for row in rows {
        let n = row.row;
        let before = errors.len();
        let site = match r.site(&row.site) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(row_error(n, Some(Column::Site), e));
                None
            }
        };
        if let Some(s) = &site {
            if !r.manages(conn, s)? {
                errors.push(row_error(
                    n,
                    Some(Column::Site),
                    "only managers of the site and admins may change its risk register",
                ));
            }
        }
        let mut person =
            |conn: &mut DbConn, col: Column, email: &str| -> Result<Option<String>, StorageError> {
                let id = r.person(conn, email)?;
                if id.is_none() {
                    errors.push(row_error(
                        n,
                        Some(col),
                        format!("{email:?} is not an active user's e-mail"),
                    ));
                }
                Ok(id)
            };
        let responsible = person(conn, Column::Responsible, &row.responsible)?;
        let leads = match &row.leads {
            Some([p, t, o]) => {
                let p = person(conn, Column::Principal, p)?;
                let t = person(conn, Column::TechnicalLead, t)?;
                let o = person(conn, Column::OperationsLead, o)?;
                match (p, t, o) {
                    (Some(p), Some(t), Some(o)) => Some(Leads {
                        principal_id: p,
                        technical_lead_id: t,
                        operations_lead_id: o,
                    }),
                    _ => None,
                }
            }
            None => None,
        };
        // The checker: a person by e-mail, else a post by name.
        let (assignee, post) = if row.checker.contains('@') {
            (person(conn, Column::Checker, &row.checker)?, None)
        } else {
            (None, Some(row.checker.clone()))
        };
        let lead_role = match (&leads, &assignee) {
            (Some(l), Some(a)) if *a == l.principal_id => Some("principal"),
            (Some(l), Some(a)) if *a == l.technical_lead_id => Some("technical_lead"),
            (Some(l), Some(a)) if *a == l.operations_lead_id => Some("operations_lead"),
            _ => None,
        }
        .map(str::to_string);
        if errors.len() > before {
            continue;
        }
        let (Some(site), Some(responsible)) = (site, responsible) else {
            continue;
        };
        let unit = UnitFields {
            name: row.unit.clone(),
            kind: row.unit_kind,
            department: row.department.clone(),
            responsible_id: responsible,
            leads,
        };
        // Rows of one unit must describe it alike.
        let key = (site.id.clone(), row.unit.clone());
        if let Some(&i) = first_of_unit.get(&key) {
            let first: &Resolved = &resolved[i];
            if first.unit.department != unit.department
                || first.unit.responsible_id != unit.responsible_id
                || first.unit.kind != unit.kind
                || first.unit.leads != unit.leads
            {
                errors.push(row_error(
                    n,
                    Some(Column::Unit),
                    format!("describes unit {:?} unlike row {}", row.unit, first.row.row),
                ));
                continue;
            }
        }
        // A measure is added once: not twice in the sheet, not again to the register.
        let mkey = (
            site.id.clone(),
            row.unit.clone(),
            row.event.clone(),
            row.measure.clone(),
        );
        if let Some(first) = measures_seen.get(&mkey) {
            errors.push(row_error(
                n,
                Some(Column::Measure),
                format!("repeats the measure of row {first}"),
            ));
            continue;
        }
        measures_seen.insert(mkey, n);
        if measure_exists(conn, &caller.org_id, &site.id, &row)? {
            errors.push(row_error(
                n,
                Some(Column::Measure),
                format!(
                    "{:?} of {:?} at {:?} is in the register already",
                    row.measure, row.event, row.unit
                ),
            ));
            continue;
        }
        first_of_unit.entry(key).or_insert(resolved.len());
        resolved.push(Resolved {
            row,
            site,
            unit,
            assignee,
            post,
            lead_role,
        });
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    // Write everything in a savepoint: a refusal on the way rolls all of it back.
    let mut refused: Vec<RowError> = Vec::new();
    let written = conn.transaction::<_, StorageError, _>(|conn| {
        let mut change = Change::begin(conn, &caller.org_id, now)?;
        let mut summary = ImportSummary {
            rows: resolved.len(),
            ..ImportSummary::default()
        };
        let settings = super::settings(conn, &caller.org_id, now)?;
        for r in &resolved {
            let n = r.row.row;
            let fail = |refused: &mut Vec<RowError>, refusal: Refusal| {
                let reason = match refusal {
                    Refusal::Forbidden(m) => m,
                    Refusal::Invalid { field, reason } => format!("{field}: {reason}"),
                };
                refused.push(row_error(n, None, reason));
                StorageError::Invalid("import refused".into())
            };
            let unit = match units::by_name(conn, &caller.org_id, &r.site.id, &r.unit.name)? {
                Some(u) => u,
                None => {
                    summary.units_created += 1;
                    units::create(conn, &mut change, caller, &r.site, r.unit.clone())?
                        .map_err(|e| fail(&mut refused, e))?
                }
            };
            let existing = events::of_unit(conn, &unit.id)?
                .into_iter()
                .find(|e| e.name == r.row.event);
            let ev = match existing {
                Some(e) => {
                    let graded = events::grade(&settings, &r.row.assessment)
                        .map_err(|e| fail(&mut refused, e))?;
                    if graded.score != e.score || graded.method != e.method {
                        refused.push(row_error(
                            n,
                            Some(Column::Likelihood),
                            format!(
                                "event {:?} is assessed {} {} already; re-assess it instead",
                                e.name, e.method, e.score
                            ),
                        ));
                        return Err(StorageError::Invalid("import refused".into()));
                    }
                    e
                }
                None => {
                    summary.events_created += 1;
                    events::create(
                        conn,
                        &mut change,
                        caller,
                        &unit,
                        &r.site,
                        r.row.event.clone(),
                        &r.row.assessment,
                        Some(format!("imported (row {n})")),
                    )?
                    .map_err(|e| fail(&mut refused, e))?
                }
            };
            let measure = measures::create(
                conn,
                &mut change,
                caller,
                &ev,
                &r.site,
                MeasureFields {
                    name: r.row.measure.clone(),
                    category: r.row.category,
                    subcategory: r.row.subcategory.clone(),
                    check_content: r.row.check_content.clone(),
                },
            )?
            .map_err(|e| fail(&mut refused, e))?;
            summary.measures_created += 1;
            duties::create(
                conn,
                &mut change,
                caller,
                &measure,
                &ev,
                &unit,
                &r.site,
                DutyFields {
                    cycle: r.row.cycle,
                    window: r.row.window,
                    days: r.row.days,
                    anchor: None,
                    assignee_id: if r.lead_role.is_some() {
                        None
                    } else {
                        r.assignee.clone()
                    },
                    post: r.post.clone(),
                    lead_role: r.lead_role.clone(),
                },
            )?
            .map_err(|e| fail(&mut refused, e))?;
            summary.duties_created += 1;
        }
        change.finish(conn)?;
        Ok(summary)
    });
    match written {
        Ok(summary) => Ok(Ok(summary)),
        Err(StorageError::Invalid(_)) if !refused.is_empty() => Ok(Err(refused)),
        Err(e) => Err(e),
    }
}
