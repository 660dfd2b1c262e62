//! The signed-in user's own profile.

use actix_web::{web, HttpResponse};
use hazardloop_storage::{orgs, users};
use serde_json::json;

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::users::user_json;

/// `GET /v1/me`: the user, the organisation and the memberships.
pub async fn me(state: web::Data<AppState>, auth: AuthedUser) -> Result<HttpResponse, ApiError> {
    let (user, org, memberships) = state
        .db
        .read(move |c| {
            let user = users::get(c, &auth.org_id, &auth.user_id)?;
            let org = orgs::get(c, &auth.org_id)?;
            let memberships = users::memberships(c, &user.id)?;
            Ok((user, org, memberships))
        })
        .await?;
    let mut body = user_json(&user, &memberships);
    body["organisation"] = json!({"id": org.id, "name": org.name});
    Ok(HttpResponse::Ok().json(body))
}
