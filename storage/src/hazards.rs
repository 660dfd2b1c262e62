//! Hazard rows: loading, the workflow facts they carry, the public view, and list queries.

use diesel::prelude::*;
use hazardloop_sync::search;
use hazardloop_sync::timestamp::format_rfc3339_ms;
use hazardloop_sync::{FiveImplementations, Grade, HazardFacts, HazardState};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::schema::hazards;
use crate::{DbConn, StorageError};

/// A hazard as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = hazards, treat_none_as_null = true)]
pub struct Hazard {
    pub id: String,
    pub org_id: String,
    pub site_id: String,
    pub state: String,
    pub title: String,
    pub description: String,
    pub location: String,
    pub gps: Option<String>,
    pub category: String,
    pub grade: String,
    pub risk: String,
    pub reporter_id: String,
    pub owner_id: Option<String>,
    pub verifier_id: Option<String>,
    pub rectified_by: Option<String>,
    pub measures: Option<String>,
    pub deadline: Option<i64>,
    pub five: Option<String>,
    pub inspection_id: Option<String>,
    pub item_key: Option<String>,
    pub reported_at_device: i64,
    pub reported_at: i64,
    pub closed_at: Option<i64>,
    pub overdue_notified_deadline: Option<i64>,
    pub field_clocks: String,
    pub version: i64,
    pub updated_at: i64,
    /// Evidence flags of the report (JSON array; `outside_site_radius` for its GPS).
    pub flags: String,
    /// What the rectification cost (`{"amount", "currency"}`), when the rectifier said.
    pub rectification_cost: Option<String>,
}

fn uuid_of(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|_| StorageError::Invalid(format!("stored id {s} is not a UUID")))
}

impl Hazard {
    /// The facts the workflow rules decide on.
    pub fn facts(&self) -> Result<HazardFacts, StorageError> {
        Ok(HazardFacts {
            state: self
                .state
                .parse()
                .map_err(|_| StorageError::Invalid(format!("stored state {}", self.state)))?,
            grade: Grade::new(self.grade.clone()),
            reporter_id: uuid_of(&self.reporter_id)?,
            owner_id: self.owner_id.as_deref().map(uuid_of).transpose()?,
            verifier_id: self.verifier_id.as_deref().map(uuid_of).transpose()?,
            rectified_by: self.rectified_by.as_deref().map(uuid_of).transpose()?,
            five: self
                .five
                .as_deref()
                .and_then(|f| serde_json::from_str::<FiveImplementations>(f).ok()),
            deadline_ms: self.deadline,
        })
    }

    /// Copies decided facts onto the row.
    pub fn apply_facts(&mut self, facts: &HazardFacts, now: i64) {
        self.state = facts.state.as_str().to_string();
        self.grade = facts.grade.as_str().to_string();
        self.owner_id = facts.owner_id.map(|u| u.to_string());
        self.verifier_id = facts.verifier_id.map(|u| u.to_string());
        self.rectified_by = facts.rectified_by.map(|u| u.to_string());
        self.five = facts
            .five
            .as_ref()
            .and_then(|f| serde_json::to_string(f).ok());
        self.deadline = facts.deadline_ms;
        if facts.state == HazardState::Closed && self.closed_at.is_none() {
            self.closed_at = Some(now);
        }
    }

    /// Derived: the deadline has passed and the hazard is not closed or cancelled.
    pub fn is_overdue(&self, now: i64) -> bool {
        let open = !matches!(self.state.as_str(), "closed" | "cancelled");
        open && self.deadline.is_some_and(|d| now > d)
    }

    /// What `q=` searches: title, description and location, folded (see `sync::search`). The
    /// write path stores it beside the row in the same statement.
    pub fn search_text(&self) -> String {
        search::fold(&format!(
            "{}\n{}\n{}",
            self.title, self.description, self.location
        ))
    }

    /// The ETag of this version.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// The public view of the hazard.
    pub fn view(&self, now: i64) -> HazardView {
        HazardView {
            id: self.id.clone(),
            site_id: self.site_id.clone(),
            state: self.state.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            location: self.location.clone(),
            gps: self
                .gps
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok()),
            category: self.category.clone(),
            grade: self.grade.clone(),
            risk: self.risk.clone(),
            reporter_id: self.reporter_id.clone(),
            owner_id: self.owner_id.clone(),
            verifier_id: self.verifier_id.clone(),
            rectified_by: self.rectified_by.clone(),
            measures: self.measures.clone(),
            deadline: self.deadline.map(format_rfc3339_ms),
            five: self
                .five
                .as_deref()
                .and_then(|f| serde_json::from_str::<Value>(f).ok())
                .map(five_view),
            inspection_id: self.inspection_id.clone(),
            item_key: self.item_key.clone(),
            reported_at_device: format_rfc3339_ms(self.reported_at_device),
            reported_at: format_rfc3339_ms(self.reported_at),
            closed_at: self.closed_at.map(format_rfc3339_ms),
            overdue: self.is_overdue(now),
            version: self.version,
            updated_at: format_rfc3339_ms(self.updated_at),
            flags: serde_json::from_str(&self.flags).unwrap_or_default(),
            rectification_cost: self
                .rectification_cost
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok()),
        }
    }
}

fn five_view(mut v: Value) -> Value {
    if let Some(ms) = v.get("deadline_ms").and_then(Value::as_i64) {
        v["deadline"] = Value::String(format_rfc3339_ms(ms));
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("deadline_ms");
    }
    v
}

/// What clients see of a hazard.
#[derive(Debug, Clone, Serialize)]
pub struct HazardView {
    pub id: String,
    pub site_id: String,
    pub state: String,
    pub title: String,
    pub description: String,
    pub location: String,
    pub gps: Option<Value>,
    pub category: String,
    pub grade: String,
    pub risk: String,
    pub reporter_id: String,
    pub owner_id: Option<String>,
    pub verifier_id: Option<String>,
    pub rectified_by: Option<String>,
    pub measures: Option<String>,
    pub deadline: Option<String>,
    pub five: Option<Value>,
    pub inspection_id: Option<String>,
    pub item_key: Option<String>,
    pub reported_at_device: String,
    pub reported_at: String,
    pub closed_at: Option<String>,
    pub overdue: bool,
    pub version: i64,
    pub updated_at: String,
    /// Why the report is not taken at face value (`outside_site_radius`); empty when it is.
    pub flags: Vec<Value>,
    /// What the rectification cost, when the rectifier said: `{"amount", "currency"}`.
    pub rectification_cost: Option<Value>,
}

/// Fills `search_text` of rows written before the column existed (or by an older node), a
/// page at a time; returns how many rows were filled.
pub fn fill_search_text(conn: &mut DbConn) -> Result<usize, StorageError> {
    let mut filled = 0;
    loop {
        let page: Vec<Hazard> = hazards::table
            .filter(hazards::search_text.is_null())
            .select(Hazard::as_select())
            .limit(500)
            .load(conn)?;
        if page.is_empty() {
            return Ok(filled);
        }
        for h in &page {
            diesel::update(hazards::table.find(&h.id))
                .set(hazards::search_text.eq(h.search_text()))
                .execute(conn)?;
        }
        filled += page.len();
    }
}

/// Loads a hazard of the organisation.
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Hazard, StorageError> {
    Ok(hazards::table
        .filter(hazards::org_id.eq(org_id))
        .filter(hazards::id.eq(id))
        .select(Hazard::as_select())
        .first(conn)?)
}

/// Loads a hazard if it exists.
pub fn find(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Option<Hazard>, StorageError> {
    Ok(hazards::table
        .filter(hazards::org_id.eq(org_id))
        .filter(hazards::id.eq(id))
        .select(Hazard::as_select())
        .first(conn)
        .optional()?)
}

/// Loads a hazard with its site, unlocked, in one query: what a caller's visibility is
/// checked against before anything else happens to the hazard.
pub fn find_with_site(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
) -> Result<Option<(Hazard, crate::sites::Site)>, StorageError> {
    use crate::schema::sites;
    Ok(hazards::table
        .inner_join(sites::table.on(sites::id.eq(hazards::site_id)))
        .filter(hazards::org_id.eq(org_id))
        .filter(hazards::id.eq(id))
        .select((Hazard::as_select(), crate::sites::Site::as_select()))
        .first(conn)
        .optional()?)
}

/// Filters of `GET /v1/hazards`. Site filters are materialised-path prefixes (a site and its
/// subtree); `visible_paths` restricts to what the caller may see (`None`: everything).
#[derive(Debug, Clone, Default)]
pub struct HazardFilter {
    pub visible_paths: Option<Vec<String>>,
    pub site_path: Option<String>,
    pub states: Vec<String>,
    pub grade: Option<String>,
    pub risk: Option<String>,
    pub overdue: Option<bool>,
    pub owner_id: Option<String>,
    pub verifier_id: Option<String>,
    pub reporter_id: Option<String>,
    pub updated_since: Option<i64>,
    pub text: Option<String>,
}

/// A page of hazards ordered by id (UUIDv7: creation order), after `after`.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    f: &HazardFilter,
    now: i64,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Hazard>, StorageError> {
    use crate::schema::sites;
    let mut q = hazards::table
        .inner_join(sites::table.on(sites::id.eq(hazards::site_id)))
        .filter(hazards::org_id.eq(org_id))
        .select(Hazard::as_select())
        .order(hazards::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(paths) = &f.visible_paths {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut cond: Box<dyn BoxableExpression<_, _, SqlType = diesel::sql_types::Bool>> =
            Box::new(sites::path.like(format!("{}%", paths[0])));
        for p in &paths[1..] {
            cond = Box::new(cond.or(sites::path.like(format!("{p}%"))));
        }
        q = q.filter(cond);
    }
    if let Some(p) = &f.site_path {
        q = q.filter(sites::path.like(format!("{p}%")));
    }
    if !f.states.is_empty() {
        q = q.filter(hazards::state.eq_any(f.states.clone()));
    }
    if let Some(g) = &f.grade {
        q = q.filter(hazards::grade.eq(g.clone()));
    }
    if let Some(r) = &f.risk {
        q = q.filter(hazards::risk.eq(r.clone()));
    }
    match f.overdue {
        Some(true) => {
            q = q
                .filter(hazards::deadline.lt(now))
                .filter(hazards::state.ne_all(vec!["closed", "cancelled"]))
        }
        Some(false) => {
            q = q.filter(
                hazards::deadline
                    .is_null()
                    .or(hazards::deadline.ge(now))
                    .or(hazards::state.eq_any(vec!["closed", "cancelled"])),
            )
        }
        None => {}
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(hazards::owner_id.eq(v.clone()));
    }
    if let Some(v) = &f.verifier_id {
        q = q.filter(hazards::verifier_id.eq(v.clone()));
    }
    if let Some(v) = &f.reporter_id {
        q = q.filter(hazards::reporter_id.eq(v.clone()));
    }
    if let Some(t) = f.updated_since {
        q = q.filter(hazards::updated_at.ge(t));
    }
    if let Some(text) = &f.text {
        use diesel::expression_methods::EscapeExpressionMethods;
        q = q.filter(
            hazards::search_text
                .like(search::contains_pattern(text))
                .escape(search::LIKE_ESCAPE),
        );
    }
    if let Some(after) = after {
        q = q.filter(hazards::id.gt(after.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Hazards by id.
pub fn by_ids(
    conn: &mut DbConn,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<Hazard>, StorageError> {
    Ok(hazards::table
        .filter(hazards::org_id.eq(org_id))
        .filter(hazards::id.eq_any(ids.to_vec()))
        .select(Hazard::as_select())
        .load(conn)?)
}

/// Loads a hazard and, on PostgreSQL, locks its row until the transaction ends (SQLite has one
/// writer at a time anyway).
pub fn find_for_update(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
) -> Result<Option<Hazard>, StorageError> {
    let q = hazards::table
        .filter(hazards::org_id.eq(org_id))
        .filter(hazards::id.eq(id));
    Ok(match conn {
        DbConn::Pg(c) => q
            .select(Hazard::as_select())
            .for_update()
            .first(c)
            .optional()?,
        DbConn::Sqlite(c) => q.select(Hazard::as_select()).first(c).optional()?,
    })
}
