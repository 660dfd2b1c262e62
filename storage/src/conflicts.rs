//! The conflict log: values that lost a merge and commands that arrived too late. Supervisors
//! list and resolve them; nothing a device sent is ever silently dropped.

use diesel::prelude::*;
use serde_json::Value;

use crate::schema::conflicts;
use crate::{new_id, DbConn, StorageError};

/// One logged conflict.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = conflicts)]
pub struct Conflict {
    pub id: String,
    pub org_id: String,
    pub site_id: String,
    pub entity_type: String,
    pub entity_id: String,
    /// `field` (a concurrent edit lost) or `rejected_command` (a workflow command arrived when
    /// the hazard had moved on).
    pub kind: String,
    pub field: Option<String>,
    pub winning_value: Option<String>,
    pub winning_hlc: Option<String>,
    pub losing_value: Option<String>,
    pub losing_hlc: Option<String>,
    pub losing_actor: Option<String>,
    pub losing_device: Option<String>,
    pub detail: String,
    /// `open` or `resolved`.
    pub status: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
    pub created_at: i64,
}

/// What a new conflict records.
#[derive(Debug, Clone, Default)]
pub struct NewConflict {
    pub org_id: String,
    pub site_id: String,
    pub entity_type: String,
    pub entity_id: String,
    pub kind: &'static str,
    pub field: Option<String>,
    pub winning_value: Option<Value>,
    pub winning_hlc: Option<String>,
    pub losing_value: Option<Value>,
    pub losing_hlc: Option<String>,
    pub losing_actor: Option<String>,
    pub losing_device: Option<String>,
    pub detail: Value,
}

/// Logs a conflict.
pub fn record(conn: &mut DbConn, c: NewConflict, now: i64) -> Result<String, StorageError> {
    let row = Conflict {
        id: new_id(),
        org_id: c.org_id,
        site_id: c.site_id,
        entity_type: c.entity_type,
        entity_id: c.entity_id,
        kind: c.kind.to_string(),
        field: c.field,
        winning_value: c.winning_value.map(|v| v.to_string()),
        winning_hlc: c.winning_hlc,
        losing_value: c.losing_value.map(|v| v.to_string()),
        losing_hlc: c.losing_hlc,
        losing_actor: c.losing_actor,
        losing_device: c.losing_device,
        detail: if c.detail.is_null() {
            "{}".into()
        } else {
            c.detail.to_string()
        },
        status: "open".into(),
        resolved_by: None,
        resolved_at: None,
        resolution: None,
        created_at: now,
    };
    diesel::insert_into(conflicts::table)
        .values(&row)
        .execute(conn)?;
    Ok(row.id)
}

/// Filters of `GET /v1/conflicts`.
#[derive(Debug, Clone, Default)]
pub struct ConflictFilter {
    /// Sites the caller supervises (`None`: all).
    pub site_ids: Option<Vec<String>>,
    pub entity_id: Option<String>,
    pub status: Option<String>,
}

/// A page of conflicts, oldest first.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    f: &ConflictFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Conflict>, StorageError> {
    let mut q = conflicts::table
        .filter(conflicts::org_id.eq(org_id))
        .order(conflicts::id.asc())
        .limit(limit)
        .select(Conflict::as_select())
        .into_boxed();
    if let Some(s) = &f.site_ids {
        q = q.filter(conflicts::site_id.eq_any(s.clone()));
    }
    if let Some(e) = &f.entity_id {
        q = q.filter(conflicts::entity_id.eq(e.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(conflicts::status.eq(s.clone()));
    }
    if let Some(a) = after {
        q = q.filter(conflicts::id.gt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Loads a conflict of the organisation.
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Conflict, StorageError> {
    Ok(conflicts::table
        .filter(conflicts::org_id.eq(org_id))
        .filter(conflicts::id.eq(id))
        .select(Conflict::as_select())
        .first(conn)?)
}

/// Marks a conflict resolved; false when it already was.
pub fn mark_resolved(
    conn: &mut DbConn,
    id: &str,
    by: &str,
    resolution: &Value,
    now: i64,
) -> Result<bool, StorageError> {
    let n = diesel::update(
        conflicts::table
            .find(id)
            .filter(conflicts::status.eq("open")),
    )
    .set((
        conflicts::status.eq("resolved"),
        conflicts::resolved_by.eq(by),
        conflicts::resolved_at.eq(now),
        conflicts::resolution.eq(resolution.to_string()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

impl Conflict {
    /// The public view.
    pub fn view(&self) -> Value {
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
        };
        serde_json::json!({
            "id": self.id,
            "site_id": self.site_id,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "kind": self.kind,
            "field": self.field,
            "winning_value": parse(&self.winning_value),
            "winning_hlc": self.winning_hlc,
            "losing_value": parse(&self.losing_value),
            "losing_hlc": self.losing_hlc,
            "losing_actor": self.losing_actor,
            "losing_device": self.losing_device,
            "detail": serde_json::from_str::<Value>(&self.detail).unwrap_or(Value::Null),
            "status": self.status,
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at.map(hazardloop_sync::timestamp::format_rfc3339_ms),
            "resolution": parse(&self.resolution),
            "created_at": hazardloop_sync::timestamp::format_rfc3339_ms(self.created_at),
        })
    }
}
