//! `report.sign` and `report.submit`: the principal signs a finished period's report (its
//! figures frozen with their hash), and the submission to the authority is recorded. Both are
//! audit events in the organisation's chain, in the event feed and on webhooks.
//!
//! Who is the principal (主要负责人): the user named by the organisation's
//! `settings.principal_id`; while none is named, the organisation's admins sign.

use hazardloop_sync::period::Period;
use serde_json::{json, Value};

use hazardloop_sync::protocol::{ReportScope, ReportSubmit};

use super::{site_named, Applied, Ctx, Failure, MutationRejection, RejectionCode};
use crate::audit::EventInput;
use crate::reports::{self, Scope};
use crate::signoffs::{self, Signoff};
use crate::{orgs, DbConn};

/// The scope named by `site_id` (visible to the caller) or the whole organisation (the
/// principal answers for all of it, whatever sites they have a role at), and the period.
fn scope_arg(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &ReportScope,
) -> Result<(Period, Scope), Failure> {
    let period = args.period.clone()?;
    let site = match args.site_id.clone()? {
        Some(id) => Some(site_named(conn, ctx, &id)?),
        None => None,
    };
    Ok((
        period,
        Scope {
            site,
            visible: None,
        },
    ))
}

fn is_principal(conn: &mut DbConn, ctx: &Ctx<'_>) -> Result<bool, Failure> {
    let org = orgs::get(conn, &ctx.caller.org_id)?;
    Ok(match org.principal_id() {
        Some(p) => p == ctx.caller.user_id,
        None => ctx.caller.is_admin,
    })
}

fn applied(s: &Signoff, created: bool) -> Applied {
    Applied {
        entity_type: "report".into(),
        entity_id: s.id.clone(),
        version: 1,
        lost: vec![],
        entity: serde_json::to_value(s.view()).unwrap_or(Value::Null),
        created,
    }
}

fn event(ctx: &Ctx<'_>, s: &Signoff, name: &str, payload: Value) -> EventInput {
    EventInput {
        entity_type: "report",
        entity_id: s.id.clone(),
        hazard_id: None,
        site_id: (!s.scope.is_empty()).then(|| s.scope.clone()),
        actor_id: Some(ctx.caller.user_id.clone()),
        device_id: ctx.caller.device_id.clone(),
        device_time: Some(ctx.device_time),
        event: name.to_string(),
        from_state: None,
        to_state: None,
        payload,
    }
}

/// Signs a finished period's report: `period` (or `from`/`to`), optional `site_id`.
pub(super) fn sign(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &ReportScope,
) -> Result<Applied, Failure> {
    let (period, scope) = scope_arg(conn, ctx, args)?;
    if !is_principal(conn, ctx)? {
        return Err(MutationRejection::forbidden(
            "only the organisation's principal signs its reports",
        )
        .into());
    }
    let label = period.label();
    if let Some(existing) = signoffs::find(conn, &ctx.caller.org_id, &scope.key(), &label)? {
        return Err(MutationRejection::new(
            RejectionCode::AlreadyExists,
            format!("the report of {label} is signed already"),
            json!({"id": existing.id}),
        )
        .with_current(applied(&existing, false).entity)
        .into());
    }
    let report = reports::period_report(conn, &ctx.caller.org_id, &scope, &period, ctx.now)?;
    if !report.complete {
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            format!("{label} has not ended; its report can be signed once it has"),
            json!({"period": label, "ends": report.period.end}),
        )
        .into());
    }
    let snapshot =
        serde_json::to_value(&report).map_err(|e| crate::StorageError::Invalid(e.to_string()))?;
    let hash = signoffs::snapshot_hash(&snapshot);
    let s = Signoff {
        id: crate::new_id(),
        org_id: ctx.caller.org_id.clone(),
        scope: scope.key(),
        period: label.clone(),
        snapshot: snapshot.to_string(),
        snapshot_hash: hash.clone(),
        signed_by: ctx.caller.user_id.clone(),
        signed_at: ctx.now,
        submitted_by: None,
        submitted_at: None,
        submission_reference: None,
    };
    signoffs::insert(conn, &s)?;
    let ev = event(
        ctx,
        &s,
        hazardloop_sync::event::REPORT_SIGNED,
        json!({"period": label, "site_id": report.scope.site_id, "snapshot_hash": hash}),
    );
    ctx.change.audit(conn, ev)?;
    Ok(applied(&s, true))
}

/// Records that a signed report went to the authority: `period` (or `from`/`to`), optional
/// `site_id`, optional `reference` (receipt number, how it was sent).
pub(super) fn submit(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &ReportSubmit,
) -> Result<Applied, Failure> {
    let (period, scope) = scope_arg(conn, ctx, &args.scope)?;
    let reference = args.reference.clone()?;
    if !(ctx.caller.is_admin || is_principal(conn, ctx)?) {
        return Err(MutationRejection::forbidden(
            "only the principal or an admin records a report's submission",
        )
        .into());
    }
    let label = period.label();
    let Some(mut s) = signoffs::find(conn, &ctx.caller.org_id, &scope.key(), &label)? else {
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            format!("the report of {label} is not signed yet"),
            json!({"period": label}),
        )
        .into());
    };
    if s.submitted_at.is_some() {
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            format!("the report of {label} was submitted already"),
            json!({"period": label}),
        )
        .with_current(applied(&s, false).entity)
        .into());
    }
    signoffs::set_submitted(
        conn,
        &s.id,
        &ctx.caller.user_id,
        ctx.now,
        reference.as_deref(),
    )?;
    s.submitted_by = Some(ctx.caller.user_id.clone());
    s.submitted_at = Some(ctx.now);
    s.submission_reference = reference.clone();
    let ev = event(
        ctx,
        &s,
        hazardloop_sync::event::REPORT_SUBMITTED,
        json!({"period": label, "site_id": scope.site.as_ref().map(|x| x.id.clone()),
               "reference": reference, "snapshot_hash": s.snapshot_hash}),
    );
    ctx.change.audit(conn, ev)?;
    Ok(applied(&s, false))
}
