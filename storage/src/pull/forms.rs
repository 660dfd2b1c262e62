//! Sync forms: the JSON text of each entity's pull item, made by the transaction that changes
//! the entity and stored beside its change-index row, and the items of a page made from them.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::page::{EntityData, PullItem};
use crate::{hazards, inspections, sites, templates, DbConn, StorageError};

/// An entity's sync form, stored beside its change-index row by the transaction that changed
/// it: the JSON text of its pull item's `data`, and for an open hazard its deadline (`due_at`),
/// because whether it is `overdue` depends on when the page is made.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncForm {
    pub data: String,
    pub due_at: Option<i64>,
}

/// The sync forms of live entities (`(type, id)`), as they stand in this transaction. Types a
/// pull does not deliver have none.
pub fn sync_forms(
    conn: &mut DbConn,
    org_id: &str,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), SyncForm>, StorageError> {
    let mut by_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (t, id) in keys {
        by_type.entry(t.as_str()).or_default().push(id.clone());
    }
    let mut due: HashMap<String, i64> = HashMap::new();
    let views = load_views(conn, org_id, by_type, 0, Some(&mut due))?;
    Ok(views
        .into_iter()
        .map(|((t, id), view)| {
            let due_at = if t == "hazard" {
                due.get(&id).copied()
            } else {
                None
            };
            let data = view.to_text();
            ((t, id), SyncForm { data, due_at })
        })
        .collect())
}

/// A stored hazard form says `"overdue":false` (made with the time set to 0); a page made
/// after its `due_at` says true. The field is found from the end: only `version`,
/// `updated_at` and `flags` (server-made) follow it.
fn with_overdue(mut data: String, due_at: Option<i64>, now: i64) -> String {
    const STORED: &str = "\"overdue\":false,\"version\":";
    if due_at.is_some_and(|d| now > d) {
        if let Some(at) = data.rfind(STORED) {
            data.replace_range(at..at + "\"overdue\":false".len(), "\"overdue\":true");
        }
    }
    data
}

/// type, id, site, seq, deleted, stored sync form, due_at.
pub(super) type ChangeRow = (
    String,
    String,
    Option<String>,
    i64,
    bool,
    Option<String>,
    Option<i64>,
);

/// The views of the given entities, by type; hazards' deadlines while open go to `due`.
fn load_views(
    conn: &mut DbConn,
    org_id: &str,
    by_type: BTreeMap<&str, Vec<String>>,
    now: i64,
    mut due: Option<&mut HashMap<String, i64>>,
) -> Result<HashMap<(String, String), EntityData>, StorageError> {
    let mut data: HashMap<(String, String), EntityData> = HashMap::new();
    for (t, ids) in by_type {
        match t {
            "hazard" => {
                for h in hazards::by_ids(conn, org_id, &ids)? {
                    if let (Some(due), Some(d)) = (due.as_deref_mut(), h.deadline) {
                        if !matches!(h.state.as_str(), "closed" | "cancelled") {
                            due.insert(h.id.clone(), d);
                        }
                    }
                    data.insert(
                        ("hazard".into(), h.id.clone()),
                        EntityData::Hazard(Box::new(h.view(now))),
                    );
                }
            }
            "inspection" => {
                for (i, a) in inspections::by_ids_with_answers(conn, org_id, &ids)? {
                    data.insert(
                        ("inspection".into(), i.id.clone()),
                        EntityData::Inspection(Box::new(i.view(&a))),
                    );
                }
            }
            "template" => {
                for row in templates::by_ids(conn, org_id, &ids)? {
                    data.insert(
                        ("template".into(), row.id.clone()),
                        EntityData::Other(row.view()),
                    );
                }
            }
            "check_task" => {
                for (id, view) in check_tasks(conn, org_id, &ids)? {
                    data.insert(("check_task".into(), id), EntityData::Other(view));
                }
            }
            "site" => {
                for s in sites::by_ids(conn, org_id, &ids)? {
                    data.insert(
                        ("site".into(), s.id.clone()),
                        EntityData::Other(json!({"id": s.id, "parent_id": s.parent_id, "name": s.name, "kind": s.kind,
                               "latitude": s.latitude, "longitude": s.longitude, "radius_m": s.radius_m})),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(data)
}

/// Check tasks as their assignee's phone pulls them: the stored state (`open`, or `missed` once
/// the job marked it) and the window, from which the phone tells upcoming from due offline.
/// Read from the table here (not through `risk`, which writes through `Change`).
fn check_tasks(
    conn: &mut DbConn,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<(String, serde_json::Value)>, StorageError> {
    use crate::schema::check_tasks as ct;
    use diesel::prelude::*;
    use hazardloop_sync::timestamp::format_rfc3339_ms as at;
    type Row = (
        String,
        String,
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<String>,
        String,
        Option<i64>,
        i64,
    );
    let rows: Vec<Row> = ct::table
        .filter(ct::org_id.eq(org_id))
        .filter(ct::id.eq_any(ids))
        .select((
            ct::id,
            ct::duty_id,
            ct::unit_id,
            ct::site_id,
            ct::window_start,
            ct::window_end,
            ct::assignee_id,
            ct::post,
            ct::state,
            ct::missed_at,
            ct::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, duty, unit, site, ws, we, assignee, post, state, missed, created)| {
                let view = json!({
                    "id": id, "duty_id": duty, "unit_id": unit, "site_id": site,
                    "window_start": at(ws), "window_end": at(we), "assignee_id": assignee,
                    "post": post, "state": state, "missed_at": missed.map(at),
                    "created_at": at(created),
                });
                (id, view)
            },
        )
        .collect())
}

/// The items of changed entities, in the order given: each live one from its stored sync
/// form, or (a row written before forms were stored) built from the entity's tables.
pub(super) fn materialise(
    conn: &mut DbConn,
    org_id: &str,
    rows: Vec<ChangeRow>,
    now: i64,
) -> Result<Vec<PullItem>, StorageError> {
    let mut by_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (t, id, _, _, deleted, form, _) in &rows {
        if !deleted && form.is_none() {
            by_type.entry(t.as_str()).or_default().push(id.clone());
        }
    }
    let mut built = if by_type.is_empty() {
        HashMap::new()
    } else {
        load_views(conn, org_id, by_type, now, None)?
    };
    Ok(rows
        .into_iter()
        .map(|(t, id, _, seq, deleted, form, due_at)| {
            let d = match (deleted, form) {
                (true, _) => None,
                (false, Some(text)) => Some(EntityData::Stored(with_overdue(text, due_at, now))),
                (false, None) => built.remove(&(t.clone(), id.clone())),
            };
            PullItem {
                deleted: d.is_none(),
                entity_type: t,
                id,
                seq,
                reason: None,
                data: d,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_stored_hazard_form_turns_overdue_only_after_its_deadline() {
        let stored = r#"{"id":"h","title":"\"overdue\":false,\"version\":","overdue":false,"version":3,"updated_at":"x","flags":[]}"#;
        assert_eq!(with_overdue(stored.into(), Some(100), 100), stored);
        assert_eq!(with_overdue(stored.into(), None, 1_000), stored);
        let late = with_overdue(stored.into(), Some(100), 101);
        let v: Value = serde_json::from_str(&late).expect("JSON");
        assert_eq!(v["overdue"], true);
        // The title that looks like the field is left alone.
        assert_eq!(v["title"], "\"overdue\":false,\"version\":");
    }
}
