//! Users and their role per site.

use diesel::prelude::*;
use hazardloop_sync::Role;
use serde::Serialize;

use crate::schema::{memberships, sites, users};
use crate::sites::Site;
use crate::{new_id, now_ms, DbConn, StorageError};

/// A person who signs in. `password_hash` never leaves storage in a response.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// `person`, or `client` for an integration client's principal.
    pub kind: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

/// A user's role at one site (and, through the tree, at everything below it).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub user_id: String,
    pub site_id: String,
    pub org_id: String,
    pub role: String,
    pub created_at: i64,
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub org_id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    /// `person` or `client`.
    pub kind: &'a str,
}

/// Normalises an e-mail address for storage and lookup.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates a user; an e-mail address already in use is a `Conflict`.
pub fn create(conn: &mut DbConn, new: NewUser<'_>) -> Result<User, StorageError> {
    let now = now_ms();
    let user = User {
        id: new_id(),
        org_id: new.org_id.to_string(),
        email: normalise_email(new.email),
        name: new.name.to_string(),
        password_hash: new.password_hash.to_string(),
        is_admin: new.is_admin,
        active: true,
        created_at: now,
        updated_at: now,
        kind: new.kind.to_string(),
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(conn)
        .map_err(|e| match StorageError::from(e) {
            StorageError::Conflict(_) => {
                StorageError::Conflict(format!("a user with e-mail {} already exists", user.email))
            }
            other => other,
        })?;
    Ok(user)
}

/// Finds an active user by e-mail address, across organisations (e-mail is globally unique).
pub fn find_active_by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>, StorageError> {
    Ok(users::table
        .filter(users::email.eq(normalise_email(email)))
        .filter(users::active.eq(true))
        .filter(users::kind.eq("person"))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Loads a user of the organisation; another organisation's user is `NotFound`.
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<User, StorageError> {
    Ok(users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::id.eq(id))
        .select(User::as_select())
        .first(conn)?)
}

/// A page of the organisation's users in id (creation) order, after `after` when given.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, StorageError> {
    let mut q = users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::kind.eq("person"))
        .order(users::id.asc())
        .limit(limit)
        .select(User::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(users::id.gt(after.to_string()));
    }
    Ok(q.load(conn)?)
}

/// True when any active admin exists anywhere.
pub fn any_admin(conn: &mut DbConn) -> Result<bool, StorageError> {
    let n: i64 = users::table
        .filter(users::is_admin.eq(true))
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The user's memberships.
pub fn memberships(conn: &mut DbConn, user_id: &str) -> Result<Vec<Membership>, StorageError> {
    Ok(memberships::table
        .filter(memberships::user_id.eq(user_id))
        .order(memberships::site_id.asc())
        .select(Membership::as_select())
        .load(conn)?)
}

/// Replaces all of a user's memberships. Every site must belong to the user's organisation.
pub fn set_memberships(
    conn: &mut DbConn,
    user: &User,
    wanted: &[(String, Role)],
) -> Result<Vec<Membership>, StorageError> {
    let now = now_ms();
    for (site_id, _) in wanted {
        let n: i64 = sites::table
            .filter(sites::org_id.eq(&user.org_id))
            .filter(sites::id.eq(site_id))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(StorageError::Invalid(format!(
                "site {site_id} does not exist"
            )));
        }
    }
    diesel::delete(memberships::table.filter(memberships::user_id.eq(&user.id))).execute(conn)?;
    let rows: Vec<Membership> = wanted
        .iter()
        .map(|(site_id, role)| Membership {
            user_id: user.id.clone(),
            site_id: site_id.clone(),
            org_id: user.org_id.clone(),
            role: role.as_str().to_string(),
            created_at: now,
        })
        .collect();
    for row in &rows {
        diesel::insert_into(memberships::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(rows)
}

/// The user's effective role at `site`: the highest role held at the site or any ancestor;
/// `Admin` for organisation admins; `None` without a membership on the way down.
pub fn effective_role(
    conn: &mut DbConn,
    user: &User,
    site: &Site,
) -> Result<Option<Role>, StorageError> {
    role_at(conn, &user.id, user.is_admin, site)
}

/// [`effective_role`] from the ids a token carries.
pub fn role_at(
    conn: &mut DbConn,
    user_id: &str,
    is_admin: bool,
    site: &Site,
) -> Result<Option<Role>, StorageError> {
    if is_admin {
        return Ok(Some(Role::Admin));
    }
    let lineage: Vec<String> = site.lineage().into_iter().map(str::to_string).collect();
    let roles: Vec<String> = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::site_id.eq_any(lineage))
        .select(memberships::role)
        .load(conn)?;
    Ok(roles.iter().filter_map(|r| r.parse::<Role>().ok()).max())
}

/// The sites the user has memberships at.
pub fn membership_sites(conn: &mut DbConn, user: &User) -> Result<Vec<Site>, StorageError> {
    Ok(memberships::table
        .inner_join(sites::table)
        .filter(memberships::user_id.eq(&user.id))
        .select(Site::as_select())
        .load(conn)?)
}

/// Loads an active user by id, in any organisation (used when a refresh token names it).
pub fn find_active_by_id(conn: &mut DbConn, id: &str) -> Result<Option<User>, StorageError> {
    Ok(users::table
        .filter(users::id.eq(id))
        .filter(users::active.eq(true))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Someone who can act at a site, for the people list of that site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAtSite {
    pub id: String,
    pub name: String,
    /// The effective role at the site: the highest held there or above; `Admin` for
    /// organisation admins.
    pub role: Role,
}

/// The active people whose role applies at `site` (a membership at the site or an ancestor, or
/// organisation admin), each once with their effective role there, ordered by name then id.
/// Integration clients' principals are not people and are left out.
pub fn people_at(conn: &mut DbConn, site: &Site) -> Result<Vec<PersonAtSite>, StorageError> {
    let lineage: Vec<String> = site.lineage().into_iter().map(str::to_string).collect();
    let admins: Vec<(String, String)> = users::table
        .filter(users::org_id.eq(&site.org_id))
        .filter(users::is_admin.eq(true))
        .filter(users::active.eq(true))
        .filter(users::kind.eq("person"))
        .select((users::id, users::name))
        .load(conn)?;
    let members: Vec<(String, String, String)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(&site.org_id))
        .filter(memberships::site_id.eq_any(lineage))
        .filter(users::active.eq(true))
        .filter(users::kind.eq("person"))
        .select((users::id, users::name, memberships::role))
        .load(conn)?;
    let mut by_id: std::collections::BTreeMap<String, PersonAtSite> = admins
        .into_iter()
        .map(|(id, name)| {
            let p = PersonAtSite {
                id: id.clone(),
                name,
                role: Role::Admin,
            };
            (id, p)
        })
        .collect();
    for (id, name, role) in members {
        let Ok(role) = role.parse::<Role>() else {
            continue;
        };
        by_id
            .entry(id.clone())
            .and_modify(|p| p.role = p.role.max(role))
            .or_insert(PersonAtSite { id, name, role });
    }
    let mut people: Vec<PersonAtSite> = by_id.into_values().collect();
    people.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(people)
}
