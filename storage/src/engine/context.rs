//! What a mutation handler works with besides the connection: the caller, the transaction's
//! bookkeeping ([`Change`]), the organisation's policy, the mutation's clocks, and the
//! [`Lookups`] of sites, roles and visibility a batch keeps asking for.

use std::collections::HashMap;

use hazardloop_sync::{Hlc, Policy, Role};

use super::{Caller, EngineSettings};
use crate::access::Visibility;
use crate::change::Change;
use crate::sites::Site;
use crate::{DbConn, StorageError};

/// Sites, roles and visibility looked up while one transaction's mutations run: a batch
/// touches the same few, so each is read once. Lives beside the [`Change`] for as long as the
/// engine runs in that transaction; nothing here is written.
#[derive(Debug, Default)]
pub struct Lookups {
    sites: HashMap<String, Site>,
    roles: HashMap<(String, String), Option<Role>>,
    visibility: HashMap<String, Visibility>,
}

impl Lookups {
    /// A site of the organisation.
    pub fn site(
        &mut self,
        conn: &mut DbConn,
        org_id: &str,
        id: &str,
    ) -> Result<Site, StorageError> {
        if let Some(s) = self.sites.get(id) {
            return Ok(s.clone());
        }
        let site = crate::sites::get(conn, org_id, id)?;
        self.sites.insert(id.to_string(), site.clone());
        Ok(site)
    }

    /// Keeps a site loaded with an entity (saves the lookup of [`Lookups::site`]).
    pub fn remember_site(&mut self, site: &Site) {
        self.sites
            .entry(site.id.clone())
            .or_insert_with(|| site.clone());
    }

    /// What a user may read.
    pub fn visibility(
        &mut self,
        conn: &mut DbConn,
        org_id: &str,
        user_id: &str,
        is_admin: bool,
    ) -> Result<Visibility, StorageError> {
        if let Some(v) = self.visibility.get(user_id) {
            return Ok(v.clone());
        }
        let v = crate::access::visibility(conn, org_id, user_id, is_admin)?;
        self.visibility.insert(user_id.to_string(), v.clone());
        Ok(v)
    }

    /// A user's effective role at a site.
    pub fn role_at(
        &mut self,
        conn: &mut DbConn,
        user_id: &str,
        is_admin: bool,
        site: &Site,
    ) -> Result<Option<Role>, StorageError> {
        let key = (user_id.to_string(), site.id.clone());
        if let Some(r) = self.roles.get(&key) {
            return Ok(*r);
        }
        let role = crate::users::role_at(conn, user_id, is_admin, site)?;
        self.roles.insert(key, role);
        Ok(role)
    }
}

/// Everything a mutation handler needs besides the connection.
pub(crate) struct Ctx<'a> {
    pub caller: &'a Caller,
    pub change: &'a mut Change,
    pub lookups: &'a mut Lookups,
    pub policy: Policy,
    /// Device time of the mutation (clamped), or server time when none was sent.
    pub device_time: i64,
    /// True when the device clock was clamped.
    pub clock_flagged: bool,
    /// The mutation's clock, or a server clock when none was sent.
    pub hlc: Hlc,
    pub now: i64,
    pub settings: EngineSettings,
}

impl Ctx<'_> {
    /// The caller's effective role at a site (cached for the transaction).
    pub fn role_at(
        &mut self,
        conn: &mut DbConn,
        site: &Site,
    ) -> Result<Option<Role>, StorageError> {
        self.lookups
            .role_at(conn, &self.caller.user_id, self.caller.is_admin, site)
    }

    /// What the caller may read (decided once per transaction). A mutation asks this *before*
    /// it looks its entity up, and answers an entity the caller may not read exactly as an id
    /// that does not exist: `not_found`, no current state, no other check first.
    pub fn visibility(&mut self, conn: &mut DbConn) -> Result<Visibility, StorageError> {
        self.lookups.visibility(
            conn,
            &self.caller.org_id,
            &self.caller.user_id,
            self.caller.is_admin,
        )
    }

    /// A site of the caller's organisation (cached for the transaction).
    pub fn site(&mut self, conn: &mut DbConn, id: &str) -> Result<Site, StorageError> {
        self.lookups.site(conn, &self.caller.org_id, id)
    }

    /// Keeps a site loaded with an entity.
    pub fn remember_site(&mut self, site: &Site) {
        self.lookups.remember_site(site)
    }
}
