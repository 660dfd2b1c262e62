//! Photo renditions for `<img>` tags: the browser sends the session cookie, not a bearer
//! token, so the console serves them itself through the API's own handler (the same
//! visibility check: a photo is readable only through an entity the caller may read).

use actix_web::{web, HttpResponse};
use hazardloop_storage::photos::store::RenditionKind;

use crate::error::ConsoleError;
use crate::visitor::Ctx;

/// `GET /photos/{sha256}/{thumbnail|display}`.
pub async fn rendition(
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (sha, kind) = path.into_inner();
    let kind = match kind.as_str() {
        "thumbnail" => RenditionKind::Thumbnail,
        "display" => RenditionKind::Display,
        _ => return Err(ConsoleError::NotFound),
    };
    let mut res =
        hazardloop_api::routes::photos::rendition(ctx.state.clone(), ctx.auth.clone(), &sha, kind)
            .await
            .map_err(|e| match e.status.as_u16() {
                // Not made yet, or bytes missing: nothing to show, whatever the reason.
                409 | 400 => ConsoleError::NotFound,
                _ => ConsoleError::from(e),
            })?;
    crate::layout::secure_headers(res.headers_mut());
    Ok(res)
}
