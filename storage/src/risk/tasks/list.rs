//! Reading check tasks for lists: by site visibility, assignee, unit, window and state.

use diesel::prelude::*;
use hazardloop_sync::risk::TaskState;

use super::{Task, MISSED, OPEN};
use crate::schema::{check_tasks, sites};
use crate::{DbConn, StorageError};

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Materialised paths the caller sees (`None`: everything).
    pub visible_paths: Option<Vec<String>>,
    /// Only tasks at this site or below (its path).
    pub under_path: Option<String>,
    pub assignee_id: Option<String>,
    pub unit_id: Option<String>,
    /// upcoming, due or missed, at `now`.
    pub state: Option<TaskState>,
    /// Only tasks whose window ends after this and starts before `to`.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Tasks by window start, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    f: &TaskFilter,
    now: i64,
    limit: i64,
) -> Result<Vec<Task>, StorageError> {
    let mut q = check_tasks::table
        .inner_join(sites::table.on(sites::id.eq(check_tasks::site_id)))
        .filter(check_tasks::org_id.eq(org_id))
        .select(Task::as_select())
        .order((check_tasks::window_start.asc(), check_tasks::id.asc()))
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
    if let Some(p) = &f.under_path {
        q = q.filter(sites::path.like(format!("{p}%")));
    }
    if let Some(a) = &f.assignee_id {
        q = q.filter(check_tasks::assignee_id.eq(a.clone()));
    }
    if let Some(u) = &f.unit_id {
        q = q.filter(check_tasks::unit_id.eq(u.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(check_tasks::window_end.gt(from));
    }
    if let Some(to) = f.to {
        q = q.filter(check_tasks::window_start.lt(to));
    }
    q = match f.state {
        Some(TaskState::Upcoming) => q
            .filter(check_tasks::state.eq(OPEN))
            .filter(check_tasks::window_start.gt(now)),
        Some(TaskState::Due) => q
            .filter(check_tasks::state.eq(OPEN))
            .filter(check_tasks::window_start.le(now))
            .filter(check_tasks::window_end.gt(now)),
        Some(TaskState::Missed) => q.filter(
            check_tasks::state.eq(MISSED).or(check_tasks::state
                .eq(OPEN)
                .and(check_tasks::window_end.le(now))),
        ),
        // Records are not taken yet: no task is done.
        Some(TaskState::Done | TaskState::DoneLate) => return Ok(Vec::new()),
        None => q,
    };
    Ok(q.load(conn)?)
}
