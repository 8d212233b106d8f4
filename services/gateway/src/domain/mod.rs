//! The gateway's rules, free of HTTP plumbing: which service owns a path, which paths are
//! rate-limited, and the token buckets that limit them.

pub mod ratelimit;
pub mod routing;
