//! Request rate limits for integration clients: a token bucket per client, kept in this node's
//! memory (so the limit applies per node; N nodes allow up to N times the rate).

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Per-client limiter.
pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl ClientLimiter {
    /// `per_minute` requests per minute per client, with bursts up to the same number.
    pub fn new(per_minute: u32) -> ClientLimiter {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        ClientLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request; 429 with `Retry-After` when over the limit.
    pub fn check(&self, client: &str) -> Result<(), ApiError> {
        match self.limiter.check_key(&client.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut e = ApiError::new(
                    actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many requests from this client; retry in {secs} s"),
                );
                e.retry_after = Some(secs.max(1));
                Err(e)
            }
        }
    }
}
