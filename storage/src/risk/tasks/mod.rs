//! Check task instances and the job that makes them.
//!
//! The job ([`run`]) creates, for every active duty, the task of each window the duty's
//! schedule defines (`hazardloop_sync::risk::cycle`) from where it stopped last time
//! (`check_duties.generated_until`) up to a horizon ahead of now, with the unit's pauses cut
//! away; then it marks every open task whose window has closed as missed, once. Both steps
//! are idempotent: a task's key is `(duty_id, period_start)` (unique; inserts do nothing on
//! conflict) and the missed mark is a conditional update whose winner alone records the
//! `task.missed` event. So two nodes running it at once, or one running it again, make each
//! window once, and a run after downtime catches up on every window in between (those already
//! closed become missed at once).

use std::collections::HashMap;

use diesel::prelude::*;
use hazardloop_sync::event;
use hazardloop_sync::risk::{task_state, TaskState, Window};
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::json;

use super::duties::Duty;
use super::pauses::{self, PauseRow};
use crate::change::Change;
use crate::schema::{check_duties, check_tasks};
use crate::{new_id, DbConn, StorageError};

mod list;
pub use list::{list, TaskFilter};

/// A task whose window has not closed yet, or closed with a record the job has not seen.
pub const OPEN: &str = "open";
/// A task whose window closed without a record.
pub const MISSED: &str = "missed";

/// How far ahead of now the job makes tasks (windows opening within it): two days.
pub const DEFAULT_HORIZON_MS: i64 = 2 * 86_400_000;

/// A task as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = check_tasks, treat_none_as_null = true)]
pub struct Task {
    pub id: String,
    pub org_id: String,
    pub duty_id: String,
    pub unit_id: String,
    pub site_id: String,
    /// Where the window opens before pauses: the task's identity within its duty.
    pub period_start: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub assignee_id: Option<String>,
    pub post: Option<String>,
    pub state: String,
    pub missed_at: Option<i64>,
    pub created_at: i64,
}

/// What clients see of a task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub id: String,
    pub duty_id: String,
    pub unit_id: String,
    pub site_id: String,
    pub window_start: String,
    pub window_end: String,
    pub assignee_id: Option<String>,
    pub post: Option<String>,
    /// upcoming, due, done, done_late or missed ([`TaskState`]).
    pub state: String,
    pub missed_at: Option<String>,
    pub created_at: String,
}

impl Task {
    /// The task's window.
    pub fn window(&self) -> Window {
        Window {
            start_ms: self.window_start,
            end_ms: self.window_end,
        }
    }

    /// Its state at `now`.
    pub fn state_at(&self, now: i64) -> TaskState {
        if self.state == MISSED {
            return TaskState::Missed;
        }
        task_state(self.window(), None, now)
    }

    /// Records the task's change in the index pulls read: a task with an assignee goes to
    /// that person's phone (one with only a post is not pulled: who holds a post is not known).
    pub fn touch(&self, change: &mut Change, deleted: bool) {
        if let Some(a) = &self.assignee_id {
            change.touch_for("check_task", &self.id, &self.site_id, deleted, a);
        }
    }

    /// The public view at `now`.
    pub fn view(&self, now: i64) -> TaskView {
        TaskView {
            id: self.id.clone(),
            duty_id: self.duty_id.clone(),
            unit_id: self.unit_id.clone(),
            site_id: self.site_id.clone(),
            window_start: format_rfc3339_ms(self.window_start),
            window_end: format_rfc3339_ms(self.window_end),
            assignee_id: self.assignee_id.clone(),
            post: self.post.clone(),
            state: self.state_at(now).as_str().into(),
            missed_at: self.missed_at.map(format_rfc3339_ms),
            created_at: format_rfc3339_ms(self.created_at),
        }
    }
}

/// What one run of the job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Tasks created.
    pub created: usize,
    /// Tasks marked missed (one `task.missed` event each).
    pub missed: usize,
}

/// One run of the task job at `now`: generate up to `now + horizon_ms` (rounded down to the
/// hour), then mark missed.
/// Call it inside a write transaction.
pub fn run(conn: &mut DbConn, now: i64, horizon_ms: i64) -> Result<RunReport, StorageError> {
    // The horizon moves by whole hours, so a duty already generated to it is skipped by the
    // query until the next hour, instead of every duty's mark being rewritten on every tick.
    const HOUR_MS: i64 = 3_600_000;
    let until = (now + horizon_ms).div_euclid(HOUR_MS) * HOUR_MS;
    Ok(RunReport {
        created: generate(conn, now, until)?,
        missed: mark_missed(conn, now, 10_000)?,
    })
}

/// Creates the tasks of every active duty whose windows open before `until`; returns how many
/// were new.
pub fn generate(conn: &mut DbConn, now: i64, until: i64) -> Result<usize, StorageError> {
    let duties: Vec<Duty> = check_duties::table
        .filter(check_duties::active.eq(true))
        .filter(
            check_duties::generated_until
                .is_null()
                .or(check_duties::generated_until.lt(until)),
        )
        .order((check_duties::org_id.asc(), check_duties::id.asc()))
        .select(Duty::as_select())
        .load(conn)?;
    let mut offsets: HashMap<String, i32> = HashMap::new();
    let mut unit_pauses: HashMap<String, Vec<PauseRow>> = HashMap::new();
    let mut created: Vec<Task> = Vec::new();
    for duty in duties {
        let offset = match offsets.get(&duty.org_id) {
            Some(o) => *o,
            None => {
                let o = super::settings(conn, &duty.org_id, now)?.utc_offset_minutes;
                offsets.insert(duty.org_id.clone(), o);
                o
            }
        };
        if !unit_pauses.contains_key(&duty.unit_id) {
            let p = pauses::of_unit(conn, &duty.unit_id)?;
            unit_pauses.insert(duty.unit_id.clone(), p);
        }
        let pauses: Vec<_> = unit_pauses[&duty.unit_id]
            .iter()
            .map(PauseRow::pause)
            .collect();
        let from = duty.generated_until.unwrap_or(0);
        if let Some(schedule) = duty.schedule(offset) {
            let rows: Vec<Task> = schedule
                .slots(from, until, &pauses)
                .into_iter()
                .map(|slot| Task {
                    id: new_id(),
                    org_id: duty.org_id.clone(),
                    duty_id: duty.id.clone(),
                    unit_id: duty.unit_id.clone(),
                    site_id: duty.site_id.clone(),
                    period_start: slot.period_start_ms,
                    window_start: slot.window.start_ms,
                    window_end: slot.window.end_ms,
                    assignee_id: duty.assignee_id.clone(),
                    post: duty.post.clone(),
                    state: OPEN.into(),
                    missed_at: None,
                    created_at: now,
                })
                .collect();
            created.extend(insert_new(conn, rows)?);
        }
        // Only forwards: a slower run that started earlier never moves the mark back.
        diesel::update(
            check_duties::table.find(&duty.id).filter(
                check_duties::generated_until
                    .is_null()
                    .or(check_duties::generated_until.lt(until)),
            ),
        )
        .set(check_duties::generated_until.eq(until))
        .execute(conn)?;
    }
    // The new tasks enter the change index in this transaction, one change per organisation
    // (duties come ordered by it).
    let mut i = 0;
    while i < created.len() {
        let org = created[i].org_id.clone();
        let mut change = Change::begin(conn, &org, now)?;
        while i < created.len() && created[i].org_id == org {
            created[i].touch(&mut change, false);
            i += 1;
        }
        change.finish(conn)?;
    }
    Ok(created.len())
}

/// Inserts the tasks whose `(duty_id, period_start)` is new; returns those.
fn insert_new(conn: &mut DbConn, rows: Vec<Task>) -> Result<Vec<Task>, StorageError> {
    let mut new = Vec::new();
    match conn {
        DbConn::Pg(c) => {
            for chunk in rows.chunks(500) {
                let ids: std::collections::HashSet<String> =
                    diesel::insert_into(check_tasks::table)
                        .values(chunk)
                        .on_conflict((check_tasks::duty_id, check_tasks::period_start))
                        .do_nothing()
                        .returning(check_tasks::id)
                        .get_results::<String>(c)?
                        .into_iter()
                        .collect();
                new.extend(chunk.iter().filter(|t| ids.contains(&t.id)).cloned());
            }
        }
        DbConn::Sqlite(c) => {
            for row in rows {
                let k = diesel::insert_into(check_tasks::table)
                    .values(&row)
                    .on_conflict((check_tasks::duty_id, check_tasks::period_start))
                    .do_nothing()
                    .execute(c)?;
                if k == 1 {
                    new.push(row);
                }
            }
        }
    }
    Ok(new)
}

/// Marks open tasks whose window closed by `now` as missed and records `task.missed` for each,
/// once: the update is conditional on the task still being open, so a second marker changes
/// nothing and records nothing. One change (audit transaction part) per organisation.
pub fn mark_missed(conn: &mut DbConn, now: i64, limit: i64) -> Result<usize, StorageError> {
    let due: Vec<Task> = check_tasks::table
        .filter(check_tasks::state.eq(OPEN))
        .filter(check_tasks::window_end.le(now))
        .order((
            check_tasks::org_id.asc(),
            check_tasks::window_end.asc(),
            check_tasks::id.asc(),
        ))
        .limit(limit)
        .select(Task::as_select())
        .load(conn)?;
    let mut recorded = 0;
    let mut i = 0;
    while i < due.len() {
        let org = due[i].org_id.clone();
        let mut change = Change::begin(conn, &org, now)?;
        while i < due.len() && due[i].org_id == org {
            let t = &due[i];
            i += 1;
            let n = diesel::update(
                check_tasks::table
                    .find(&t.id)
                    .filter(check_tasks::state.eq(OPEN)),
            )
            .set((
                check_tasks::state.eq(MISSED),
                check_tasks::missed_at.eq(now),
            ))
            .execute(conn)?;
            if n == 0 {
                continue;
            }
            let mut done = t.clone();
            done.state = MISSED.into();
            done.missed_at = Some(now);
            done.touch(&mut change, false);
            super::record(
                conn,
                &mut change,
                "check_task",
                &t.id,
                &t.site_id,
                None,
                event::TASK_MISSED,
                json!({
                    "duty_id": t.duty_id,
                    "unit_id": t.unit_id,
                    "assignee_id": t.assignee_id,
                    "post": t.post,
                    "window_start": format_rfc3339_ms(t.window_start),
                    "window_end": format_rfc3339_ms(t.window_end),
                }),
            )?;
            recorded += 1;
        }
        change.finish(conn)?;
    }
    Ok(recorded)
}

/// Fits a unit's open tasks to its pauses: a window now wholly paused is withdrawn (deleted;
/// it never had a record), one partly paused is cut back. Returns how many were withdrawn.
pub fn apply_pauses(
    conn: &mut DbConn,
    change: &mut Change,
    unit_id: &str,
    pauses: &[PauseRow],
) -> Result<usize, StorageError> {
    let open: Vec<Task> = check_tasks::table
        .filter(check_tasks::unit_id.eq(unit_id))
        .filter(check_tasks::state.eq(OPEN))
        .select(Task::as_select())
        .load(conn)?;
    if open.is_empty() {
        return Ok(0);
    }
    let pauses: Vec<_> = pauses.iter().map(PauseRow::pause).collect();
    let duties: HashMap<String, Duty> = check_duties::table
        .filter(check_duties::unit_id.eq(unit_id))
        .select(Duty::as_select())
        .load::<Duty>(conn)?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect();
    let mut offsets: HashMap<String, i32> = HashMap::new();
    let mut withdrawn = 0;
    for t in open {
        let Some(duty) = duties.get(&t.duty_id) else {
            continue;
        };
        let offset = match offsets.get(&t.org_id) {
            Some(o) => *o,
            None => {
                let o = super::settings(conn, &t.org_id, t.created_at)?.utc_offset_minutes;
                offsets.insert(t.org_id.clone(), o);
                o
            }
        };
        let Some(schedule) = duty.schedule(offset) else {
            continue;
        };
        let slot = schedule
            .slots(t.period_start, t.period_start + 1, &pauses)
            .into_iter()
            .find(|s| s.period_start_ms == t.period_start);
        match slot {
            None => {
                withdrawn += diesel::delete(check_tasks::table.find(&t.id)).execute(conn)?;
                t.touch(change, true);
            }
            Some(s) if s.window != t.window() => {
                diesel::update(check_tasks::table.find(&t.id))
                    .set((
                        check_tasks::window_start.eq(s.window.start_ms),
                        check_tasks::window_end.eq(s.window.end_ms),
                    ))
                    .execute(conn)?;
                let mut cut = t.clone();
                cut.window_start = s.window.start_ms;
                cut.window_end = s.window.end_ms;
                cut.touch(change, false);
            }
            Some(_) => {}
        }
    }
    Ok(withdrawn)
}
