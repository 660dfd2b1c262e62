//! The mutation envelope (one change sent by a device or an integration) and the parsing of a
//! workflow mutation's JSON arguments into a [`Command`].

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::command::{Command, FiveImplementations};
use crate::hazard::Grade;
use crate::money::Money;
use crate::photo::is_photo_id;
use crate::refusal::Refusal;
use crate::timestamp::parse_rfc3339_ms;
use crate::workflow::{check_gate, decide, Actor, HazardFacts, Outcome, Policy};

/// One change, as a device queues it or a REST call is turned into it. Only the envelope: what
/// `name` means and which `args` it takes is up to the code that applies it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mutation {
    /// Client-chosen id; the same id again is the same mutation (exactly once).
    pub id: Uuid,
    /// What to do, e.g. `"verify"` or `"hazard.update"`.
    pub name: String,
    /// Arguments: a JSON object with snake_case keys.
    #[serde(default)]
    pub args: Value,
    /// The entity version the client last saw, if it tracks one.
    #[serde(default)]
    pub base_version: Option<i64>,
    /// The client's hybrid logical clock reading, text form (see [`crate::Hlc`]).
    #[serde(default)]
    pub hlc: Option<String>,
    /// When it happened on the device, RFC 3339.
    #[serde(default)]
    pub device_time: Option<String>,
    /// The device's queue position (sync push only; absent for REST).
    #[serde(default)]
    pub seq: Option<i64>,
    /// Mutations sharing a group id are applied all or nothing.
    #[serde(default)]
    pub group: Option<Uuid>,
}

impl Mutation {
    /// `device_time` as unix milliseconds; a malformed time is [`Refusal::Invalid`] on field
    /// `device_time`.
    pub fn device_time_ms(&self) -> Result<Option<i64>, Refusal> {
        self.device_time
            .as_deref()
            .map(|t| {
                parse_rfc3339_ms(t).map_err(|e| Refusal::invalid("device_time", e.to_string()))
            })
            .transpose()
    }

    /// `hlc` parsed; a malformed clock is [`Refusal::Invalid`] on field `hlc`.
    pub fn parse_hlc(&self) -> Result<Option<crate::Hlc>, Refusal> {
        self.hlc
            .as_deref()
            .map(|h| {
                h.parse()
                    .map_err(|e: crate::ParseError| Refusal::invalid("hlc", e.to_string()))
            })
            .transpose()
    }
}

/// Parses a workflow command from its name and JSON arguments.
///
/// Argument keys: `owner_id`, `verifier_id` (UUID text), `deadline` (RFC 3339), `measures`,
/// `five` (object: `responsible_person`, `measures`, `funds`, `deadline`, `contingency_plan`,
/// `funds_amount` as `{amount, currency}`), `note`, `after_photos` (array of photo ids;
/// upper-case hex is lowered, duplicates dropped), `cost` (`{amount, currency}`),
/// `reason`, `grade`. Unknown keys are ignored.
///
/// A present argument of the wrong type or shape is [`Refusal::Invalid`] naming it (`null`
/// counts as absent). Absent arguments are *not* refused here: they come out as `None`, blank
/// or empty, and [`decide`] names every missing one after checking the transition and the
/// permission. An unknown name or non-object `args` is [`Refusal::Invalid`] on `name`/`args`.
pub fn parse_command(name: &str, args: &Value) -> Result<Command, Refusal> {
    let empty = Map::new();
    let obj = match args {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err(Refusal::invalid("args", "expected a JSON object")),
    };
    let a = Args { obj, prefix: "" };
    Ok(match name {
        "assign" => Command::Assign {
            owner_id: a.uuid("owner_id")?,
            verifier_id: a.uuid("verifier_id")?,
            deadline_ms: a.time("deadline")?,
            measures: a.text("measures")?,
            five: a.five()?,
        },
        "start" => Command::Start,
        "rectify_on_spot" => Command::RectifyOnSpot {
            note: a.text("note")?,
            after_photos: a.photos("after_photos")?,
            cost: a.money("cost")?,
        },
        "submit_rectification" => Command::SubmitRectification {
            note: a.text("note")?,
            after_photos: a.photos("after_photos")?,
            cost: a.money("cost")?,
        },
        "verify" => Command::Verify {
            note: a.text("note")?,
        },
        "reject" => Command::Reject {
            reason: a.text("reason")?,
        },
        "regrade" => Command::Regrade {
            grade: a.optional_text("grade")?.map(Grade::new),
            reason: a.text("reason")?,
            five: a.five()?,
        },
        "extend_deadline" => Command::ExtendDeadline {
            deadline_ms: a.time("deadline")?,
            reason: a.text("reason")?,
        },
        "cancel" => Command::Cancel {
            reason: a.text("reason")?,
        },
        other => {
            return Err(Refusal::invalid(
                "name",
                format!("unknown workflow command {other:?}"),
            ))
        }
    })
}

/// The whole decision for a workflow mutation, in [`decide`]'s order even though the
/// arguments are still JSON: transition, permission, then parsing, then required and valid
/// arguments. This is what the write path calls.
pub fn decide_mutation(
    facts: &HazardFacts,
    actor: &Actor,
    name: &str,
    args: &Value,
    policy: &Policy,
) -> Result<(Command, Outcome), Refusal> {
    check_gate(facts, actor, name)?;
    let command = parse_command(name, args)?;
    let outcome = decide(facts, actor, &command, policy)?;
    Ok((command, outcome))
}

struct Args<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'static str,
}

impl Args<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, message: impl Into<String>) -> Refusal {
        Refusal::invalid(format!("{}{key}", self.prefix), message)
    }

    fn optional_text(&self, key: &str) -> Result<Option<String>, Refusal> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(self.bad(key, "expected text")),
        }
    }

    fn text(&self, key: &str) -> Result<String, Refusal> {
        Ok(self.optional_text(key)?.unwrap_or_default())
    }

    fn uuid(&self, key: &str) -> Result<Option<Uuid>, Refusal> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Uuid::parse_str(s)
                .map(Some)
                .map_err(|_| self.bad(key, "expected a UUID")),
            Some(_) => Err(self.bad(key, "expected a UUID as text")),
        }
    }

    fn time(&self, key: &str) -> Result<Option<i64>, Refusal> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => parse_rfc3339_ms(s).map(Some).map_err(|_| {
                self.bad(
                    key,
                    "expected an RFC 3339 time, e.g. 2026-06-30T18:00:00+08:00",
                )
            }),
            Some(_) => Err(self.bad(key, "expected an RFC 3339 time as text")),
        }
    }

    fn money(&self, key: &str) -> Result<Option<Money>, Refusal> {
        self.get(key)
            .map(|v| Money::from_json(v).map_err(|m| self.bad(key, m)))
            .transpose()
    }

    fn photos(&self, key: &str) -> Result<Vec<String>, Refusal> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.bad(key, "expected an array of photo ids")),
        };
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let id = item
                .as_str()
                .map(str::to_ascii_lowercase)
                .filter(|s| is_photo_id(s));
            let Some(id) = id else {
                return Err(self.bad(
                    key,
                    format!("{item} is not a photo id (64 hex digits of SHA-256)"),
                ));
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn five(&self) -> Result<Option<FiveImplementations>, Refusal> {
        let obj = match self.get("five") {
            None => return Ok(None),
            Some(Value::Object(obj)) => obj,
            Some(_) => return Err(self.bad("five", "expected an object")),
        };
        let f = Args {
            obj,
            prefix: "five.",
        };
        Ok(Some(FiveImplementations {
            responsible_person: f.text("responsible_person")?,
            measures: f.text("measures")?,
            funds: f.text("funds")?,
            funds_amount: f.money("funds_amount")?,
            deadline_ms: f.time("deadline")?,
            contingency_plan: f.text("contingency_plan")?,
        }))
    }
}
