//! Photo links made by mutations: the `photo.link` mutation, and the links a hazard or an
//! inspection makes to its own photos. Links only grow; a photo whose bytes have not arrived
//! is pending until they do; a new link to a photo that is here is judged at once
//! (`photos::evidence`) and a flag becomes a `photo.flagged` event in the same transaction.

use hazardloop_sync::photo::PhotoStatus;
use hazardloop_sync::protocol::PhotoLink;
use hazardloop_sync::MutationRejection;
use serde_json::json;

use super::{Applied, Ctx, Failure};
use crate::{DbConn, StorageError};

/// Links photos to an entity (grow-only; a photo not uploaded yet is pending until its bytes
/// arrive). A malformed photo id is a rejection naming `field`. A new link to a photo whose
/// bytes are here is judged at once (`photos::evidence`); any flag becomes a `photo.flagged`
/// event in this transaction.
pub(crate) fn link_photos(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    target: &crate::photos::LinkTarget<'_>,
    shas: &[String],
    role: &str,
    field: &str,
) -> Result<(), Failure> {
    let visibility = ctx.visibility(conn)?;
    for sha in shas {
        link_one(conn, ctx, target, sha, role, &visibility).map_err(|e| match e {
            Failure::Storage(StorageError::Invalid(m)) => {
                MutationRejection::invalid(field, m).into()
            }
            other => other,
        })?;
    }
    Ok(())
}

/// Links one photo on the caller's behalf (`visibility`: what they may read, which decides
/// whether the link is vouched) and records the `photo.flagged` event of a new, flagged link.
fn link_one(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    target: &crate::photos::LinkTarget<'_>,
    sha: &str,
    role: &str,
    visibility: &crate::access::Visibility,
) -> Result<PhotoStatus, Failure> {
    let user_id = ctx.caller.user_id.clone();
    let linked = crate::photos::link_evidence(
        conn,
        &ctx.caller.org_id,
        target,
        sha,
        role,
        ctx.settings.max_capture_age_ms,
        crate::photos::LinkedBy::Caller {
            user_id: &user_id,
            visibility,
        },
    )?;
    if !linked.flags.is_empty() {
        if let Some(mut ev) =
            crate::photos::evidence::flagged_event(&linked.link, linked.flags, &ctx.caller.user_id)
        {
            ev.device_id = ctx.caller.device_id.clone();
            ev.device_time = Some(ctx.device_time);
            ctx.change.audit(conn, ev)?;
        }
    }
    Ok(linked.status)
}

/// Mutation `photo.link`: `{entity_type: hazard|inspection, entity_id, sha256, role}`, by anyone
/// who may see the entity.
pub(crate) fn photo_link(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    link: &PhotoLink,
) -> Result<Applied, Failure> {
    let PhotoLink {
        entity_type,
        entity_id,
        role,
        sha256: sha,
    } = link.clone();
    let visibility = ctx.visibility(conn)?;
    // The entity's site, and its report (or start) time against which the capture is judged.
    let found = match entity_type.as_str() {
        "hazard" => crate::hazards::find_with_site(conn, &ctx.caller.org_id, &entity_id)?
            .map(|(h, site)| (site, Some(h.reported_at_device))),
        "inspection" => crate::inspections::find_with_site(conn, &ctx.caller.org_id, &entity_id)?
            .map(|(i, site)| (site, Some(i.started_at_device.unwrap_or(i.created_at)))),
        _ => return Err(MutationRejection::invalid("entity_type", "hazard or inspection").into()),
    };
    // Anyone who may read the entity may link a photo to it; to anyone else it does not exist.
    let Some((site, reported_at)) = found.filter(|(s, _)| visibility.sees(s)) else {
        return Err(MutationRejection::not_found(&entity_type, &entity_id).into());
    };
    let target = crate::photos::LinkTarget {
        entity_type: &entity_type,
        entity_id: &entity_id,
        site_id: &site.id,
        reported_at,
    };
    match link_one(conn, ctx, &target, &sha, &role, &visibility) {
        Ok(status) => Ok(Applied {
            entity_type,
            entity_id,
            version: 0,
            lost: vec![],
            entity: json!({"sha256": sha.to_ascii_lowercase(), "role": role, "status": status.as_str()}),
            created: false,
        }),
        Err(Failure::Storage(StorageError::Invalid(m))) => {
            Err(MutationRejection::invalid("sha256", m).into())
        }
        Err(e) => Err(e),
    }
}
