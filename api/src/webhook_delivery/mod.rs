//! Sending webhooks: which target URLs are allowed, Standard Webhooks signatures, the retry
//! schedule, and the delivery worker every node runs.
//!
//! The worker claims due deliveries from the database outbox (`storage::webhooks::claim`: a
//! lease per row, `FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes share the work and each
//! delivery is in one node's hands at a time), sends each in its own task with a timeout, and
//! stores the outcomes in batches (`storage::webhooks::record`). It never holds a database
//! connection while a request is in flight.
//!
//! By noun: [`url_guard`] (where webhooks may go), [`signing`] (signatures and secrets),
//! [`retry`] (the schedule), [`worker`] (the delivery loop).

pub mod retry;
pub mod signing;
pub mod url_guard;
pub mod worker;

pub use retry::RetryPolicy;
pub use signing::{generate_secret, sign};
pub use url_guard::{check_url, is_internal, string_or_list, AllowList, UrlRefusal};
pub use worker::{delivery_client, delivery_loop, send, worker_db, DeliverySettings, Sent};
