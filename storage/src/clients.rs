//! Integration clients. Each client acts through a principal row in `users` (kind `client`,
//! no password), so the audit trail, the workflow rules and the site roles apply to it exactly
//! as to a person: an unrestricted client is an organisation admin, a client limited to sites is
//! a manager at those sites. Scopes then narrow which routes its tokens may call.

use diesel::prelude::*;
use hazardloop_sync::Role;

use crate::schema::{api_clients, users as u};
use crate::users::{self, NewUser};
use crate::{now_ms, DbConn, StorageError};

/// A registered client (the secret only as its hash).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_clients)]
pub struct ApiClient {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub secret_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// JSON array of site ids the client is limited to; `None`: the whole organisation.
    pub site_ids: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl ApiClient {
    /// The scopes as a list.
    pub fn scope_list(&self) -> Vec<String> {
        self.scopes.split_whitespace().map(str::to_string).collect()
    }

    /// The sites the client is limited to.
    pub fn sites(&self) -> Option<Vec<String>> {
        self.site_ids
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

/// What a new client is.
#[derive(Debug, Clone)]
pub struct NewClient<'a> {
    pub org_id: &'a str,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub site_ids: Option<&'a [String]>,
    pub created_by: &'a str,
    /// Hex SHA-256 of the generated secret (a 256-bit random token, so a fast hash is enough).
    pub secret_hash: &'a str,
}

/// Creates the client and its principal.
pub fn create(conn: &mut DbConn, new: NewClient<'_>) -> Result<ApiClient, StorageError> {
    let principal_email = format!("client-{}@clients.invalid", crate::new_id());
    let principal = users::create(
        conn,
        NewUser {
            org_id: new.org_id,
            email: &principal_email,
            name: new.name,
            // Not a PHC string: no password ever matches it.
            password_hash: "!",
            is_admin: new.site_ids.is_none(),
            kind: "client",
        },
    )?;
    if let Some(sites) = new.site_ids {
        let wanted: Vec<(String, Role)> =
            sites.iter().map(|s| (s.clone(), Role::Manager)).collect();
        users::set_memberships(conn, &principal, &wanted)?;
    }
    let row = ApiClient {
        id: principal.id.clone(),
        org_id: new.org_id.to_string(),
        name: new.name.to_string(),
        secret_hash: new.secret_hash.to_string(),
        scopes: new.scopes.join(" "),
        site_ids: new
            .site_ids
            .map(|s| serde_json::to_string(s).unwrap_or_default()),
        created_by: new.created_by.to_string(),
        created_at: now_ms(),
        revoked_at: None,
    };
    diesel::insert_into(api_clients::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// A live (not revoked) client by id, in any organisation (for the token endpoint).
pub fn find_live(conn: &mut DbConn, id: &str) -> Result<Option<ApiClient>, StorageError> {
    Ok(api_clients::table
        .filter(api_clients::id.eq(id))
        .filter(api_clients::revoked_at.is_null())
        .select(ApiClient::as_select())
        .first(conn)
        .optional()?)
}

/// The organisation's clients, newest first.
pub fn list(conn: &mut DbConn, org_id: &str) -> Result<Vec<ApiClient>, StorageError> {
    Ok(api_clients::table
        .filter(api_clients::org_id.eq(org_id))
        .order(api_clients::id.desc())
        .select(ApiClient::as_select())
        .load(conn)?)
}

/// Revokes a client: no new tokens; tokens already issued expire within their lifetime.
pub fn revoke(conn: &mut DbConn, org_id: &str, id: &str) -> Result<(), StorageError> {
    let n = diesel::update(
        api_clients::table
            .filter(api_clients::org_id.eq(org_id))
            .filter(api_clients::id.eq(id)),
    )
    .set(api_clients::revoked_at.eq(now_ms()))
    .execute(conn)?;
    if n == 0 {
        return Err(StorageError::NotFound);
    }
    diesel::update(u::table.find(id))
        .set(u::active.eq(false))
        .execute(conn)?;
    Ok(())
}
