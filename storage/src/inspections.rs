//! Inspections (one run of a template version at a site) and their answers.

use std::collections::BTreeMap;

use diesel::prelude::*;
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::Value;

use crate::schema::{answers, inspections};
use crate::{DbConn, StorageError};

/// An inspection as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = inspections, treat_none_as_null = true)]
pub struct Inspection {
    pub id: String,
    pub org_id: String,
    pub site_id: String,
    pub template_id: String,
    pub inspector_id: String,
    /// `draft` or `submitted`.
    pub status: String,
    /// Drafts may be deleted; the row stays as a tombstone for sync.
    pub deleted: bool,
    pub started_at_device: Option<i64>,
    pub finished_at_device: Option<i64>,
    pub gps: Option<String>,
    pub submitted_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One answer as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = answers)]
pub struct Answer {
    pub inspection_id: String,
    pub item_key: String,
    pub value: String,
    pub hlc: String,
    pub answered_by: String,
    pub device_time: Option<i64>,
    pub updated_at: i64,
}

/// What clients see of an inspection.
#[derive(Debug, Clone, Serialize)]
pub struct InspectionView {
    pub id: String,
    pub site_id: String,
    pub template_id: String,
    pub inspector_id: String,
    pub status: String,
    pub deleted: bool,
    pub started_at_device: Option<String>,
    pub finished_at_device: Option<String>,
    pub gps: Option<Value>,
    pub submitted_at: Option<String>,
    pub answers: BTreeMap<String, Value>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl Inspection {
    /// The public view, with its answers.
    pub fn view(&self, answers: &[Answer]) -> InspectionView {
        InspectionView {
            id: self.id.clone(),
            site_id: self.site_id.clone(),
            template_id: self.template_id.clone(),
            inspector_id: self.inspector_id.clone(),
            status: self.status.clone(),
            deleted: self.deleted,
            started_at_device: self.started_at_device.map(format_rfc3339_ms),
            finished_at_device: self.finished_at_device.map(format_rfc3339_ms),
            gps: self
                .gps
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok()),
            submitted_at: self.submitted_at.map(format_rfc3339_ms),
            answers: answer_map(answers),
            version: self.version,
            created_at: format_rfc3339_ms(self.created_at),
            updated_at: format_rfc3339_ms(self.updated_at),
        }
    }
}

/// Answers keyed by item.
pub fn answer_map(answers: &[Answer]) -> BTreeMap<String, Value> {
    answers
        .iter()
        .map(|a| {
            (
                a.item_key.clone(),
                serde_json::from_str(&a.value).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Loads an inspection of the organisation (deleted ones included).
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Inspection, StorageError> {
    Ok(inspections::table
        .filter(inspections::org_id.eq(org_id))
        .filter(inspections::id.eq(id))
        .select(Inspection::as_select())
        .first(conn)?)
}

/// Loads an inspection if it exists.
pub fn find(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Option<Inspection>, StorageError> {
    Ok(inspections::table
        .filter(inspections::org_id.eq(org_id))
        .filter(inspections::id.eq(id))
        .select(Inspection::as_select())
        .first(conn)
        .optional()?)
}

/// Loads an inspection (deleted ones included) with its site, unlocked, in one query: what a
/// caller's visibility is checked against before anything else happens to the inspection.
pub fn find_with_site(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
) -> Result<Option<(Inspection, crate::sites::Site)>, StorageError> {
    use crate::schema::sites;
    Ok(inspections::table
        .inner_join(sites::table.on(sites::id.eq(inspections::site_id)))
        .filter(inspections::org_id.eq(org_id))
        .filter(inspections::id.eq(id))
        .select((Inspection::as_select(), crate::sites::Site::as_select()))
        .first(conn)
        .optional()?)
}

/// Whether any organisation has an inspection with this id (ids are unique across them).
pub fn id_taken(conn: &mut DbConn, id: &str) -> Result<bool, StorageError> {
    let n: i64 = inspections::table
        .filter(inspections::id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The answers of an inspection.
pub fn answers_of(conn: &mut DbConn, inspection_id: &str) -> Result<Vec<Answer>, StorageError> {
    Ok(answers::table
        .filter(answers::inspection_id.eq(inspection_id))
        .order(answers::item_key.asc())
        .select(Answer::as_select())
        .load(conn)?)
}

/// Filters of `GET /v1/inspections`.
#[derive(Debug, Clone, Default)]
pub struct InspectionFilter {
    /// Sites (by id) whose inspections the caller may see; `None` for all.
    pub visible_sites: Option<Vec<String>>,
    pub site_ids: Option<Vec<String>>,
    pub status: Option<String>,
    pub inspector_id: Option<String>,
}

/// A page of live (not deleted) inspections in id order.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    f: &InspectionFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Inspection>, StorageError> {
    let mut q = inspections::table
        .filter(inspections::org_id.eq(org_id))
        .filter(inspections::deleted.eq(false))
        .order(inspections::id.asc())
        .limit(limit)
        .select(Inspection::as_select())
        .into_boxed();
    if let Some(v) = &f.visible_sites {
        q = q.filter(inspections::site_id.eq_any(v.clone()));
    }
    if let Some(v) = &f.site_ids {
        q = q.filter(inspections::site_id.eq_any(v.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(inspections::status.eq(s.clone()));
    }
    if let Some(i) = &f.inspector_id {
        q = q.filter(inspections::inspector_id.eq(i.clone()));
    }
    if let Some(a) = after {
        q = q.filter(inspections::id.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Inspections by id, each with its answers (two queries, whatever the count).
pub fn by_ids_with_answers(
    conn: &mut DbConn,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<(Inspection, Vec<Answer>)>, StorageError> {
    let rows: Vec<Inspection> = inspections::table
        .filter(inspections::org_id.eq(org_id))
        .filter(inspections::id.eq_any(ids.to_vec()))
        .select(Inspection::as_select())
        .load(conn)?;
    let all: Vec<Answer> = answers::table
        .filter(answers::inspection_id.eq_any(ids.to_vec()))
        .select(Answer::as_select())
        .load(conn)?;
    let mut grouped: std::collections::HashMap<String, Vec<Answer>> = Default::default();
    for a in all {
        grouped.entry(a.inspection_id.clone()).or_default().push(a);
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let a = grouped.remove(&r.id).unwrap_or_default();
            (r, a)
        })
        .collect())
}

/// Loads an inspection and, on PostgreSQL, locks its row until the transaction ends.
pub fn find_for_update(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
) -> Result<Option<Inspection>, StorageError> {
    let q = inspections::table
        .filter(inspections::org_id.eq(org_id))
        .filter(inspections::id.eq(id));
    Ok(match conn {
        DbConn::Pg(c) => q
            .select(Inspection::as_select())
            .for_update()
            .first(c)
            .optional()?,
        DbConn::Sqlite(c) => q.select(Inspection::as_select()).first(c).optional()?,
    })
}
