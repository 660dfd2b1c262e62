//! People's display names for ids shown on a page.

use std::collections::BTreeMap;

use hazardloop_storage::{users, DbConn, StorageError};

/// The names of `ids` in the organisation; an id that is not a person there is left out
/// (pages show nothing rather than a raw id).
pub fn names_of(
    c: &mut DbConn,
    org_id: &str,
    ids: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, String>, StorageError> {
    let mut out = BTreeMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        match users::get(c, org_id, &id) {
            Ok(u) => {
                out.insert(id, u.name);
            }
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
