//! The password check every sign-in goes through (the API's `POST /v1/auth/login` and the web
//! console's form): the same lockout, the same answer for a wrong password and an unknown
//! address, the same timing for both.

use actix_web::http::StatusCode;
use actix_web::web;
use hazardloop_storage::login::{self, Throttle};
use hazardloop_storage::now_ms;
use hazardloop_storage::users::{self, User};

use crate::app::AppState;
use crate::auth::password;
use crate::error::ApiError;

/// Why a sign-in was refused.
#[derive(Debug)]
pub enum SignInRefusal {
    /// Wrong address or password (the same for both).
    InvalidCredentials,
    /// Too many failures for this address; locked for this many more seconds.
    Locked { retry_after_secs: i64 },
}

impl From<SignInRefusal> for ApiError {
    fn from(r: SignInRefusal) -> ApiError {
        match r {
            SignInRefusal::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "wrong e-mail address or password")
            }
            SignInRefusal::Locked { retry_after_secs } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!(
                        "too many failed sign-ins for this address; try again in \
                         {retry_after_secs} s"
                    ),
                );
                e.retry_after = Some(retry_after_secs as u64);
                e
            }
        }
    }
}

/// Checks `email` and `password`: the active user, or a refusal. A failure is recorded (and
/// may lock the address, in the database so it holds on every node); a success clears them.
pub async fn check_password(
    state: &AppState,
    email: String,
    password: String,
) -> Result<Result<User, SignInRefusal>, ApiError> {
    let cfg = state.config.clone();
    let throttle = Throttle {
        max_failures: cfg.login_max_failures,
        window_ms: cfg.login_window_secs * 1000,
        lockout_ms: cfg.login_lockout_secs * 1000,
    };
    let now = now_ms();
    let lookup = email.clone();
    let (lock, user) = state
        .db
        .read(move |c| {
            Ok((
                login::locked_until(c, &lookup, now)?,
                users::find_active_by_email(c, &lookup)?,
            ))
        })
        .await?;
    if let Some(until) = lock {
        return Ok(Err(SignInRefusal::Locked {
            retry_after_secs: ((until - now) / 1000).max(1),
        }));
    }
    // Argon2 is deliberately slow: keep it off the async workers.
    let (ok, user) = web::block(move || match user {
        Some(u) => (password::verify(&password, &u.password_hash), Some(u)),
        None => {
            password::verify_dummy(&password);
            (false, None)
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(user) = user.filter(|_| ok) else {
        state
            .db
            .write(move |c| login::record_failure(c, &email, now, throttle))
            .await?;
        return Ok(Err(SignInRefusal::InvalidCredentials));
    };
    state.db.write(move |c| login::clear(c, &email)).await?;
    Ok(Ok(user))
}
