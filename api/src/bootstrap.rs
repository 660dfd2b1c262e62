//! Creating the first organisation, users and sites from the command line and in tests, through
//! the same storage functions the API uses.

use hazardloop_storage::users::{self, NewUser, User};
use hazardloop_storage::{orgs, sites, Db, StorageError};
use hazardloop_sync::Role;

use crate::auth::password;

/// Creates a user in the named (or only) organisation. `role` admin makes an organisation
/// admin; another role needs `site_id` and becomes a membership there.
pub fn add_user(
    db: &Db,
    org: Option<&str>,
    email: &str,
    name: &str,
    plain_password: &str,
    role: Role,
    site_id: Option<&str>,
) -> Result<User, String> {
    if plain_password.chars().count() < password::MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must be at least {} characters",
            password::MIN_PASSWORD_LEN
        ));
    }
    if role != Role::Admin && site_id.is_none() {
        return Err(format!("a {} needs --site <site id>", role.as_str()));
    }
    let hash = password::hash(plain_password)?;
    db.write_blocking(|c| {
        let org = orgs::default_org(c, org)?;
        let user = users::create(
            c,
            NewUser {
                org_id: &org.id,
                email,
                name,
                password_hash: &hash,
                is_admin: role == Role::Admin,
                kind: "person",
            },
        )?;
        if let Some(site) = site_id {
            users::set_memberships(c, &user, &[(site.to_string(), role)])?;
        }
        Ok::<_, StorageError>(user)
    })
    .map_err(|e| e.to_string())
}

/// Creates a site in the named (or only) organisation, with its position and radius when
/// given (`lat`, `lon` and `radius` in degrees and metres: all three or none).
pub fn add_site(
    db: &Db,
    org: Option<&str>,
    name: &str,
    kind: &str,
    parent: Option<&str>,
    position: (Option<f64>, Option<f64>, Option<f64>),
) -> Result<sites::Site, String> {
    let position = match position {
        (None, None, None) => None,
        (Some(lat), Some(lon), Some(r)) => {
            Some(sites::Position::new(lat, lon, r).map_err(|(_, m)| m)?)
        }
        _ => return Err("--lat, --lon and --radius go together: give all three or none".into()),
    };
    db.write_blocking(|c| {
        let org = orgs::default_org(c, org)?;
        sites::create(c, &org.id, name, kind, parent, position)
    })
    .map_err(|e| e.to_string())
}
