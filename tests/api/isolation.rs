//! Site isolation: whoever may not read an entity learns nothing about it from any answer.
//!
//! The authorisation matrix walks the server's own route table (`routes::ROUTES`), so a route
//! added without a case here fails the test. Every route is called by every kind of principal
//! (each role at the entity's site, an admin, a user with no role at the site, a client limited
//! to another site, and another organisation's admin), once naming a real entity and once a
//! random id. For each principal that may not read the entity the two answers must be the same
//! (status, content type and body, with the two ids replaced by one placeholder), and no answer
//! may contain anything of the entity. For the principals that may read it, at least one must
//! get a different answer, or the comparison would prove nothing.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use crate::contract::SendChecked;
use crate::helpers::{crew, spawn_app_with, Crew, TestApp, PASSWORD};
use crate::integration::{client, client_token};
use crate::photos::{noise_png, sha};
use crate::sync::{device, hlc, push};
use crate::{both_backends, Backend};

both_backends!(
    every_route_answers_an_unreadable_entity_like_a_random_id,
    a_taken_id_tells_who_cannot_read_it_nothing_more,
    a_forged_or_borrowed_pull_cursor_reveals_nothing,
    photo_metadata_and_events_show_only_what_the_reader_may_read,
    linking_another_sites_photo_by_its_id_reveals_and_grants_nothing,
    console_pages_isolate_sites_and_organisations_like_the_api,
);

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// An inspector of another plant: no role at the entity's site.
    Outsider,
    /// An integration client with every scope, limited to the other plant.
    LimitedClient,
    /// The admin of another organisation.
    Stranger,
    Inspector,
    Supervisor,
    Manager,
    Admin,
}

/// Who may read the entity a route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readers {
    /// Anyone with a role at the plant (or above it), and admins.
    Plant,
    /// Every principal of the organisation.
    Org,
    /// Supervisors and above at the plant (the conflict log).
    Supervisors,
    /// The inspector only (their device, their upload).
    Owner,
    /// Organisation admins only (webhooks).
    Admins,
    /// The route names no entity: only the "nothing leaks" check applies.
    Nobody,
}

fn reads(who: Who, readers: Readers) -> bool {
    use Who::*;
    match readers {
        Readers::Plant => matches!(who, Inspector | Supervisor | Manager | Admin),
        Readers::Org => who != Stranger,
        Readers::Supervisors => matches!(who, Supervisor | Manager | Admin),
        Readers::Owner => who == Inspector,
        Readers::Admins => who == Admin,
        Readers::Nobody => false,
    }
}

struct Principal {
    who: Who,
    token: String,
    /// A registered device, for people (sync routes).
    device: Option<String>,
    next_seq: i64,
}

/// The entities at the plant that outsiders must learn nothing about.
struct Fixture {
    plant: String,
    workshop: String,
    hazard: String,
    inspection: String,
    conflict: String,
    webhook: String,
    delivery: String,
    photo: String,
    upload: String,
    /// A device of the inspector.
    device: String,
    /// A client to revoke, and a user whose memberships to set.
    spare_client: String,
    spare_user: String,
    template_key: String,
    /// The plant's risk register: a unit, its event and the event's measure.
    risk_unit: String,
    risk_event: String,
    risk_measure: String,
    risk_duty: String,
    /// A person of the plant (a unit's responsible person in bodies).
    plant_person: String,
    /// Text only the plant's entities carry.
    marker: String,
}

impl Fixture {
    /// Everything that must never reach someone who cannot read the plant.
    fn secrets(&self) -> Vec<&str> {
        vec![
            &self.plant,
            &self.workshop,
            &self.hazard,
            &self.inspection,
            &self.conflict,
            &self.webhook,
            &self.delivery,
            &self.photo,
            &self.upload,
            &self.device,
            &self.risk_unit,
            &self.risk_event,
            &self.risk_measure,
            &self.risk_duty,
            &self.marker,
        ]
    }
}

enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
}

struct Req {
    method: &'static str,
    path: String,
    body: Body,
    headers: Vec<(&'static str, String)>,
}

impl Req {
    fn new(method: &'static str, path: String) -> Req {
        Req {
            method,
            path,
            body: Body::None,
            headers: Vec::new(),
        }
    }
    fn json(mut self, v: Value) -> Req {
        self.body = Body::Json(v);
        self
    }
    fn bytes(mut self, b: Vec<u8>) -> Req {
        self.body = Body::Bytes(b);
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

/// One route's pair of requests: naming the real entity, and naming a random one.
struct Case {
    readers: Readers,
    real: Req,
    random: Req,
    /// The ids that differ between the two (replaced by one placeholder before comparing).
    ids: Vec<String>,
    /// `false` where the caller proves possession of the entity (uploading a photo's bytes):
    /// only the "nothing leaks" check applies.
    compare: bool,
}

fn rand_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A sync push of one mutation of every kind against the hazard and inspection given.
fn push_body(p: &mut Principal, hazard: &str, inspection: &str, photo: &str) -> Value {
    let ms = [
        (
            "hazard.update",
            json!({"hazard_id": hazard, "fields": {"description": "edited"}}),
        ),
        ("hazard.assign", json!({"hazard_id": hazard})),
        ("hazard.start", json!({"hazard_id": hazard})),
        ("hazard.verify", json!({"hazard_id": hazard, "note": "ok"})),
        (
            "hazard.regrade",
            json!({"hazard_id": hazard, "grade": "major", "reason": "r"}),
        ),
        (
            "inspection.answer",
            json!({"inspection_id": inspection, "item_key": "k", "value": "yes"}),
        ),
        ("inspection.submit", json!({"inspection_id": inspection})),
        (
            "photo.link",
            json!({"entity_type": "hazard", "entity_id": hazard, "sha256": photo, "role": "evidence"}),
        ),
        (
            "photo.link",
            json!({"entity_type": "inspection", "entity_id": inspection, "sha256": photo, "role": "answer"}),
        ),
        ("inspection.delete", json!({"inspection_id": inspection})),
    ];
    let mutations: Vec<Value> = ms
        .iter()
        .map(|(name, args)| {
            let seq = p.next_seq;
            p.next_seq += 1;
            json!({"seq": seq, "id": rand_id(), "name": name, "args": args,
                   "hlc": hlc(hazardloop_storage::now_ms(), "dev")})
        })
        .collect();
    json!({"device_id": p.device.clone().unwrap_or_else(rand_id), "mutations": mutations})
}

/// A route that names no entity: one request, checked only for leaks.
fn same(req: fn() -> Req) -> Case {
    Case {
        readers: Readers::Nobody,
        real: req(),
        random: req(),
        ids: Vec::new(),
        compare: false,
    }
}

/// A route naming `real` or `random` (a path id, a site in the body or the query).
fn by_id(readers: Readers, real: &str, random: &str, f: &dyn Fn(&str) -> Req) -> Case {
    Case {
        readers,
        real: f(real),
        random: f(random),
        ids: vec![real.to_string(), random.to_string()],
        compare: true,
    }
}

/// The requests of one route for one principal; panics for a route without a case, so that a
/// new route cannot go uncovered.
fn case(method: &str, path: &str, fx: &Fixture, p: &mut Principal) -> Case {
    let r = rand_id();
    let rsha = sha(r.as_bytes());
    let m: &'static str = match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        other => panic!("method {other}"),
    };
    let at = |template: &str, id: &str| template.replace("{id}", id);
    match (m, path) {
        ("GET", "/healthz") => same(|| Req::new("GET", "/healthz".into())),
        ("GET", "/readyz") => same(|| Req::new("GET", "/readyz".into())),
        ("GET", "/metrics") => same(|| Req::new("GET", "/metrics".into())),
        ("POST", "/v1/auth/login") => {
            same(|| Req::new("POST", "/v1/auth/login".into()).json(json!({})))
        }
        ("POST", "/v1/auth/refresh") => {
            same(|| Req::new("POST", "/v1/auth/refresh".into()).json(json!({"refresh_token": "x"})))
        }
        // Signing out would end the principal's session: ask with a bad body only.
        ("POST", "/v1/auth/logout") => {
            same(|| Req::new("POST", "/v1/auth/logout".into()).json(json!([])))
        }
        ("POST", "/v1/auth/token") => {
            same(|| Req::new("POST", "/v1/auth/token".into()).json(json!({})))
        }
        ("GET", "/v1/me") => same(|| Req::new("GET", "/v1/me".into())),
        ("POST", "/v1/users") => {
            let email = format!("new-{:?}@example.com", p.who).to_lowercase();
            by_id(Readers::Plant, &fx.plant, &r, &|site| {
                Req::new("POST", "/v1/users".into()).json(json!({"email": email, "name": "New",
                    "password": PASSWORD, "memberships": [{"site_id": site, "role": "inspector"}]}))
            })
        }
        ("GET", "/v1/users") => same(|| Req::new("GET", "/v1/users".into())),
        ("PUT", "/v1/users/{id}/memberships") => {
            by_id(Readers::Admins, &fx.spare_user, &r, &|id| {
                Req::new("PUT", at(path, id))
                    .json(json!([{"site_id": fx.workshop, "role": "inspector"}]))
            })
        }
        ("POST", "/v1/sites") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("POST", "/v1/sites".into())
                .json(json!({"name": "Bay", "kind": "area", "parent_id": site}))
        }),
        ("GET", "/v1/sites") => same(|| Req::new("GET", "/v1/sites".into())),
        ("GET", "/v1/sites/{id}") => by_id(Readers::Plant, &fx.plant, &r, &|id| {
            Req::new("GET", at(path, id))
        }),
        ("GET", "/v1/sites/{id}/people") => by_id(Readers::Plant, &fx.plant, &r, &|id| {
            Req::new("GET", at(path, id))
        }),
        ("PATCH", "/v1/sites/{id}") => by_id(Readers::Admins, &fx.plant, &r, &|id| {
            Req::new("PATCH", at(path, id))
                .json(json!({"latitude": 31.23, "longitude": 121.47, "radius_m": 800}))
        }),
        ("POST", "/v1/clients") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("POST", "/v1/clients".into())
                .json(json!({"name": "BI", "scopes": ["hazards:read"], "site_ids": [site]}))
        }),
        ("GET", "/v1/clients") => same(|| Req::new("GET", "/v1/clients".into())),
        ("DELETE", "/v1/clients/{id}") => by_id(Readers::Admins, &fx.spare_client, &r, &|id| {
            Req::new("DELETE", at(path, id))
        }),
        ("POST", "/v1/templates") => {
            same(|| Req::new("POST", "/v1/templates".into()).json(json!({})))
        }
        ("GET", "/v1/templates") => same(|| Req::new("GET", "/v1/templates".into())),
        ("GET", "/v1/templates/{key}") => by_id(
            Readers::Org,
            &fx.template_key,
            &format!("k{}", r.replace('-', "")),
            &|k| Req::new("GET", path.replace("{key}", k)),
        ),
        ("GET", "/v1/templates/{key}/versions/{version}") => by_id(
            Readers::Org,
            &fx.template_key,
            &format!("k{}", r.replace('-', "")),
            &|k| Req::new("GET", path.replace("{key}", k).replace("{version}", "1")),
        ),
        ("POST", "/v1/inspections") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("POST", "/v1/inspections".into())
                .json(json!({"site_id": site, "template_key": fx.template_key}))
        }),
        ("GET", "/v1/inspections") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("GET", format!("/v1/inspections?site_id={site}"))
        }),
        ("GET" | "DELETE", "/v1/inspections/{id}") => {
            by_id(Readers::Plant, &fx.inspection, &r, &|id| {
                Req::new(m, at(path, id))
            })
        }
        ("PUT", "/v1/inspections/{id}/answers") => {
            by_id(Readers::Plant, &fx.inspection, &r, &|id| {
                Req::new("PUT", at(path, id)).json(json!({"fire_watch": "yes"}))
            })
        }
        ("POST", "/v1/inspections/{id}/submit") => {
            by_id(Readers::Plant, &fx.inspection, &r, &|id| {
                Req::new("POST", at(path, id)).json(json!({}))
            })
        }
        ("POST", "/v1/hazards") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("POST", "/v1/hazards".into()).json(json!({"site_id": site, "title": "New",
                "category": "unsafe_act", "grade": "general"}))
        }),
        ("GET", "/v1/hazards") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("GET", format!("/v1/hazards?site_id={site}"))
        }),
        ("GET", "/v1/hazards/export") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new(
                "GET",
                format!("/v1/hazards/export?format=csv&site_id={site}"),
            )
        }),
        ("GET", "/v1/hazards/{id}") => by_id(Readers::Plant, &fx.hazard, &r, &|id| {
            Req::new("GET", at(path, id))
        }),
        ("PATCH", "/v1/hazards/{id}") => by_id(Readers::Plant, &fx.hazard, &r, &|id| {
            Req::new("PATCH", at(path, id)).json(json!({"title": "Renamed"}))
        }),
        ("POST", command) if command.starts_with("/v1/hazards/{id}/") => {
            by_id(Readers::Plant, &fx.hazard, &r, &|id| {
                Req::new("POST", at(command, id)).json(json!({}))
            })
        }
        ("GET", "/v1/stats/hazards") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("GET", format!("/v1/stats/hazards?site_id={site}"))
        }),
        ("GET", "/v1/reports/period") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new(
                "GET",
                format!("/v1/reports/period?period=2026-Q1&site_id={site}"),
            )
        }),
        ("GET", "/v1/reports/period.xlsx") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new(
                "GET",
                format!("/v1/reports/period.xlsx?period=2026-Q1&site_id={site}"),
            )
        }),
        ("GET", "/v1/reports/period.html") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new(
                "GET",
                format!("/v1/reports/period.html?period=2026-Q1&site_id={site}"),
            )
        }),
        ("GET", "/v1/reports/signoffs") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new(
                "GET",
                format!("/v1/reports/signoffs?period=2026-Q1&site_id={site}"),
            )
        }),
        ("POST", "/v1/reports/signoffs") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("POST", "/v1/reports/signoffs".into())
                .json(json!({"period": "2026-Q1", "site_id": site}))
        }),
        ("POST", "/v1/reports/signoffs/submission") => {
            by_id(Readers::Plant, &fx.plant, &r, &|site| {
                Req::new("POST", "/v1/reports/signoffs/submission".into())
                    .json(json!({"period": "2026-Q2", "site_id": site}))
            })
        }
        ("GET", "/v1/reports/deadlines") => {
            same(|| Req::new("GET", "/v1/reports/deadlines".into()))
        }
        ("GET", "/v1/inspections/export") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("GET", format!("/v1/inspections/export?site_id={site}"))
        }),
        ("GET", "/v1/events") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("GET", format!("/v1/events?site={site}"))
        }),
        ("POST", "/v1/devices") => same(|| {
            Req::new("POST", "/v1/devices".into())
                .json(json!({"name": "Spare", "platform": "android", "app_version": "1"}))
        }),
        ("GET", "/v1/devices") => same(|| Req::new("GET", "/v1/devices".into())),
        ("DELETE", "/v1/devices/{id}") => by_id(Readers::Owner, &fx.device, &r, &|id| {
            Req::new("DELETE", at(path, id))
        }),
        ("POST", "/v1/sync/push") => {
            let real = push_body(p, &fx.hazard, &fx.inspection, &fx.photo);
            let random = push_body(p, &r, &rand_id(), &rsha);
            let mut ids = vec![fx.hazard.clone(), r.clone()];
            ids.extend([
                fx.inspection.clone(),
                random["mutations"][5]["args"]["inspection_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ]);
            Case {
                readers: Readers::Plant,
                real: Req::new("POST", path.into()).json(real),
                random: Req::new("POST", path.into()).json(random),
                ids,
                compare: true,
            }
        }
        ("GET", "/v1/sync/pull") => {
            let q = p
                .device
                .as_ref()
                .map(|d| format!("?device_id={d}"))
                .unwrap_or_default();
            Case {
                readers: Readers::Nobody,
                real: Req::new("GET", format!("{path}{q}")),
                random: Req::new("GET", format!("{path}{q}")),
                ids: Vec::new(),
                compare: false,
            }
        }
        ("GET", "/v1/conflicts") => by_id(Readers::Plant, &fx.plant, &r, &|site| {
            Req::new("GET", format!("/v1/conflicts?site_id={site}"))
        }),
        ("POST", "/v1/conflicts/{id}/resolve") => {
            by_id(Readers::Supervisors, &fx.conflict, &r, &|id| {
                Req::new("POST", at(path, id)).json(json!({"note": "seen"}))
            })
        }
        ("POST", "/v1/webhooks") => by_id(Readers::Admins, &fx.plant, &r, &|site| {
            Req::new("POST", "/v1/webhooks".into()).json(json!({"url": "http://127.0.0.1:9/other",
                "event_types": ["*"], "site_id": site}))
        }),
        ("GET", "/v1/webhooks") => same(|| Req::new("GET", "/v1/webhooks".into())),
        ("GET" | "DELETE", "/v1/webhooks/{id}") | ("GET", "/v1/webhooks/{id}/deliveries") => {
            by_id(Readers::Admins, &fx.webhook, &r, &|id| {
                Req::new(m, at(path, id))
            })
        }
        ("PATCH", "/v1/webhooks/{id}") => by_id(Readers::Admins, &fx.webhook, &r, &|id| {
            Req::new("PATCH", at(path, id)).json(json!({"description": "changed"}))
        }),
        ("GET", "/v1/webhooks/{id}/deliveries/{delivery_id}")
        | ("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver") => {
            let other = rand_id();
            let mut c = by_id(Readers::Admins, &fx.webhook, &r, &|id| {
                let d = if id == fx.webhook {
                    fx.delivery.as_str()
                } else {
                    other.as_str()
                };
                Req::new(m, at(path, id).replace("{delivery_id}", d))
            });
            c.ids.extend([fx.delivery.clone(), other.clone()]);
            c
        }
        // Uploading a photo's bytes proves possession of them: whoever holds them may learn
        // that the server has them too. Only the "nothing leaks" check applies.
        ("PUT", "/v1/photos/{sha256}") => {
            let bytes = noise_png(8, p.who as u64 + 100);
            let id = sha(&bytes);
            Case {
                readers: Readers::Nobody,
                real: Req::new("PUT", path.replace("{sha256}", &id)).bytes(bytes.clone()),
                random: Req::new("PUT", path.replace("{sha256}", &id)).bytes(bytes),
                ids: Vec::new(),
                compare: false,
            }
        }
        ("HEAD" | "GET", photo) if photo.starts_with("/v1/photos/{sha256}") => {
            by_id(Readers::Plant, &fx.photo, &rsha, &|id| {
                Req::new(m, photo.replace("{sha256}", id))
            })
        }
        ("OPTIONS", "/v1/uploads") => same(|| Req::new("OPTIONS", "/v1/uploads".into())),
        ("POST", "/v1/uploads") => same(|| {
            Req::new("POST", "/v1/uploads".into())
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "10")
                .header(
                    "upload-metadata",
                    format!("sha256 {}", b64(sha(b"0123456789").as_bytes())),
                )
        }),
        ("HEAD" | "DELETE", "/v1/uploads/{id}") => by_id(Readers::Owner, &fx.upload, &r, &|id| {
            Req::new(m, at(path, id)).header("tus-resumable", "1.0.0")
        }),
        ("PATCH", "/v1/uploads/{id}") => by_id(Readers::Owner, &fx.upload, &r, &|id| {
            Req::new("PATCH", at(path, id))
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", "0")
                .header("content-type", "application/offset+octet-stream")
                .bytes(Vec::new())
        }),
        ("POST", "/v1/risk/units") => {
            let name = format!("Unit {:?}", p.who);
            let person = fx.plant_person.clone();
            by_id(Readers::Plant, &fx.plant, &r, &|site| {
                Req::new("POST", path.into()).json(json!({"site_id": site, "name": name,
                    "kind": "place", "department": "Safety", "responsible_id": person}))
            })
        }
        ("GET", "/v1/risk/units") | ("GET", "/v1/risk/tasks") => {
            by_id(Readers::Plant, &fx.plant, &r, &|site| {
                Req::new("GET", format!("{path}?site_id={site}"))
            })
        }
        ("GET", "/v1/risk/units/{id}") => by_id(Readers::Plant, &fx.risk_unit, &r, &|id| {
            Req::new("GET", at(path, id))
        }),
        ("PATCH", "/v1/risk/units/{id}") => by_id(Readers::Plant, &fx.risk_unit, &r, &|id| {
            Req::new("PATCH", at(path, id)).json(json!({"department": "Changed"}))
        }),
        ("POST", "/v1/risk/units/{id}/events") => {
            let name = format!("Event {:?}", p.who);
            by_id(Readers::Plant, &fx.risk_unit, &r, &|id| {
                Req::new("POST", at(path, id))
                    .json(json!({"name": name, "likelihood": 2, "severity": 2}))
            })
        }
        ("POST", "/v1/risk/units/{id}/pauses") => by_id(Readers::Plant, &fx.risk_unit, &r, &|id| {
            Req::new("POST", at(path, id)).json(json!({"start_at": "2030-01-01T00:00:00Z",
                "end_at": "2030-01-02T00:00:00Z", "reason": "maintenance"}))
        }),
        ("GET", "/v1/risk/events/{id}") => by_id(Readers::Plant, &fx.risk_event, &r, &|id| {
            Req::new("GET", at(path, id))
        }),
        ("POST", "/v1/risk/events/{id}/assess") => {
            by_id(Readers::Plant, &fx.risk_event, &r, &|id| {
                Req::new("POST", at(path, id))
                    .json(json!({"likelihood": 3, "severity": 3, "reason": "review"}))
            })
        }
        ("POST", "/v1/risk/events/{id}/measures") => {
            let name = format!("Measure {:?}", p.who);
            by_id(Readers::Plant, &fx.risk_event, &r, &|id| {
                Req::new("POST", at(path, id)).json(json!({"name": name,
                    "category": "engineering", "check_content": "Check it"}))
            })
        }
        ("PATCH", "/v1/risk/measures/{id}") => by_id(Readers::Plant, &fx.risk_measure, &r, &|id| {
            Req::new("PATCH", at(path, id)).json(json!({"check_content": "Check again"}))
        }),
        ("PATCH", "/v1/risk/duties/{id}") => by_id(Readers::Plant, &fx.risk_duty, &r, &|id| {
            Req::new("PATCH", at(path, id)).json(json!({"active": true}))
        }),
        ("POST", "/v1/risk/measures/{id}/duties") => {
            by_id(Readers::Plant, &fx.risk_measure, &r, &|id| {
                Req::new("POST", at(path, id)).json(json!({"cycle": {"unit": "day", "every": 1},
                    "window": {"start": "08:00", "end": "17:30"}, "post": "Operator"}))
            })
        }
        // The sheet names the site by id: whoever cannot read it is told "no site" as for a
        // random id.
        ("POST", "/v1/risk/import") => {
            let unit = format!("Imported {:?}", p.who);
            by_id(Readers::Plant, &fx.plant, &r, &|site| {
                let csv = format!(
                    "站点,风险分析单元,单元类型,责任部门,责任人,风险事件,可能性L,严重性S,\
                     管控措施,措施分类,排查内容,排查周期,工作时间,排查岗位/人员\n\
                     {site},{unit},场所,安全部,inspector@example.com,泄漏,2,3,巡检,\
                     操作行为,查看,1天,08:00-17:30,操作工\n"
                );
                Req::new("POST", path.into())
                    .header("content-type", "text/csv")
                    .bytes(csv.into_bytes())
            })
        }
        _ => panic!(
            "{method} {path} has no case in the authorisation matrix (tests/api/isolation.rs): \
             say who may read what it names and how to call it"
        ),
    }
}

/// What came back, as far as it may differ between callers.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(app: &TestApp, token: &str, req: &Req) -> Answer {
    let mut b = app
        .client
        .request(req.method.parse().expect("method"), app.url(&req.path))
        .bearer_auth(token);
    for (k, v) in &req.headers {
        b = b.header(*k, v);
    }
    b = match &req.body {
        Body::None => b,
        Body::Json(v) => b.json(v),
        Body::Bytes(bytes) => b.body(bytes.clone()),
    };
    let res = b.send_checked().await.expect("request");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
    }
}

/// The body with the case's ids replaced by one placeholder, and, for a push, without the
/// members that number the mutations.
fn normalised(a: &Answer, ids: &[String], push: bool) -> Answer {
    let mut body = a.body.clone();
    if push {
        if let Ok(mut v) = serde_json::from_str::<Value>(&body) {
            if let Some(obj) = v.as_object_mut() {
                obj.remove("applied_through");
            }
            if let Some(results) = v.get_mut("results").and_then(Value::as_array_mut) {
                for r in results {
                    if let Some(o) = r.as_object_mut() {
                        o.remove("seq");
                        o.remove("id");
                    }
                }
            }
            body = v.to_string();
        }
    }
    for id in ids.iter().filter(|i| !i.is_empty()) {
        body = body.replace(id.as_str(), "<id>");
    }
    Answer {
        status: a.status,
        content_type: a.content_type.clone(),
        body,
    }
}

/// Builds the plant's entities: a hazard with a photo, an inspection, a conflict, a webhook
/// with a delivery, an upload and a device of the inspector, a spare client and user.
async fn fixture(app: &TestApp, c: &Crew) -> Fixture {
    let marker = format!("SECRET-{}", uuid::Uuid::new_v4().simple());
    let webhook = app
        .post_ok(
            "/v1/webhooks",
            &c.admin,
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "site_id": c.plant,
                    "description": marker}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bytes = noise_png(16, 7);
    let photo = sha(&bytes);
    let res = app.put_photo(c.token("inspector"), &photo, bytes).await;
    assert_eq!(res.status(), 201);
    let hazard = app
        .post_ok(
            "/v1/hazards",
            c.token("inspector"),
            &json!({"site_id": c.plant, "title": format!("Leak {marker}"), "description": marker,
                    "category": "unsafe_condition", "grade": "general",
                    "gps": {"lat": 36.6, "lon": 101.7}, "photos": [photo]}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for name in ["hot-work-permit"] {
        let path = format!("{}/demo/templates/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        app.post_ok("/v1/templates", &c.admin, &t, 201).await;
    }
    let inspection = app
        .post_ok(
            "/v1/inspections",
            c.token("inspector"),
            &json!({"site_id": c.plant, "template_key": "hot-work-permit"}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A late command from the supervisor's phone lands in the conflict log.
    let phone = device(app, c.token("supervisor")).await;
    push(
        app,
        c.token("supervisor"),
        &phone,
        json!([{"seq": 1, "id": rand_id(), "name": "hazard.start", "args": {"hazard_id": hazard},
                "hlc": hlc(hazardloop_storage::now_ms(), "s")}]),
    )
    .await;
    let conflicts = app.get_json("/v1/conflicts", c.token("supervisor")).await;
    let conflict = conflicts["items"][0]["id"].as_str().unwrap().to_string();
    let deliveries = app
        .get_json(&format!("/v1/webhooks/{webhook}/deliveries"), &c.admin)
        .await;
    let delivery = deliveries["items"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(c.token("inspector"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .header(
            "upload-metadata",
            format!("sha256 {}", b64(sha(marker.as_bytes()).as_bytes())),
        )
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let upload = res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let device = device(app, c.token("inspector")).await;
    let (spare_client, _) = client(app, &c.admin, &["hazards:read"], None).await;
    let spare_user = app
        .user(
            &c.admin,
            "spare@example.com",
            "inspector",
            Some(&c.workshop),
        )
        .await;
    let risk_unit = app
        .post_ok(
            "/v1/risk/units",
            &c.admin,
            &json!({"site_id": c.plant, "name": format!("Tank {marker}"), "kind": "installation",
                    "department": marker, "responsible_id": c.id("inspector")}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let risk_event = app
        .post_ok(
            &format!("/v1/risk/units/{risk_unit}/events"),
            &c.admin,
            &json!({"name": format!("Spill {marker}"), "likelihood": 3, "severity": 4}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let risk_measure = app
        .post_ok(
            &format!("/v1/risk/events/{risk_event}/measures"),
            &c.admin,
            &json!({"name": format!("Alarm {marker}"), "category": "engineering",
                    "check_content": marker}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let risk_duty = app
        .post_ok(
            &format!("/v1/risk/measures/{risk_measure}/duties"),
            &c.admin,
            &json!({"cycle": {"unit": "week", "every": 1}, "window": {"start": "08:00", "end": "17:00"},
                    "post": marker}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture {
        plant: c.plant.clone(),
        workshop: c.workshop.clone(),
        hazard,
        inspection,
        conflict,
        webhook,
        delivery,
        photo,
        upload,
        device,
        spare_client,
        spare_user,
        template_key: "hot-work-permit".into(),
        risk_unit,
        risk_event,
        risk_measure,
        risk_duty,
        plant_person: c.id("inspector").to_string(),
        marker,
    }
}

/// The admin of a second organisation.
async fn stranger(app: &TestApp) -> String {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        hazardloop_api::bootstrap::add_user(
            &db,
            Some("Other Co"),
            "stranger@example.com",
            "Stan Stranger",
            PASSWORD,
            hazardloop_sync::Role::Admin,
            None,
        )
        .expect("second organisation")
    })
    .await
    .unwrap();
    app.token("stranger@example.com").await
}

async fn principals(app: &TestApp, c: &Crew) -> Vec<Principal> {
    let (id, secret) = client(
        app,
        &c.admin,
        hazardloop_api::routes::SCOPES,
        Some(vec![c.other_plant.as_str()]),
    )
    .await;
    let limited = client_token(app, &id, &secret).await;
    let stranger = stranger(app).await;
    let mut out = Vec::new();
    for (who, token, person) in [
        (Who::Outsider, c.token("outsider").to_string(), true),
        (Who::LimitedClient, limited, false),
        (Who::Stranger, stranger, true),
        (Who::Inspector, c.token("inspector").to_string(), true),
        (Who::Supervisor, c.token("supervisor").to_string(), true),
        (Who::Manager, c.token("manager").to_string(), true),
        (Who::Admin, c.admin.clone(), true),
    ] {
        let device = if person {
            Some(device(app, &token).await)
        } else {
            None
        };
        out.push(Principal {
            who,
            token,
            device,
            next_seq: 1,
        });
    }
    out
}

async fn every_route_answers_an_unreadable_entity_like_a_random_id(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.webhook_allow_hosts = vec!["127.0.0.1".into()];
        c.webhook_concurrency = 0;
    })
    .await;
    let c = crew(&app).await;
    let fx = fixture(&app, &c).await;
    let mut people = principals(&app, &c).await;
    // Deletions last, so that every other route meets the entities as they were.
    let mut routes: Vec<(&str, &str)> = hazardloop_api::routes::ROUTES.to_vec();
    routes.sort_by_key(|(m, _)| *m == "DELETE");
    let mut told_apart: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut failures = Vec::new();
    // Those who may not read come first: nothing a reader does can change what they see.
    for p in people.iter_mut() {
        for (method, path) in &routes {
            let case = case(method, path, &fx, p);
            let real = send(&app, &p.token, &case.real).await;
            let random = if case.compare {
                send(&app, &p.token, &case.random).await
            } else {
                Answer {
                    status: real.status,
                    content_type: real.content_type.clone(),
                    body: String::new(),
                }
            };
            assert!(
                real.status < 500 && random.status < 500,
                "{:?} {method} {path}: {} / {}: {}",
                p.who,
                real.status,
                random.status,
                real.body
            );
            let push = *path == "/v1/sync/push";
            let (nr, nx) = (
                normalised(&real, &case.ids, push),
                normalised(&random, &case.ids, push),
            );
            let reader = reads(p.who, case.readers);
            if case.readers != Readers::Nobody {
                let e = told_apart
                    .entry((method.to_string(), path.to_string()))
                    .or_default();
                if reader {
                    *e |= nr != nx;
                }
            }
            if reader {
                continue;
            }
            if case.compare && nr != nx {
                failures.push(format!(
                    "{:?} {method} {path}: an entity it may not read answers\n  {} {}\n  but a random id answers\n  {} {}",
                    p.who, nr.status, nr.body, nx.status, nx.body
                ));
            }
            if matches!(p.who, Who::Outsider | Who::LimitedClient | Who::Stranger) {
                for secret in fx.secrets() {
                    if nr.body.contains(secret) || nx.body.contains(secret) {
                        failures.push(format!(
                            "{:?} {method} {path}: the answer carries {secret}: {}",
                            p.who, nr.body
                        ));
                    }
                }
            }
        }
    }
    for ((method, path), apart) in &told_apart {
        if !apart {
            failures.push(format!(
                "{method} {path}: no reader's answer told the real entity from a random id, so \
                 the comparison proves nothing"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

async fn a_taken_id_tells_who_cannot_read_it_nothing_more(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let c = crew(&app).await;
    let marker = "Confidential pump room";
    let hazard = app
        .post_ok(
            "/v1/hazards",
            c.token("inspector"),
            &json!({"site_id": c.plant, "title": marker, "category": "unsafe_act", "grade": "general"}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = json!({"id": hazard, "site_id": c.other_plant, "title": "Mine",
                       "category": "unsafe_act", "grade": "general"});
    // Someone at another plant reusing the id learns it is taken, and nothing else.
    let res = app.post("/v1/hazards", c.token("outsider"), &again).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "already_exists");
    assert!(body.get("current").is_none(), "{body}");
    assert!(!body.to_string().contains(marker));
    let phone = device(&app, c.token("outsider")).await;
    let out = push(
        &app,
        c.token("outsider"),
        &phone,
        json!([{"seq": 1, "id": rand_id(), "name": "hazard.report", "args": again,
                "hlc": hlc(hazardloop_storage::now_ms(), "o")}]),
    )
    .await;
    assert_eq!(out["results"][0]["code"], "already_exists", "{out}");
    assert!(out["results"][0]["current"].is_null(), "{out}");
    assert!(!out.to_string().contains(marker));
    // Whoever may read it gets it back, as before.
    let mine = json!({"id": hazard, "site_id": c.plant, "title": "Again",
                      "category": "unsafe_act", "grade": "general"});
    let res = app.post("/v1/hazards", c.token("supervisor"), &mine).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["current"]["title"], marker);
    // A site the caller sees nothing of is answered like one that does not exist.
    let at = |site: &str| json!({"site_id": site, "title": "X", "category": "unsafe_act", "grade": "general"});
    let hidden = app
        .post("/v1/hazards", c.token("outsider"), &at(&c.plant))
        .await;
    let (hs, hb) = (hidden.status(), hidden.text().await.unwrap());
    let random = rand_id();
    let none = app
        .post("/v1/hazards", c.token("outsider"), &at(&random))
        .await;
    let (ns, nb) = (none.status(), none.text().await.unwrap());
    assert_eq!(hs, 422);
    assert_eq!(
        (hs, hb.replace(&c.plant, "<id>")),
        (ns, nb.replace(&random, "<id>"))
    );
}

async fn a_forged_or_borrowed_pull_cursor_reveals_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let c = crew(&app).await;
    let hazard = crate::closed_loop::report(&app, &c, "Behind the wall", "general").await;
    let phone = device(&app, c.token("outsider")).await;
    let pull = |cursor: String| format!("/v1/sync/pull?device_id={phone}&cursor={cursor}");
    let first = app
        .get_json(
            &format!("/v1/sync/pull?device_id={phone}"),
            c.token("outsider"),
        )
        .await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    assert!(!first.to_string().contains(&hazard));
    // A cursor rewritten to claim an admin's view would list, as tombstones, the id of every
    // entity the outsider may not read.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = cursor.split('.').next().unwrap();
    let mut claims: Value = serde_json::from_slice(&b64.decode(body).unwrap()).unwrap();
    claims["r"] = json!(["*"]);
    let forged_body = b64.encode(claims.to_string());
    let forged_signed = match cursor.split_once('.') {
        Some((_, mac)) => format!("{forged_body}.{mac}"),
        None => forged_body.clone(),
    };
    for forged in [forged_body, forged_signed] {
        let res = app.get(&pull(forged), c.token("outsider")).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(&hazard),
            "a forged cursor revealed {hazard}: {text}"
        );
        assert!(matches!(status, 400 | 410), "{status} {text}");
    }
    // Nor does someone else's cursor work.
    let admin_phone = device(&app, &c.admin).await;
    let admin_first = app
        .get_json(&format!("/v1/sync/pull?device_id={admin_phone}"), &c.admin)
        .await;
    assert!(admin_first.to_string().contains(&hazard));
    let borrowed = admin_first["next_cursor"].as_str().unwrap().to_string();
    let res = app.get(&pull(borrowed), c.token("outsider")).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&hazard),
        "a borrowed cursor revealed {hazard}: {text}"
    );
    assert_eq!(status, 400, "{text}");
    // The outsider's own cursor still works.
    let res = app.get(&pull(cursor), c.token("outsider")).await;
    assert_eq!(res.status(), 200);
}

async fn photo_metadata_and_events_show_only_what_the_reader_may_read(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.webhook_allow_hosts = vec!["127.0.0.1".into()];
        c.webhook_concurrency = 0;
    })
    .await;
    let c = crew(&app).await;
    // The same photo, linked at the plant and at the other plant (its uploaders hold it).
    let bytes = noise_png(12, 3);
    let photo = sha(&bytes);
    assert_eq!(
        app.put_photo(c.token("inspector"), &photo, bytes.clone())
            .await
            .status(),
        201
    );
    let report = |site: &str| {
        json!({"site_id": site, "title": "Rust", "category": "unsafe_condition",
                                     "grade": "general", "photos": [photo]})
    };
    let inside = app
        .post_ok("/v1/hazards", c.token("inspector"), &report(&c.plant), 201)
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Sending the same bytes proves the outsider holds them, not who sent them first or when.
    let res = app.put_photo(c.token("outsider"), &photo, bytes).await;
    assert_eq!(res.status(), 200);
    let sent: Value = res.json().await.unwrap();
    assert_eq!(sent["id"], photo.as_str());
    assert!(sent["uploaded_by"].is_null(), "{sent}");
    assert!(sent["received_at"].is_null(), "{sent}");
    let outside = app
        .post_ok(
            "/v1/hazards",
            c.token("outsider"),
            &report(&c.other_plant),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let links = |v: &Value| -> Vec<String> {
        v["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["entity_id"].as_str().unwrap().to_string())
            .collect()
    };
    let meta = app
        .get_json(&format!("/v1/photos/{photo}/metadata"), c.token("outsider"))
        .await;
    assert_eq!(links(&meta), vec![outside.clone()]);
    assert!(!meta.to_string().contains(&c.plant));
    let meta = app
        .get_json(&format!("/v1/photos/{photo}/metadata"), &c.admin)
        .await;
    let mut both = vec![inside, outside];
    both.sort();
    let mut seen = links(&meta);
    seen.sort();
    assert_eq!(seen, both);
    // A webhook turned off is an organisation-level event with its URL: for admins only.
    let hook = app
        .post_ok(
            "/v1/webhooks",
            &c.admin,
            &json!({"url": "http://127.0.0.1:9/private-receiver", "event_types": ["hazard.reported"]}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .patch(
            &format!("/v1/webhooks/{hook}"),
            &c.admin,
            &json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let types = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    };
    let admin_feed = app.get_json("/v1/events?limit=1000", &c.admin).await;
    assert!(types(&admin_feed).contains(&"webhook.disabled".to_string()));
    for who in ["outsider", "supervisor"] {
        let feed = app.get_json("/v1/events?limit=1000", c.token(who)).await;
        assert!(
            !feed.to_string().contains("private-receiver"),
            "{who}: {feed}"
        );
    }
}

async fn linking_another_sites_photo_by_its_id_reveals_and_grants_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let c = crew(&app).await;
    let bytes = noise_png(10, 11);
    let photo = sha(&bytes);
    assert_eq!(
        app.put_photo(c.token("inspector"), &photo, bytes.clone())
            .await
            .status(),
        201
    );
    let report = |site: &str, title: &str, sha: &str| {
        json!({"site_id": site, "title": title, "category": "unsafe_condition",
               "grade": "general", "photos": [sha]})
    };
    app.post_ok(
        "/v1/hazards",
        c.token("inspector"),
        &report(&c.plant, "Corroded flange", &photo),
        201,
    )
    .await;
    // The outsider names the plant's photo by its id, and a photo nobody ever uploaded.
    let never = sha(b"never uploaded");
    let mut answers = Vec::new();
    let mut hazards = Vec::new();
    for sha in [&photo, &never] {
        let h = app
            .post_ok(
                "/v1/hazards",
                c.token("outsider"),
                &report(&c.other_plant, "Mine", sha),
                201,
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let got = app
            .get_json(&format!("/v1/hazards/{h}"), c.token("outsider"))
            .await;
        let mut seen = vec![got["photos"].to_string().replace(sha.as_str(), "<sha>")];
        for tail in ["", "/thumbnail"] {
            let res = app
                .get(&format!("/v1/photos/{sha}{tail}"), c.token("outsider"))
                .await;
            seen.push(format!("{} {}", res.status(), res.text().await.unwrap()));
        }
        // The metadata: the same facts (none), and the outsider's own link only.
        let mut meta = app
            .get_json(&format!("/v1/photos/{sha}/metadata"), c.token("outsider"))
            .await;
        assert_eq!(meta["links"].as_array().unwrap().len(), 1, "{meta}");
        assert_eq!(meta["links"][0]["entity_id"], h.as_str());
        meta["links"] = json!([]);
        seen.push(meta.to_string().replace(sha.as_str(), "<sha>"));
        seen.push(
            app.head_photo(c.token("outsider"), sha)
                .await
                .status()
                .to_string(),
        );
        answers.push(seen);
        hazards.push(h);
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0][0].contains("pending"), "{:?}", answers[0]);
    assert!(answers[0][1].starts_with("409"), "{:?}", answers[0]);
    // Whoever holds the bytes proves it by uploading them: then their link counts.
    assert_eq!(
        app.put_photo(c.token("outsider"), &photo, bytes)
            .await
            .status(),
        200
    );
    let got = app
        .get_json(&format!("/v1/hazards/{}", hazards[0]), c.token("outsider"))
        .await;
    assert_ne!(got["photos"][0]["status"], "pending", "{got}");
    assert_eq!(
        app.get(&format!("/v1/photos/{photo}"), c.token("outsider"))
            .await
            .status(),
        200
    );
    // The plant's readers kept their photo throughout.
    assert_eq!(
        app.get(&format!("/v1/photos/{photo}"), c.token("supervisor"))
            .await
            .status(),
        200
    );
}

/// A console page or form, and who may read what it names.
struct ConsoleCase {
    method: &'static str,
    /// The path with `{}` where the entity's id goes.
    path: String,
    readers: Readers,
    /// The entity's id (for a form under a webhook, the delivery's).
    real: String,
}

/// The console's pages and forms that name one entity, and the admin pages (which name the
/// organisation's people, clients and webhooks).
fn console_cases(fx: &Fixture) -> Vec<ConsoleCase> {
    let c = |method, path: &str, readers, real: &str| ConsoleCase {
        method,
        path: path.to_string(),
        readers,
        real: real.to_string(),
    };
    let hook = format!("/admin/webhooks/{}/deliveries/{{}}/redeliver", fx.webhook);
    vec![
        c("GET", "/hazards/{}", Readers::Plant, &fx.hazard),
        c("POST", "/hazards/{}/cancel", Readers::Plant, &fx.hazard),
        c("GET", "/inspections/{}", Readers::Plant, &fx.inspection),
        c(
            "POST",
            "/conflicts/{}/resolve",
            Readers::Supervisors,
            &fx.conflict,
        ),
        c("GET", "/admin/users/{}", Readers::Admins, &fx.spare_user),
        c(
            "POST",
            "/admin/users/{}/roles",
            Readers::Admins,
            &fx.spare_user,
        ),
        c(
            "POST",
            "/admin/users/{}/roles/revoke",
            Readers::Admins,
            &fx.spare_user,
        ),
        c(
            "POST",
            "/admin/clients/{}/revoke",
            Readers::Admins,
            &fx.spare_client,
        ),
        c("GET", "/admin/webhooks/{}", Readers::Admins, &fx.webhook),
        c("POST", &hook, Readers::Admins, &fx.delivery),
    ]
}

/// The admin pages that name no entity: a 404 for everyone but admins.
const CONSOLE_ADMIN_PAGES: [&str; 7] = [
    "/admin",
    "/admin/sites",
    "/admin/users",
    "/admin/templates",
    "/admin/clients",
    "/admin/webhooks",
    "/admin/ledger",
];

/// Pages that list what the visitor may see: they must show nothing of the plant to those
/// who cannot read it.
const CONSOLE_LISTS: [&str; 8] = [
    "/",
    "/hazards",
    "/inspections",
    "/conflicts",
    "/events",
    "/dashboard",
    "/ledger/hazards.csv",
    "/admin/templates",
];

async fn console_pages_isolate_sites_and_organisations_like_the_api(backend: Backend) {
    use crate::console::Browser;
    let app = spawn_app_with(backend, |c| {
        c.webhook_allow_hosts = vec!["127.0.0.1".into()];
        c.webhook_concurrency = 0;
    })
    .await;
    let c = crew(&app).await;
    let fx = fixture(&app, &c).await;
    stranger(&app).await;
    let who = [
        (Who::Outsider, "outsider@example.com"),
        (Who::Stranger, "stranger@example.com"),
        (Who::Inspector, "inspector@example.com"),
        (Who::Supervisor, "supervisor@example.com"),
        (Who::Manager, "manager@example.com"),
        (Who::Admin, crate::helpers::ADMIN_EMAIL),
    ];
    let cases = console_cases(&fx);
    let mut failures = Vec::new();
    let mut checked = 0;
    // Those who may not read come first, so that no reader's form changes what they meet.
    for (w, email) in who {
        let mut b = Browser::signed_in(&app, email).await;
        let csrf = b.get("/").await.csrf();
        let random = uuid::Uuid::now_v7().to_string();
        for case in &cases {
            let may = reads(w, case.readers);
            let real_path = case.path.replace("{}", &case.real);
            let random_path = case.path.replace("{}", &random);
            if may {
                if case.method == "GET" {
                    let real = b.get(&real_path).await;
                    if real.status != 200 {
                        failures.push(format!(
                            "{w:?} GET {real_path}: {} for a reader",
                            real.status
                        ));
                    }
                }
                continue;
            }
            let (real, none) = if case.method == "GET" {
                (b.get(&real_path).await, b.get(&random_path).await)
            } else {
                let fields = [
                    ("csrf", csrf.as_str()),
                    ("site_id", fx.plant.as_str()),
                    ("role", "manager"),
                    ("reason", "probe"),
                    ("resolution", "keep_server"),
                ];
                (
                    b.post(&real_path, &fields).await,
                    b.post(&random_path, &fields).await,
                )
            };
            checked += 1;
            let real_body = real.body.replace(&case.real, "ID");
            let none_body = none.body.replace(&random, "ID");
            if real.status != 404 || none.status != 404 || real_body != none_body {
                failures.push(format!(
                    "{w:?} {} {}: {} vs {} for a random id",
                    case.method, case.path, real.status, none.status
                ));
            }
            for s in fx.secrets() {
                if real.body.contains(s) {
                    failures.push(format!("{w:?} {} {} shows {s}", case.method, case.path));
                }
            }
        }
        let not_found = b.get(&format!("/hazards/{random}")).await;
        for path in CONSOLE_ADMIN_PAGES {
            let page = b.get(path).await;
            checked += 1;
            // The other organisation's admin sees their own organisation's administration.
            if matches!(w, Who::Admin | Who::Stranger) {
                if !(page.status == 200 || (page.status == 303 && path == "/admin")) {
                    failures.push(format!("{w:?} GET {path}: {}", page.status));
                }
                if w == Who::Stranger {
                    for s in fx.secrets() {
                        if page.body.contains(s) {
                            failures.push(format!("{w:?} GET {path} shows {s}"));
                        }
                    }
                }
            } else if page.status != 404 || page.body != not_found.body {
                failures.push(format!(
                    "{w:?} GET {path}: {} and not the 404 page",
                    page.status
                ));
            }
        }
        if !matches!(w, Who::Outsider | Who::Stranger) {
            continue;
        }
        for path in CONSOLE_LISTS {
            let page = b.get(path).await;
            checked += 1;
            for s in fx.secrets() {
                if page.body.contains(s) {
                    failures.push(format!("{w:?} GET {path} shows {s}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The probes changed nothing: the spare user keeps their one role, the client and the
    // hazard are as they were.
    let user = app.get_json("/v1/users?limit=500", &c.admin).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == fx.spare_user.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        user["memberships"],
        json!([{"site_id": fx.workshop, "role": "inspector"}])
    );
    let h = app
        .get_json(&format!("/v1/hazards/{}", fx.hazard), &c.admin)
        .await;
    assert_eq!(h["state"], "reported");
}
