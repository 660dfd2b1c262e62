//! The one way from a signed-in user to the write engine: who acts ([`Caller`]) and with which
//! settings from configuration. The REST writes (`mutate`), the console's forms (through
//! `mutate`) and the sync push all start here.

use hazardloop_storage::engine::{Caller, EngineSettings};

use super::AuthedUser;
use crate::app::AppState;

/// A signed-in user about to apply mutations.
#[derive(Debug, Clone)]
pub struct Acting {
    /// Who, for the engine.
    pub caller: Caller,
    /// The engine's settings from configuration.
    pub settings: EngineSettings,
}

impl AuthedUser {
    /// The user acting online (REST, console).
    pub fn acting(&self, state: &AppState) -> Acting {
        self.acting_on(state, None)
    }

    /// The user acting from a registered device (sync push), once the device was checked
    /// with `routes::devices::usable_device`.
    pub fn acting_on(&self, state: &AppState, device_id: Option<&str>) -> Acting {
        Acting {
            caller: Caller {
                user_id: self.user_id.clone(),
                org_id: self.org_id.clone(),
                is_admin: self.is_admin,
                device_id: device_id.map(str::to_string),
            },
            settings: state.config.engine_settings(),
        }
    }
}
