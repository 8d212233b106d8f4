//! The gateway's HTTP surface: the proxy to services in other processes, the webhook relay into
//! JetStream, and the merged OpenAPI document.

pub mod docs;
pub mod proxy;
pub mod webhooks;
