//! `hazardloop seed demo`: an organisation to click through, with a hazard in every state,
//! built through the same mutation engine as everything else.

use hazardloop_storage::engine::{self, Caller, EngineSettings};
use hazardloop_storage::{users, Db, StorageError};
use hazardloop_sync::{Mutation, Role};
use serde_json::{json, Value};

use crate::bootstrap;

const TEMPLATES: [&str; 3] = [
    include_str!("../../demo/templates/hot-work-permit.json"),
    include_str!("../../demo/templates/confined-space-entry.json"),
    include_str!("../../demo/templates/fire-equipment-monthly.json"),
];

/// A demo account.
pub struct DemoUser {
    pub role: &'static str,
    pub email: String,
    pub password: &'static str,
}

/// Demo sites have no position (no circle to judge evidence against).
const NO_POSITION: (Option<f64>, Option<f64>, Option<f64>) = (None, None, None);

/// The password of every demo account: fixed and documented (README), so that the Quickstart's
/// sign-in works when copied. The demo is for trying the product on one's own machine; never
/// run `--demo` or `seed demo` on a server others can reach.
pub const DEMO_PASSWORD: &str = "demo-password-1";

fn m(name: &str, args: Value) -> Mutation {
    Mutation {
        id: uuid::Uuid::now_v7(),
        name: name.into(),
        args,
        base_version: None,
        hlc: None,
        device_time: None,
        seq: None,
        group: None,
    }
}

fn apply(db: &Db, caller: &Caller, name: &str, args: Value) -> Result<String, String> {
    let out = db
        .write_blocking(|c| {
            engine::run_group(c, caller, &[m(name, args)], EngineSettings::default())
        })
        .map_err(|e| e.to_string())?;
    match out {
        Ok(applied) => Ok(applied
            .first()
            .map(|a| a.entity_id.clone())
            .unwrap_or_default()),
        Err((_, r)) => Err(format!("{name}: {} ({})", r.message, r.code)),
    }
}

/// What [`seed`] did.
pub enum Seeded {
    /// The organisation was created with these accounts.
    Created(Vec<DemoUser>),
    /// An organisation of that name exists already; nothing was changed. The accounts are
    /// those the demo creates (they still work unless someone changed them since).
    Exists(Vec<DemoUser>),
}

/// The roles of the demo accounts, in the order they are created and printed. The rectifier is
/// an inspector by role, the one hazards are assigned to.
const ROLES: [(&str, Role); 5] = [
    ("admin", Role::Admin),
    ("manager", Role::Manager),
    ("supervisor", Role::Supervisor),
    ("inspector", Role::Inspector),
    ("rectifier", Role::Inspector),
];

/// The address of a demo account: `<role>@<organisation name, letters and digits>.example`.
fn demo_email(org: &str, role: &str) -> String {
    let slug: String = org
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{role}@{slug}.example")
}

/// The accounts the demo organisation `org` has (or will have), all with [`DEMO_PASSWORD`].
pub fn accounts(org: &str) -> Vec<DemoUser> {
    ROLES
        .iter()
        .map(|&(role, _)| DemoUser {
            role,
            email: demo_email(org, role),
            password: DEMO_PASSWORD,
        })
        .collect()
}

/// Does any organisation exist? (`serve --demo` seeds only an empty database.)
pub fn database_is_empty(db: &Db) -> Result<bool, String> {
    db.read_blocking(hazardloop_storage::orgs::list)
        .map(|orgs| orgs.is_empty())
        .map_err(|e| e.to_string())
}

/// Creates the demo organisation `org` unless an organisation of that name exists; running it
/// again changes nothing.
pub fn seed(db: &Db, org: &str) -> Result<Seeded, String> {
    let existing = db
        .read_blocking(|c| hazardloop_storage::orgs::find_by_name(c, org))
        .map_err(|e| e.to_string())?;
    if existing.is_some() {
        return Ok(Seeded::Exists(accounts(org)));
    }
    create(db, org).map(Seeded::Created)
}

fn create(db: &Db, org: &str) -> Result<Vec<DemoUser>, String> {
    let email = |role: &str| demo_email(org, role);
    let admin = bootstrap::add_user(
        db,
        Some(org),
        &email("admin"),
        "Demo Admin",
        DEMO_PASSWORD,
        Role::Admin,
        None,
    )?;
    let company = bootstrap::add_site(db, Some(org), org, "company", None, NO_POSITION)?;
    let plant = bootstrap::add_site(
        db,
        Some(org),
        "Plant 1",
        "plant",
        Some(&company.id),
        NO_POSITION,
    )?;
    let workshop = bootstrap::add_site(
        db,
        Some(org),
        "Welding workshop",
        "workshop",
        Some(&plant.id),
        NO_POSITION,
    )?;
    bootstrap::add_site(
        db,
        Some(org),
        "Tank farm",
        "area",
        Some(&plant.id),
        NO_POSITION,
    )?;
    let mut ids = std::collections::BTreeMap::new();
    for (role, r) in ROLES.into_iter().filter(|(_, r)| *r != Role::Admin) {
        let u = bootstrap::add_user(
            db,
            Some(org),
            &email(role),
            &format!("Demo {role}"),
            DEMO_PASSWORD,
            r,
            Some(&plant.id),
        )?;
        ids.insert(role, u.id.clone());
    }
    let caller = |role: &str| -> Result<Caller, String> {
        let id = if role == "admin" {
            admin.id.clone()
        } else {
            ids.get(role).cloned().unwrap_or_default()
        };
        let user = db
            .read_blocking(|c| users::get(c, &admin.org_id, &id))
            .map_err(|e: StorageError| e.to_string())?;
        Ok(Caller {
            user_id: user.id,
            org_id: user.org_id,
            is_admin: user.is_admin,
            device_id: None,
        })
    };
    let (adm, sup, mgr, insp, rect) = (
        caller("admin")?,
        caller("supervisor")?,
        caller("manager")?,
        caller("inspector")?,
        caller("rectifier")?,
    );
    for t in TEMPLATES {
        let template: Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
        apply(db, &adm, "template.import", json!({ "template": template }))?;
    }
    let deadline = hazardloop_sync::timestamp::format_rfc3339_ms(
        hazardloop_storage::now_ms() + 7 * 86_400_000,
    );
    let photo = "a".repeat(64);
    let report = |title: &str, grade: &str| {
        apply(
            db,
            &insp,
            "hazard.report",
            json!({
                "site_id": workshop.id, "title": title, "category": "unsafe_condition",
                "grade": grade, "risk": if grade == "major" { "red" } else { "yellow" },
                "location": "Bay 3", "description": format!("Demo: {title}"),
            }),
        )
    };
    let assign = |id: &str, by: &Caller| {
        apply(
            db,
            by,
            "hazard.assign",
            json!({
                "hazard_id": id, "owner_id": ids["rectifier"], "verifier_id": ids["supervisor"],
                "deadline": deadline, "measures": "Replace and re-inspect",
            }),
        )
    };
    report("Extinguisher missing at welding bay", "general")?;
    let h = report("Frayed welding cable", "general")?;
    assign(&h, &sup)?;
    let h = report("Guard rail loose on platform", "general")?;
    assign(&h, &sup)?;
    apply(db, &rect, "hazard.start", json!({"hazard_id": h}))?;
    let h = report("Oil spill near press", "general")?;
    assign(&h, &sup)?;
    apply(db, &rect, "hazard.start", json!({"hazard_id": h}))?;
    apply(
        db,
        &rect,
        "hazard.submit_rectification",
        json!({"hazard_id": h, "note": "Cleaned and absorbent laid", "after_photos": [photo]}),
    )?;
    let h = report("Blocked fire exit", "general")?;
    assign(&h, &sup)?;
    apply(db, &rect, "hazard.start", json!({"hazard_id": h}))?;
    apply(
        db,
        &rect,
        "hazard.submit_rectification",
        json!({"hazard_id": h, "note": "Pallets moved", "after_photos": [photo]}),
    )?;
    apply(
        db,
        &sup,
        "hazard.verify",
        json!({"hazard_id": h, "note": "Exit clear"}),
    )?;
    let h = report("Duplicate report of the spill", "general")?;
    apply(
        db,
        &sup,
        "hazard.cancel",
        json!({"hazard_id": h, "reason": "duplicate"}),
    )?;
    let h = report("Gas detector out of calibration in tank farm", "major")?;
    apply(
        db,
        &mgr,
        "hazard.assign",
        json!({
            "hazard_id": h, "owner_id": ids["rectifier"], "verifier_id": ids["manager"],
            "deadline": deadline, "measures": "Recalibrate all detectors",
            "five": {"responsible_person": "Plant manager", "measures": "Recalibrate; interim portable detectors",
                     "funds": "CNY 20,000 maintenance budget", "deadline": deadline,
                     "contingency_plan": "Suspend hot work in the tank farm until done"}
        }),
    )?;
    Ok(accounts(org))
}
