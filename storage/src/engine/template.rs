//! Template import: the same key with new content publishes a new immutable version; the same
//! content changes nothing.

use diesel::prelude::*;
use hazardloop_sync::protocol::TemplateImport;
use serde_json::{json, Value};

use super::{Applied, Ctx, Failure, MutationRejection, RejectionCode};
use crate::audit::EventInput;
use crate::schema::templates as t;
use crate::templates::{self, TemplateRow};
use crate::{new_id, DbConn};

/// The public view of a template version ([`TemplateRow::view`]).
pub fn template_view(row: &TemplateRow) -> Value {
    row.view()
}

fn applied(row: &TemplateRow, created: bool) -> Applied {
    Applied {
        entity_type: "template".into(),
        entity_id: row.id.clone(),
        version: i64::from(row.version),
        lost: vec![],
        entity: template_view(row),
        created,
    }
}

pub(super) fn import(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &TemplateImport,
) -> Result<Applied, Failure> {
    if !ctx.caller.is_admin {
        return Err(
            MutationRejection::forbidden("only an organisation admin publishes templates").into(),
        );
    }
    let template = args.template.clone()?;
    if let Err(problems) = template.validate() {
        return Err(MutationRejection::new(
            RejectionCode::Invalid,
            format!("the template is not valid: {}", problems.join("; ")),
            json!({"field": "template", "problems": problems}),
        )
        .into());
    }
    let unknown = template.unknown_grades(&ctx.policy.grade_scale);
    if !unknown.is_empty() {
        return Err(MutationRejection::invalid(
            "template",
            format!(
                "grades not used by this organisation: {}",
                unknown.join(", ")
            ),
        )
        .into());
    }
    let hash = template.canonical_hash();
    let latest = templates::latest(conn, &ctx.caller.org_id, &template.key)?;
    if let Some(l) = &latest {
        if l.content_hash == hash {
            return Ok(applied(l, false));
        }
    }
    let row = TemplateRow {
        id: new_id(),
        org_id: ctx.caller.org_id.clone(),
        key: template.key.clone(),
        version: latest.map(|l| l.version + 1).unwrap_or(1),
        title: template.title.clone(),
        content: serde_json::to_string(&template)
            .map_err(|e| MutationRejection::invalid("template", e.to_string()))?,
        content_hash: hash,
        created_by: Some(ctx.caller.user_id.clone()),
        created_at: ctx.now,
    };
    diesel::insert_into(t::table).values(&row).execute(conn)?;
    ctx.change.touch(conn, "template", &row.id, None, false)?;
    let ev = EventInput {
        entity_type: "template",
        entity_id: row.id.clone(),
        actor_id: Some(ctx.caller.user_id.clone()),
        device_id: ctx.caller.device_id.clone(),
        device_time: Some(ctx.device_time),
        event: "template.published".into(),
        payload: json!({"key": row.key, "version": row.version, "content_hash": row.content_hash}),
        ..EventInput::default()
    };
    ctx.change.audit(conn, ev)?;
    Ok(applied(&row, true))
}
