//! Sync pull: the current state of every entity the user may see that changed after the
//! cursor, in pages, with tombstones.
//!
//! The cursor is the organisation's change sequence (never a device time) plus the entity key
//! within it. Sequence numbers are allocated under the organisation row's lock and become
//! visible in order (see [`crate::change`]), so `seq > cursor` never skips a late commit. The
//! cursor also carries the roots of the user's visible site tree: when memberships change, the
//! next pages first deliver tombstones for what is no longer visible and then the data of newly
//! visible sites (up to the cursor's sequence; later changes arrive as usual).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::schema::{entity_changes as ec, org_clocks, organisations};
use crate::{hazards, inspections, sites, templates, users, DbConn, StorageError};

/// Where a client is in its stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    /// Change sequence reached.
    pub s: i64,
    /// Last entity key (`type/id`) delivered at sequence `s`.
    pub k: String,
    /// Visible roots when the cursor was made (`*` for an admin).
    pub r: Vec<String>,
    /// A visibility change being reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bf: Option<Backfill>,
    /// Total entities of the first snapshot, while it is being delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The page's `position`: every entity of every sequence up to it was sent. Behind `s`
    /// while a page has ended among the entities of sequence `s` (one push shares one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<i64>,
}

/// Reconciling a change of visible sites.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Backfill {
    /// Roots before the change.
    pub from: Vec<String>,
    /// Backfill entities changed up to this sequence (later ones come incrementally).
    pub upto: i64,
    /// 0: tombstones for what left the view; 1: data for what entered it.
    pub phase: u8,
    /// Last key delivered in this phase.
    pub k: String,
}

/// What a cursor is signed for: the server's cursor key and the user it was made for. The
/// cursor carries the roots of the view it was made under, and the tombstones of a backfill
/// are computed from them; unsigned, a forged cursor claiming an admin's roots would list the
/// ids of every entity the caller may not read.
#[derive(Clone, Copy)]
pub struct CursorSeal<'a> {
    /// A secret shared by the nodes (derived from the token signing key).
    pub key: &'a [u8],
    pub org_id: &'a str,
    pub user_id: &'a str,
}

impl std::fmt::Debug for CursorSeal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorSeal")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl CursorSeal<'_> {
    fn mac(&self, body: &str) -> Vec<u8> {
        use hmac::Mac;
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key) else {
            return Vec::new();
        };
        for part in [self.org_id, "\n", self.user_id, "\n", body] {
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// A cursor text that is not a valid cursor for this caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// Not a cursor, or signed for someone else, or altered.
    Invalid,
    /// A well-formed cursor without a signature (made before cursors were signed): the client
    /// snapshots again.
    Unsigned,
}

impl Cursor {
    /// The opaque text form: the JSON in base64, a dot, and its signature.
    pub fn encode(&self, seal: CursorSeal<'_>) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b64.encode(serde_json::to_vec(self).unwrap_or_default());
        let mac = b64.encode(seal.mac(&body));
        format!("{body}.{mac}")
    }

    /// The sequence the client has all of (see [`Cursor::p`]). A cursor without `p` (made
    /// before it existed) counts its last sequence as complete only when no key is pending.
    pub fn position(&self) -> i64 {
        self.p.unwrap_or(if self.k.is_empty() {
            self.s
        } else {
            self.s - 1
        })
    }

    /// Parses the opaque text form and checks its signature.
    pub fn decode(text: &str, seal: CursorSeal<'_>) -> Result<Cursor, CursorError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parse =
            |body: &str| -> Option<Cursor> { serde_json::from_slice(&b64.decode(body).ok()?).ok() };
        let Some((body, mac)) = text.split_once('.') else {
            return match parse(text) {
                Some(_) => Err(CursorError::Unsigned),
                None => Err(CursorError::Invalid),
            };
        };
        let given = b64.decode(mac).map_err(|_| CursorError::Invalid)?;
        let expected = seal.mac(body);
        // Constant time: the comparison must not tell how much of a guess was right.
        let same = given.len() == expected.len()
            && given
                .iter()
                .zip(&expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same || expected.is_empty() {
            return Err(CursorError::Invalid);
        }
        parse(body).ok_or(CursorError::Invalid)
    }
}

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

/// An entity's current state in a page.
#[derive(Debug, Clone)]
pub enum EntityData {
    Hazard(Box<hazards::HazardView>),
    Inspection(Box<inspections::InspectionView>),
    Other(Value),
    /// The stored sync form (see [`SyncForm`]), JSON text sent as it is.
    Stored(String),
}

impl EntityData {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            EntityData::Hazard(v) => push_json(out, v),
            EntityData::Inspection(v) => push_json(out, v),
            EntityData::Other(v) => push_json(out, v),
            EntityData::Stored(text) => out.extend_from_slice(text.as_bytes()),
        }
    }

    fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Appends `value` as JSON (`null` in the impossible case that it does not serialise).
fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

/// One item of a page: an entity's current state, or a tombstone.
#[derive(Debug, Clone)]
pub struct PullItem {
    pub entity_type: String,
    pub id: String,
    pub seq: i64,
    pub deleted: bool,
    /// `not_visible` for a tombstone of an entity that left the caller's view.
    pub reason: Option<&'static str>,
    pub data: Option<EntityData>,
}

impl PullItem {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":");
        push_json(out, &self.entity_type);
        out.extend_from_slice(b",\"id\":");
        push_json(out, &self.id);
        out.extend_from_slice(
            format!(",\"seq\":{},\"deleted\":{}", self.seq, self.deleted).as_bytes(),
        );
        if let Some(reason) = self.reason {
            out.extend_from_slice(b",\"reason\":");
            push_json(out, reason);
        }
        if let Some(data) = &self.data {
            out.extend_from_slice(b",\"data\":");
            data.write_json(out);
        }
        out.push(b'}');
    }

    /// The item as a JSON value (tests and tools; the answer is written with
    /// [`PullPage::to_json`]).
    pub fn to_value(&self) -> Value {
        let mut out = Vec::new();
        self.write_json(&mut out);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }
}

/// One page.
#[derive(Debug, Clone)]
pub struct PullPage {
    pub items: Vec<PullItem>,
    pub next_cursor: String,
    pub has_more: bool,
    /// The change sequence this page reaches (compare with a push's `write_cursor`).
    pub position: String,
    /// While the first snapshot is delivered: how many entities it holds.
    pub total: Option<i64>,
}

impl PullPage {
    /// The answer's JSON body: the items' stored sync forms are copied in as they are, so a
    /// page of the first snapshot is a range scan and a concatenation.
    pub fn to_json(&self) -> Vec<u8> {
        let guess: usize = self
            .items
            .iter()
            .map(|i| match &i.data {
                Some(EntityData::Stored(t)) => t.len() + 128,
                _ => 1024,
            })
            .sum();
        let mut out = Vec::with_capacity(guess + 512);
        out.extend_from_slice(b"{\"items\":[");
        for (n, item) in self.items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            item.write_json(&mut out);
        }
        out.extend_from_slice(b"],\"next_cursor\":");
        push_json(&mut out, &self.next_cursor);
        out.extend_from_slice(format!(",\"has_more\":{},\"position\":", self.has_more).as_bytes());
        push_json(&mut out, &self.position);
        if let Some(total) = self.total {
            out.extend_from_slice(format!(",\"total\":{total}").as_bytes());
        }
        out.push(b'}');
        out
    }
}

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
type ChangeRow = (
    String,
    String,
    Option<String>,
    i64,
    bool,
    Option<String>,
    Option<i64>,
);

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
                        EntityData::Other(crate::engine::template_view(&row)),
                    );
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

/// The items of changed entities, in the order given: each live one from its stored sync
/// form, or (a row written before forms were stored) built from the entity's tables.
fn materialise(
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
            let total = count_visible(conn, org_id, &view_now)?;
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
            let rows = by_sites(conn, org_id, &left, None, &bf.k, limit)?;
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
    let mut rows = after_cursor(conn, org_id, &cur, &view_now, remaining + 1)?;
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

fn count_visible(conn: &mut DbConn, org_id: &str, view: &View) -> Result<i64, StorageError> {
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
    Ok(q.count().get_result(conn)?)
}

fn after_cursor(
    conn: &mut DbConn,
    org_id: &str,
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
    Ok(q.load(conn)?)
}

fn by_sites(
    conn: &mut DbConn,
    org_id: &str,
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_page_is_written_as_the_json_it_always_was() {
        let page = PullPage {
            items: vec![
                PullItem {
                    entity_type: "hazard".into(),
                    id: "a\"b".into(),
                    seq: 7,
                    deleted: false,
                    reason: None,
                    data: Some(EntityData::Stored(r#"{"id":"a\"b","n":1}"#.into())),
                },
                PullItem {
                    entity_type: "site".into(),
                    id: "s".into(),
                    seq: 8,
                    deleted: true,
                    reason: Some("not_visible"),
                    data: None,
                },
                PullItem {
                    entity_type: "template".into(),
                    id: "t".into(),
                    seq: 9,
                    deleted: false,
                    reason: None,
                    data: Some(EntityData::Other(json!({"k": [1, 2]}))),
                },
            ],
            next_cursor: "c.d".into(),
            has_more: true,
            position: "8".into(),
            total: Some(3),
        };
        let v: Value = serde_json::from_slice(&page.to_json()).expect("JSON");
        assert_eq!(
            v,
            json!({
                "items": [
                    {"type": "hazard", "id": "a\"b", "seq": 7, "deleted": false, "data": {"id": "a\"b", "n": 1}},
                    {"type": "site", "id": "s", "seq": 8, "deleted": true, "reason": "not_visible"},
                    {"type": "template", "id": "t", "seq": 9, "deleted": false, "data": {"k": [1, 2]}},
                ],
                "next_cursor": "c.d",
                "has_more": true,
                "position": "8",
                "total": 3,
            })
        );
        assert_eq!(page.items[1].to_value()["reason"], "not_visible");
        let last = PullPage {
            total: None,
            has_more: false,
            ..page
        };
        let v: Value = serde_json::from_slice(&last.to_json()).expect("JSON");
        assert!(v.get("total").is_none());
    }
}
