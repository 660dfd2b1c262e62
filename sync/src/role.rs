//! Roles a user holds on a site (and, for `admin`, on the whole organisation).

text_enum! {
    /// A user's role on a site. Roles on a site apply to its whole subtree; `Admin` is
    /// organisation-wide and counts as a manager everywhere. Ordered from least to most power,
    /// so the effective role over several memberships is the `max`.
    pub enum Role as "role" {
        /// Walks the plant, fills checklists and reports hazards.
        Inspector => "inspector",
        /// Assigns, verifies and cancels general hazards.
        Supervisor => "supervisor",
        /// Everything a supervisor does, and the same for major hazards.
        Manager => "manager",
        /// Organisation-wide; counts as a manager on every site.
        Admin => "admin",
    }
}

impl Role {
    /// True when `self` has at least the power of `other` (`Admin` >= `Manager` >= ...).
    pub fn at_least(self, other: Role) -> bool {
        self >= other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_by_power() {
        assert!(Role::Inspector < Role::Supervisor);
        assert!(Role::Supervisor < Role::Manager);
        assert!(Role::Manager < Role::Admin);
        assert!(Role::Admin.at_least(Role::Manager));
        assert!(!Role::Supervisor.at_least(Role::Manager));
        assert!(Role::Supervisor.at_least(Role::Supervisor));
    }

    #[test]
    fn text_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
            let json = serde_json::to_string(role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), *role);
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!("owner".parse::<Role>().is_err());
    }
}
