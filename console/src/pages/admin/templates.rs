//! Checklist templates: every published version, and importing a template from a JSON file
//! (a `multipart/form-data` upload) through the API's `POST /v1/templates`, which runs the
//! `template.import` mutation (audited, in the event feed, like every mutation).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_api::auth::RequireAdmin;
use hazardloop_api::mutate::Idempotency;
use hazardloop_api::routes::templates::import as api_import;
use hazardloop_api::ApiError;
use hazardloop_storage::templates;
use maud::html;
use serde_json::Value;

use crate::error::ConsoleError;
use crate::layout::see_other;
use crate::pages::admin::users::Done;
use crate::pages::admin::{admin_page, body_of, refusal_or_error, require_admin};
use crate::visitor::{ctx_of, require_csrf, Ctx, Visitor};

/// Largest accepted template file.
const MAX_UPLOAD_BYTES: usize = 1024 * 1024;

async fn render(
    ctx: &Ctx,
    notice: Option<String>,
    refused: Option<&ApiError>,
) -> Result<HttpResponse, ConsoleError> {
    let org = ctx.auth.org_id.clone();
    let rows = ctx
        .state
        .db
        .read(move |c| templates::list(c, &org, None))
        .await?;
    let content = html! {
        section aria-labelledby="h-import" {
            h2 id="h-import" { (ctx.t("admin-template-import")) }
            form method="post" action="/admin/templates" enctype="multipart/form-data" class="card narrow" id="form-template" {
                input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                label for="template-file" { (ctx.t("admin-template-file")) }
                input id="template-file" name="file" type="file" accept="application/json,.json" required;
                p class="hint" { (ctx.t("admin-template-hint")) }
                button type="submit" id="import-template" { (ctx.t("admin-template-import")) }
            }
        }
        section aria-labelledby="h-versions" {
            h2 id="h-versions" { (ctx.t("admin-template-versions")) }
            @if rows.is_empty() { p class="empty" { (ctx.t("admin-none")) } }
            @else {
                div class="scroll" { table id="template-list" {
                    thead { tr {
                        th scope="col" { (ctx.t("admin-template-key")) }
                        th scope="col" { (ctx.t("admin-template-version")) }
                        th scope="col" { (ctx.t("field-title")) }
                        th scope="col" { (ctx.t("admin-template-items")) }
                        th scope="col" { (ctx.t("admin-created")) }
                    } }
                    tbody { @for r in rows.iter().rev() {
                        tr data-key=(r.key) data-version=(r.version) {
                            td { (r.key) }
                            td { (r.version) }
                            td { (r.title) }
                            td { (r.template().map(|t| t.items().count()).unwrap_or(0)) }
                            td { (ctx.time(r.created_at)) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(admin_page(ctx, "admin-templates", notice, refused, content))
}

/// `GET /admin/templates`.
pub async fn list(ctx: Ctx, q: web::Query<Done>) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let notice = match q.done.as_deref() {
        Some("published") => Some(ctx.t("admin-template-published")),
        Some("unchanged") => Some(ctx.t("admin-template-unchanged")),
        _ => None,
    };
    render(&ctx, notice, None).await
}

/// One part of a `multipart/form-data` body: its field name and bytes.
fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<(String, &'a [u8])> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    for w in starts.windows(2) {
        let part = &body[w[0] + d.len()..w[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = part.windows(4).position(|x| x == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let name = head
            .split(';')
            .map(str::trim)
            .find_map(|kv| kv.strip_prefix("name=\""))
            .and_then(|v| v.split('"').next())
            .unwrap_or_default()
            .to_string();
        out.push((name, &part[split + 4..]));
    }
    out
}

/// `POST /admin/templates`: the uploaded file through `POST /v1/templates`.
pub async fn import(req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let visitor = Visitor::from_request_ref(&req).await?;
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(ConsoleError::BadInput(format!(
            "the file is larger than {} KiB",
            MAX_UPLOAD_BYTES / 1024
        )));
    }
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("multipart/form-data"))
        .and_then(|v| {
            v.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_string())
        .ok_or_else(|| ConsoleError::BadInput("send the file as multipart/form-data".into()))?;
    let fields = parts(&body, &boundary);
    let sent = fields
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
        .unwrap_or_default();
    require_csrf(&visitor, &sent)?;
    let ctx = ctx_of(visitor, &req)?;
    require_admin(&ctx)?;
    let file = fields
        .iter()
        .find(|(n, _)| n == "file")
        .map(|(_, v)| *v)
        .unwrap_or_default();
    let template: Value = match serde_json::from_slice(file) {
        Ok(v) => v,
        Err(e) => {
            let problem =
                ApiError::invalid_fields(&["template"], format!("the file is not JSON: {e}"));
            return render(&ctx, None, Some(&problem)).await;
        }
    };
    match api_import(
        ctx.state.clone(),
        RequireAdmin(ctx.auth.clone()),
        Idempotency(None),
        web::Json(template),
    )
    .await
    {
        Ok(res) => {
            let created = res.status() == actix_web::http::StatusCode::CREATED;
            let _: Value = body_of(res).await?;
            Ok(see_other(
                if created {
                    "/admin/templates?done=published"
                } else {
                    "/admin/templates?done=unchanged"
                },
                &[],
            ))
        }
        Err(e) => {
            let e = refusal_or_error(e)?;
            render(&ctx, None, Some(&e)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parts;

    #[test]
    fn multipart_fields_are_found_by_name() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--XyZ--\r\n";
        let p = parts(body, "XyZ");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, "csrf");
        assert_eq!(p[0].1, b"tok");
        assert_eq!(p[1].0, "file");
        assert_eq!(p[1].1, b"{\"a\":1}");
        assert!(parts(b"no boundary here", "XyZ").is_empty());
    }
}
