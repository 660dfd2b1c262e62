//! Checklist templates: versioned, and a published version never changes.

use diesel::prelude::*;
use hazardloop_sync::Template;
use serde::Serialize;
use serde_json::{json, Value};

use crate::schema::templates;
use crate::{DbConn, StorageError};

/// One published version of a template.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = templates)]
pub struct TemplateRow {
    pub id: String,
    pub org_id: String,
    pub key: String,
    pub version: i32,
    pub title: String,
    /// The template in the import format, as JSON text.
    pub content: String,
    pub content_hash: String,
    pub created_by: Option<String>,
    pub created_at: i64,
}

impl TemplateRow {
    /// The parsed template.
    pub fn template(&self) -> Result<Template, StorageError> {
        Template::parse(&self.content).map_err(|e| {
            StorageError::Invalid(format!("stored template {}: {}", self.id, e.join("; ")))
        })
    }

    /// The public view of this version (the API's answer and the sync form).
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "key": self.key,
            "version": self.version,
            "title": self.title,
            "content_hash": self.content_hash,
            "created_at": hazardloop_sync::timestamp::format_rfc3339_ms(self.created_at),
            "template": serde_json::from_str::<Value>(&self.content).unwrap_or(Value::Null),
        })
    }
}

/// The newest version of `key`.
pub fn latest(
    conn: &mut DbConn,
    org_id: &str,
    key: &str,
) -> Result<Option<TemplateRow>, StorageError> {
    Ok(templates::table
        .filter(templates::org_id.eq(org_id))
        .filter(templates::key.eq(key))
        .order(templates::version.desc())
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()?)
}

/// One version of `key`.
pub fn version(
    conn: &mut DbConn,
    org_id: &str,
    key: &str,
    version: i32,
) -> Result<TemplateRow, StorageError> {
    Ok(templates::table
        .filter(templates::org_id.eq(org_id))
        .filter(templates::key.eq(key))
        .filter(templates::version.eq(version))
        .select(TemplateRow::as_select())
        .first(conn)?)
}

/// A version by id.
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<TemplateRow, StorageError> {
    Ok(templates::table
        .filter(templates::org_id.eq(org_id))
        .filter(templates::id.eq(id))
        .select(TemplateRow::as_select())
        .first(conn)?)
}

/// Every version, optionally of one key, by key then version.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    key: Option<&str>,
) -> Result<Vec<TemplateRow>, StorageError> {
    let mut q = templates::table
        .filter(templates::org_id.eq(org_id))
        .order((templates::key.asc(), templates::version.asc()))
        .select(TemplateRow::as_select())
        .into_boxed();
    if let Some(k) = key {
        q = q.filter(templates::key.eq(k.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Versions by id.
pub fn by_ids(
    conn: &mut DbConn,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<TemplateRow>, StorageError> {
    Ok(templates::table
        .filter(templates::org_id.eq(org_id))
        .filter(templates::id.eq_any(ids.to_vec()))
        .select(TemplateRow::as_select())
        .load(conn)?)
}
