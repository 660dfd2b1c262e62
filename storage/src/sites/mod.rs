//! The site tree (company / plant / workshop / area), stored with a materialised path so that
//! subtree and ancestor questions are one indexed prefix query on either backend.

use diesel::prelude::*;
use hazardloop_sync::evidence::{applicable_circle, Point, SiteCircle};
use serde::Serialize;

use crate::schema::sites;
use crate::{DbConn, StorageError};

mod writes;

pub use writes::{create, set_position};

/// One node of an organisation's site tree.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = sites)]
pub struct Site {
    pub id: String,
    pub org_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub kind: String,
    /// `/root-id/.../self-id/`.
    pub path: String,
    pub created_at: i64,
    /// The site's position (WGS 84 degrees) and the radius in metres around it from which its
    /// photos and reports are expected; all three or none.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub radius_m: Option<f64>,
}

impl Site {
    /// Ids from the root down to this site, inclusive.
    pub fn lineage(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The site's own circle, when it has a position and radius.
    pub fn circle(&self) -> Option<SiteCircle> {
        match (self.latitude, self.longitude, self.radius_m) {
            (Some(lat), Some(lon), Some(radius_m)) => Some(SiteCircle {
                site_id: self.id.clone(),
                centre: Point { lat, lon },
                radius_m,
            }),
            _ => None,
        }
    }

    /// The position part of the site, for creating or updating it.
    pub fn position(&self) -> Option<Position> {
        self.circle().map(|c| Position {
            lat: c.centre.lat,
            lon: c.centre.lon,
            radius_m: c.radius_m,
        })
    }
}

/// A site's position and radius, checked: latitude -90..=90, longitude -180..=180, radius
/// positive and at most 20,000 km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

impl Position {
    /// The position, or why it is not one (names the field at fault).
    pub fn new(lat: f64, lon: f64, radius_m: f64) -> Result<Position, (&'static str, String)> {
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(("latitude", "latitude must be between -90 and 90".into()));
        }
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(("longitude", "longitude must be between -180 and 180".into()));
        }
        if !(radius_m.is_finite() && radius_m > 0.0 && radius_m <= 20_000_000.0) {
            return Err((
                "radius_m",
                "radius_m must be more than 0 and at most 20000000 metres".into(),
            ));
        }
        Ok(Position { lat, lon, radius_m })
    }
}

/// The circle that applies to `site`: its own, or its nearest ancestor's with one (a
/// workshop without a position is judged by its plant's circle). `None` when no site on the
/// way to the root has a position.
pub fn circle_of(conn: &mut DbConn, site: &Site) -> Result<Option<SiteCircle>, StorageError> {
    if let Some(c) = site.circle() {
        return Ok(Some(c));
    }
    let ids: Vec<String> = site.lineage().iter().map(|s| s.to_string()).collect();
    let mut found = by_ids(conn, &site.org_id, &ids)?;
    found.sort_by_key(|s| s.path.len());
    let lineage: Vec<Option<SiteCircle>> = found.iter().map(Site::circle).collect();
    Ok(applicable_circle(&lineage).cloned())
}

/// Loads a site of the organisation; another organisation's site is `NotFound`.
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Site, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(org_id))
        .filter(sites::id.eq(id))
        .select(Site::as_select())
        .first(conn)?)
}

/// The site and everything below it, parents before children.
pub fn subtree(conn: &mut DbConn, site: &Site) -> Result<Vec<Site>, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(&site.org_id))
        .filter(sites::path.like(format!("{}%", site.path)))
        .order(sites::path.asc())
        .select(Site::as_select())
        .load(conn)?)
}

/// Every site of the organisation, parents before children.
pub fn list(conn: &mut DbConn, org_id: &str) -> Result<Vec<Site>, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(org_id))
        .order(sites::path.asc())
        .select(Site::as_select())
        .load(conn)?)
}

/// The sites whose path starts with one of `roots`' paths: what a user with memberships at
/// `roots` may see.
pub fn below_any(
    conn: &mut DbConn,
    org_id: &str,
    roots: &[Site],
) -> Result<Vec<Site>, StorageError> {
    let all = list(conn, org_id)?;
    Ok(all
        .into_iter()
        .filter(|s| roots.iter().any(|r| s.path.starts_with(&r.path)))
        .collect())
}

/// Sites by id.
pub fn by_ids(conn: &mut DbConn, org_id: &str, ids: &[String]) -> Result<Vec<Site>, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(org_id))
        .filter(sites::id.eq_any(ids.to_vec()))
        .select(Site::as_select())
        .load(conn)?)
}
