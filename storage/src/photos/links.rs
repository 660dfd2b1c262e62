//! Links from entities to photos: the grow-only set through which hazards and inspections
//! use photos, and through which readers gain access to them.

use std::collections::HashMap;

use diesel::prelude::*;
use hazardloop_sync::photo::{PhotoRole, PhotoStatus};

use super::link_rows::PhotoLink;
use super::{ensure_row, find, parse_sha256, status_map};
use crate::access::Visibility;
use crate::schema::{photo_links, photo_uploaders, photos, sites};
use crate::{now_ms, DbConn, StorageError};

/// The entity a photo is linked to.
#[derive(Debug, Clone, Copy)]
pub struct LinkTarget<'a> {
    /// `hazard`, `inspection`, ...
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    /// The entity's site in the same organisation.
    pub site_id: &'a str,
    /// The entity's report (or start) time by the device clock.
    pub reported_at: Option<i64>,
}

/// What linking did.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The photo's status.
    pub status: PhotoStatus,
    /// True when the link is new (linking again changes nothing).
    pub fresh: bool,
    /// For a new link to a photo with bytes: the photo's flags and the link's. Empty when
    /// there are none, the link existed, or the bytes have not arrived.
    pub flags: Vec<serde_json::Value>,
    /// The link row.
    pub link: PhotoLink,
}

/// Who makes a link.
#[derive(Debug, Clone, Copy)]
pub enum LinkedBy<'a> {
    /// The server itself (trusted).
    Server,
    /// A caller, with what they may read.
    Caller {
        user_id: &'a str,
        visibility: &'a Visibility,
    },
}

/// Links a photo to an entity, inside the caller's transaction. Idempotent: linking the same
/// photo to the same entity with the same role again changes nothing; links are never
/// removed. A photo whose bytes have not arrived is created as pending and completes when
/// they do. Returns the photo's status.
///
/// `entity_type` is a short lower-case noun (`hazard`, `inspection`); `role` one of
/// [`PhotoRole`]; `site_id` the entity's site in the same organisation.
pub fn link(
    conn: &mut DbConn,
    org_id: &str,
    entity_type: &str,
    entity_id: &str,
    site_id: &str,
    sha256: &str,
    role: &str,
) -> Result<PhotoStatus, StorageError> {
    let target = LinkTarget {
        entity_type,
        entity_id,
        site_id,
        reported_at: None,
    };
    Ok(link_evidence(conn, org_id, &target, sha256, role, 0, LinkedBy::Server)?.status)
}

/// Whether `user_id` holds the photo's bytes (uploaded them) or may read it through a vouched
/// link at a site they see.
fn holds_or_reads(
    conn: &mut DbConn,
    org_id: &str,
    sha: &str,
    user_id: &str,
    visibility: &Visibility,
) -> Result<bool, StorageError> {
    if *visibility == Visibility::All {
        return Ok(true);
    }
    let uploaded: i64 = photo_uploaders::table
        .filter(photo_uploaders::org_id.eq(org_id))
        .filter(photo_uploaders::sha256.eq(sha))
        .filter(photo_uploaders::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    if uploaded > 0 {
        return Ok(true);
    }
    let paths: Vec<String> = photo_links::table
        .inner_join(sites::table.on(sites::id.eq(photo_links::site_id)))
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::sha256.eq(sha))
        .filter(photo_links::vouched.eq(true))
        .select(sites::path)
        .load(conn)?;
    Ok(paths.iter().any(|p| visibility.sees_path(p)))
}

/// [`link`] on behalf of `by`, judging the evidence.
///
/// A caller who links a photo the server already knows but that they neither hold nor may read
/// (another site's photo, named by its id) gets an unvouched link: the photo reads as pending on
/// their entity, exactly as an id nobody ever uploaded, with no flags, and their entity's
/// readers gain nothing until someone who sees the entity's site uploads the bytes (which
/// proves they hold them).
///
/// A new (or newly vouched) link to a photo whose bytes are here gets its flags (a capture more
/// than `max_capture_age_ms` before `target.reported_at`, a GPS outside the site's circle) at
/// once; a link to a pending photo gets them when the bytes arrive.
pub fn link_evidence(
    conn: &mut DbConn,
    org_id: &str,
    target: &LinkTarget<'_>,
    sha256: &str,
    role: &str,
    max_capture_age_ms: i64,
    by: LinkedBy<'_>,
) -> Result<Linked, StorageError> {
    let LinkTarget {
        entity_type,
        entity_id,
        site_id,
        reported_at,
    } = *target;
    let sha = parse_sha256(sha256)
        .ok_or_else(|| StorageError::Invalid(format!("{sha256} is not a photo id")))?;
    let role: PhotoRole = role
        .parse()
        .map_err(|e: hazardloop_sync::ParseError| StorageError::Invalid(e.to_string()))?;
    let type_ok = !entity_type.is_empty()
        && entity_type.len() <= 40
        && entity_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_');
    if !type_ok || entity_id.is_empty() || entity_id.len() > 100 {
        return Err(StorageError::Invalid(format!(
            "cannot link a photo to {entity_type} {entity_id}"
        )));
    }
    let same_org: i64 = sites::table
        .filter(sites::org_id.eq(org_id))
        .filter(sites::id.eq(site_id))
        .count()
        .get_result(conn)?;
    if same_org == 0 {
        return Err(StorageError::Invalid(format!(
            "site {site_id} does not exist"
        )));
    }
    let vouched = match by {
        LinkedBy::Server => true,
        LinkedBy::Caller {
            user_id,
            visibility,
        } => {
            find(conn, org_id, &sha)?.is_none()
                || holds_or_reads(conn, org_id, &sha, user_id, visibility)?
        }
    };
    ensure_row(conn, org_id, &sha)?;
    let row = PhotoLink {
        org_id: org_id.to_string(),
        entity_type: entity_type.to_string(),
        entity_id: entity_id.to_string(),
        site_id: site_id.to_string(),
        sha256: sha.clone(),
        role: role.as_str().to_string(),
        created_at: now_ms(),
        reported_at,
        flags: "[]".into(),
        vouched,
    };
    let inserted = crate::db_run!(conn, |c| diesel::insert_into(photo_links::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c)?);
    // A link made unvouched earlier becomes vouched when someone who may stands behind it.
    let newly_vouched = vouched
        && inserted == 0
        && diesel::update(
            photo_links::table
                .find((org_id, entity_type, entity_id, &sha, &row.role))
                .filter(photo_links::vouched.eq(false)),
        )
        .set(photo_links::vouched.eq(true))
        .execute(conn)?
            == 1;
    let fresh = inserted == 1 || newly_vouched;
    if !vouched {
        return Ok(Linked {
            status: PhotoStatus::Pending,
            fresh,
            flags: Vec::new(),
            link: row,
        });
    }
    let photo = super::find(conn, org_id, &sha)?.ok_or(StorageError::NotFound)?;
    let flags = if fresh {
        super::evidence::link_flags(conn, &photo, &row, max_capture_age_ms)?
    } else {
        Vec::new()
    };
    Ok(Linked {
        status: photo.status(),
        fresh,
        flags,
        link: row,
    })
}

/// Vouches for the unvouched links to a photo from entities at sites `visibility` covers:
/// called when `visibility`'s holder uploads the bytes.
pub fn vouch(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
    visibility: &Visibility,
) -> Result<usize, StorageError> {
    let pending: Vec<(String, String, String, String)> = photo_links::table
        .inner_join(sites::table.on(sites::id.eq(photo_links::site_id)))
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::sha256.eq(sha256))
        .filter(photo_links::vouched.eq(false))
        .select((
            photo_links::entity_type,
            photo_links::entity_id,
            photo_links::role,
            sites::path,
        ))
        .load(conn)?;
    let mut n = 0;
    for (entity_type, entity_id, role, path) in pending {
        if visibility.sees_path(&path) {
            n += diesel::update(photo_links::table.find((
                org_id,
                &entity_type,
                &entity_id,
                sha256,
                &role,
            )))
            .set(photo_links::vouched.eq(true))
            .execute(conn)?;
        }
    }
    Ok(n)
}

/// The status of each photo, for entity responses: `pending` until the bytes arrive (also for
/// ids the server has never heard of), then `stored`, `ready` or `failed`.
pub fn statuses(
    conn: &mut DbConn,
    org_id: &str,
    shas: &[String],
) -> Result<HashMap<String, PhotoStatus>, StorageError> {
    let normalised: Vec<String> = shas.iter().filter_map(|s| parse_sha256(s)).collect();
    let mut map = status_map(conn, org_id, &normalised)?;
    // Answer under the ids as the caller wrote them.
    for raw in shas {
        if let Some(sha) = parse_sha256(raw) {
            if let Some(s) = map.get(&sha).copied() {
                map.insert(raw.clone(), s);
            }
        }
    }
    Ok(map)
}

/// One photo of an entity, as the entity's response shows it.
#[derive(Debug, Clone)]
pub struct EntityPhoto {
    pub link: PhotoLink,
    pub status: PhotoStatus,
    /// The photo's own flags followed by the link's.
    pub flags: Vec<serde_json::Value>,
}

/// The photos linked to one entity, with their status and evidence flags, in the order they
/// were linked.
pub fn of_entity(
    conn: &mut DbConn,
    org_id: &str,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<EntityPhoto>, StorageError> {
    let rows: Vec<PhotoLink> = photo_links::table
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::entity_type.eq(entity_type))
        .filter(photo_links::entity_id.eq(entity_id))
        .order(photo_links::created_at.asc())
        .select(PhotoLink::as_select())
        .load(conn)?;
    let shas: Vec<String> = rows.iter().map(|l| l.sha256.clone()).collect();
    let own: HashMap<String, (String, String)> = photos::table
        .filter(photos::org_id.eq(org_id))
        .filter(photos::sha256.eq_any(&shas))
        .select((photos::sha256, photos::status, photos::flags))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(sha, status, flags)| (sha, (status, flags)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|link| {
            // An unvouched link shows the photo as an id nobody uploaded: pending, no flags.
            let (status, mut flags) = match own.get(&link.sha256).filter(|_| link.vouched) {
                Some((s, f)) => (
                    s.parse().unwrap_or(PhotoStatus::Pending),
                    super::evidence::decode(f),
                ),
                None => (PhotoStatus::Pending, Vec::new()),
            };
            if link.vouched {
                flags.extend(super::evidence::decode(&link.flags));
            }
            EntityPhoto {
                link,
                status,
                flags,
            }
        })
        .collect())
}
