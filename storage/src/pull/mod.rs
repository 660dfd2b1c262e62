//! Sync pull: the current state of every entity the user may see that changed after the
//! cursor, in pages, with tombstones.
//!
//! The cursor is the organisation's change sequence (never a device time) plus the entity key
//! within it. Sequence numbers are allocated under the organisation row's lock and become
//! visible in order (see [`crate::change`]), so `seq > cursor` never skips a late commit. The
//! cursor also carries the roots of the user's visible site tree: when memberships change, the
//! next pages first deliver tombstones for what is no longer visible and then the data of newly
//! visible sites (up to the cursor's sequence; later changes arrive as usual).
//!
//! By noun: [`cursor`] (the signed cursor), [`page`] (items and their JSON), [`forms`] (the
//! stored sync forms and the items made from them); this module reads the change index.
//!
//! An entity of one person (a check task: its assignee's) carries that person as its index
//! row's `audience`, and only their pulls deliver it (at a site they read, like the rest).

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;

use crate::schema::{entity_changes as ec, org_clocks, organisations};
use crate::{sites, users, DbConn, StorageError};

pub mod cursor;
pub mod forms;
pub mod page;

pub use cursor::{Backfill, Cursor, CursorError, CursorSeal};
pub use forms::{sync_forms, SyncForm};
pub use page::{EntityData, PullItem, PullPage};

use forms::{materialise, ChangeRow};

/// Why a pull could not be answered.
#[derive(Debug)]
pub enum PullRefusal {
    /// The cursor is not one this server made.
    BadCursor,
    /// Tombstones after the cursor were pruned: re-snapshot (410).
    ResetRequired { pruned_seq: i64 },
}

/// The most items a page of the first snapshot may hold (`limit` is clamped to it while the
/// page carries `total`); later pages hold at most [`MAX_PAGE`].
pub const MAX_SNAPSHOT_PAGE: i64 = 5_000;
/// The most items of a page after the first snapshot.
pub const MAX_PAGE: i64 = 1_000;

struct View {
    /// None: everything (admin).
    site_ids: Option<BTreeSet<String>>,
}

impl View {
    fn sees(&self, site: &Option<String>) -> bool {
        match (&self.site_ids, site) {
            (None, _) | (_, None) => true,
            (Some(ids), Some(s)) => ids.contains(s),
        }
    }
}

fn roots_of(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<Vec<String>, StorageError> {
    if is_admin {
        return Ok(vec!["*".into()]);
    }
    let user = users::get(conn, org_id, user_id)?;
    let mut roots: Vec<String> = users::membership_sites(conn, &user)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    roots.sort();
    Ok(roots)
}

fn view_of(all_sites: &[sites::Site], roots: &[String]) -> View {
    if roots.iter().any(|r| r == "*") {
        return View { site_ids: None };
    }
    let paths: Vec<&str> = all_sites
        .iter()
        .filter(|s| roots.contains(&s.id))
        .map(|s| s.path.as_str())
        .collect();
    View {
        site_ids: Some(
            all_sites
                .iter()
                .filter(|s| paths.iter().any(|p| s.path.starts_with(p)))
                .map(|s| s.id.clone())
                .collect(),
        ),
    }
}

fn key(t: &str, id: &str) -> String {
    format!("{t}/{id}")
}

/// One page of changes for the user after `cursor` (`None`: the first snapshot).
pub fn pull(
    conn: &mut DbConn,
    seal: CursorSeal<'_>,
    is_admin: bool,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Result<PullPage, PullRefusal>, StorageError> {
    let (org_id, user_id) = (seal.org_id, seal.user_id);
    let now = crate::now_ms();
    let roots_now = roots_of(conn, org_id, user_id, is_admin)?;
    let all_sites = sites::list(conn, org_id)?;
    let view_now = view_of(&all_sites, &roots_now);
    let pruned: i64 = organisations::table
        .find(org_id)
        .select(organisations::pruned_seq)
        .first(conn)?;
    let head: i64 = org_clocks::table
        .find(org_id)
        .select(org_clocks::change_seq)
        .first(conn)?;
    let mut cur = match cursor.filter(|c| !c.is_empty()) {
        Some(text) => match Cursor::decode(text, seal) {
            Ok(c) => c,
            Err(CursorError::Invalid) => return Ok(Err(PullRefusal::BadCursor)),
            Err(CursorError::Unsigned) => {
                return Ok(Err(PullRefusal::ResetRequired { pruned_seq: pruned }))
            }
        },
        None => {
            let total = count_visible(conn, org_id, user_id, &view_now)?;
            Cursor {
                s: 0,
                k: String::new(),
                r: roots_now.clone(),
                bf: None,
                total: Some(total),
                p: None,
            }
        }
    };
    if cur.s > 0 && cur.s < pruned {
        return Ok(Err(PullRefusal::ResetRequired { pruned_seq: pruned }));
    }
    if cur.s > head {
        return Ok(Err(PullRefusal::BadCursor));
    }
    // Larger pages while the first snapshot is delivered: fewer round trips for a phone that
    // starts with everything.
    let limit = limit.clamp(
        1,
        if cur.total.is_some() {
            MAX_SNAPSHOT_PAGE
        } else {
            MAX_PAGE
        },
    );
    if cur.bf.is_none() && cur.r != roots_now {
        cur.bf = Some(Backfill {
            from: cur.r.clone(),
            upto: cur.s,
            phase: 0,
            k: String::new(),
        });
        cur.r = roots_now.clone();
    }
    let mut items: Vec<PullItem> = Vec::new();
    if let Some(mut bf) = cur.bf.take() {
        let view_then = view_of(&all_sites, &bf.from);
        let all_ids: Vec<String> = all_sites.iter().map(|s| s.id.clone()).collect();
        let left: Vec<String> = all_ids
            .iter()
            .filter(|s| view_then.sees(&Some((*s).clone())) && !view_now.sees(&Some((*s).clone())))
            .cloned()
            .collect();
        let entered: Vec<String> = all_ids
            .iter()
            .filter(|s| view_now.sees(&Some((*s).clone())) && !view_then.sees(&Some((*s).clone())))
            .cloned()
            .collect();
        if bf.phase == 0 {
            let rows = by_sites(conn, org_id, user_id, &left, None, &bf.k, limit)?;
            for (t, id, _, seq, ..) in &rows {
                items.push(PullItem {
                    entity_type: t.clone(),
                    id: id.clone(),
                    seq: *seq,
                    deleted: true,
                    reason: Some("not_visible"),
                    data: None,
                });
            }
            if let Some((t, id, ..)) = rows.last() {
                bf.k = key(t, id);
            }
            if (rows.len() as i64) < limit {
                bf.phase = 1;
                bf.k = String::new();
            }
        }
        if bf.phase == 1 && (items.len() as i64) < limit {
            let rows = by_sites(
                conn,
                org_id,
                user_id,
                &entered,
                Some(bf.upto),
                &bf.k,
                limit - items.len() as i64,
            )?;
            let n = rows.len() as i64;
            if let Some((t, id, ..)) = rows.last() {
                bf.k = key(t, id);
            }
            items.extend(materialise(conn, org_id, rows, now)?);
            if n < limit - (items.len() as i64 - n) {
                bf.phase = 2;
            }
        }
        if bf.phase < 2 {
            cur.bf = Some(bf);
            return Ok(Ok(page(items, cur, true, seal)));
        }
    }
    let remaining = (limit - items.len() as i64).max(1);
    // One row more than the page holds: it says whether more follow and whether the page ends
    // among the entities of one sequence.
    let mut rows = after_cursor(conn, org_id, user_id, &cur, &view_now, remaining + 1)?;
    let next_seq = (rows.len() as i64 > remaining)
        .then(|| rows.pop().map(|r| r.3))
        .flatten();
    let has_more = next_seq.is_some();
    let before = cur.position();
    if let Some((t, id, _, seq, ..)) = rows.last() {
        cur.s = *seq;
        cur.k = key(t, id);
    }
    items.extend(materialise(conn, org_id, rows, now)?);
    if has_more {
        // A sequence is passed only once all its entities were sent, so a `position` at a
        // push's `write_cursor` always means the whole push was delivered.
        let done = if next_seq == Some(cur.s) {
            cur.s - 1
        } else {
            cur.s
        };
        cur.p = Some(before.max(done));
    } else {
        cur.s = cur.s.max(head);
        cur.k = if cur.s == head { cur.k } else { String::new() };
        cur.p = Some(cur.s);
    }
    let total = cur.total;
    if !has_more {
        cur.total = None;
    }
    let mut p = page(items, cur, has_more, seal);
    p.total = total;
    Ok(Ok(p))
}

fn page(items: Vec<PullItem>, cur: Cursor, has_more: bool, seal: CursorSeal<'_>) -> PullPage {
    PullPage {
        items,
        position: cur.position().to_string(),
        total: cur.total,
        next_cursor: cur.encode(seal),
        has_more,
    }
}

fn count_visible(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    view: &View,
) -> Result<i64, StorageError> {
    let mut q = ec::table
        .filter(ec::org_id.eq(org_id))
        .filter(ec::deleted.eq(false))
        .into_boxed();
    if let Some(ids) = &view.site_ids {
        q = q.filter(
            ec::site_id
                .is_null()
                .or(ec::site_id.eq_any(ids.iter().cloned().collect::<Vec<_>>())),
        );
    }
    // Entities of one person (a check task) go to that person's phone only.
    q = q.filter(
        ec::audience
            .is_null()
            .or(ec::audience.eq(user_id.to_string())),
    );
    Ok(q.count().get_result(conn)?)
}

fn after_cursor(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    cur: &Cursor,
    view: &View,
    limit: i64,
) -> Result<Vec<ChangeRow>, StorageError> {
    let (t, id) = cur.k.split_once('/').unwrap_or(("", ""));
    let mut q = ec::table
        .filter(ec::org_id.eq(org_id))
        // The range the index serves; the OR below alone would make the database walk the
        // organisation's index from its start on every page.
        .filter(ec::seq.ge(cur.s))
        .filter(
            ec::seq.gt(cur.s).or(ec::seq.eq(cur.s).and(
                ec::entity_type.gt(t.to_string()).or(ec::entity_type
                    .eq(t.to_string())
                    .and(ec::entity_id.gt(id.to_string()))),
            )),
        )
        .order((ec::seq.asc(), ec::entity_type.asc(), ec::entity_id.asc()))
        .limit(limit)
        .select((
            ec::entity_type,
            ec::entity_id,
            ec::site_id,
            ec::seq,
            ec::deleted,
            ec::data,
            ec::due_at,
        ))
        .into_boxed();
    if let Some(ids) = &view.site_ids {
        q = q.filter(
            ec::site_id
                .is_null()
                .or(ec::site_id.eq_any(ids.iter().cloned().collect::<Vec<_>>())),
        );
    }
    // Entities of one person (a check task) go to that person's phone only.
    q = q.filter(
        ec::audience
            .is_null()
            .or(ec::audience.eq(user_id.to_string())),
    );
    Ok(q.load(conn)?)
}

fn by_sites(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    site_ids: &[String],
    upto: Option<i64>,
    after_key: &str,
    limit: i64,
) -> Result<Vec<ChangeRow>, StorageError> {
    if site_ids.is_empty() {
        return Ok(Vec::new());
    }
    let (t, id) = after_key.split_once('/').unwrap_or(("", ""));
    let mut q = ec::table
        .filter(ec::org_id.eq(org_id))
        .filter(ec::site_id.eq_any(site_ids.to_vec()))
        .filter(
            ec::entity_type.gt(t.to_string()).or(ec::entity_type
                .eq(t.to_string())
                .and(ec::entity_id.gt(id.to_string()))),
        )
        .order((ec::entity_type.asc(), ec::entity_id.asc()))
        .limit(limit)
        .select((
            ec::entity_type,
            ec::entity_id,
            ec::site_id,
            ec::seq,
            ec::deleted,
            ec::data,
            ec::due_at,
        ))
        .into_boxed();
    if let Some(u) = upto {
        q = q.filter(ec::seq.le(u)).filter(ec::deleted.eq(false));
    }
    q = q.filter(
        ec::audience
            .is_null()
            .or(ec::audience.eq(user_id.to_string())),
    );
    Ok(q.load(conn)?)
}

/// Deletes tombstones older than `cutoff` and remembers the highest sequence pruned: cursors
/// below it answer `reset_required`. Returns how many were pruned.
pub fn prune_tombstones(conn: &mut DbConn, cutoff: i64) -> Result<usize, StorageError> {
    let doomed: Vec<(String, i64)> = ec::table
        .filter(ec::deleted.eq(true))
        .filter(ec::changed_at.lt(cutoff))
        .select((ec::org_id, ec::seq))
        .load(conn)?;
    let mut max_by_org: BTreeMap<String, i64> = BTreeMap::new();
    for (org, seq) in &doomed {
        let e = max_by_org.entry(org.clone()).or_default();
        *e = (*e).max(*seq);
    }
    for (org, seq) in &max_by_org {
        diesel::update(
            organisations::table
                .find(org)
                .filter(organisations::pruned_seq.lt(*seq)),
        )
        .set(organisations::pruned_seq.eq(*seq))
        .execute(conn)?;
    }
    let n = diesel::delete(
        ec::table
            .filter(ec::deleted.eq(true))
            .filter(ec::changed_at.lt(cutoff)),
    )
    .execute(conn)?;
    Ok(n)
}
