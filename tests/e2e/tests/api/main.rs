//! Black-box tests of the platform through its HTTP API, against the real Postgres and NATS
//! JetStream. One binary; each test has its own database and stream namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The tests play the outside systems (LMS, processor, SSO): they read the wall clock as those do.
#![allow(clippy::disallowed_methods)]

mod authorization;
mod backbone;
mod catalog;
mod certificates;
mod contract;
mod converge;
mod gateway;
mod helpers;
mod notifications;
mod observability;
mod purchase;
mod reconciliation;
mod refunds;
mod revenue;
mod services;
mod split;
mod square;
mod stripe;
mod subscriptions;
mod testenv;
