//! The gateway's use cases, shared by its three front doors: the HTTP API (`routes`), the
//! website (`web`) and gRPC (`grpc`). Each function takes the caller's identity and typed
//! input and returns a typed result or an [`ApiError`](crate::error::ApiError); none of them
//! knows which front door called it. The front doors parse their wire format, call a
//! service, and render its answer; they never call each other.

pub mod blocks;
pub mod flists;
pub mod jobs;
pub mod submit;
pub mod tokens;
