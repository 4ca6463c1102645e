//! The HTTP API: the original hub's routes and the job, block and token APIs, one module per
//! resource. Each module exposes `router()`; [`crate::app`] merges them. Handlers parse the
//! request, call [`crate::service`], and render its answer.

pub mod answer;
pub mod blocks;
pub mod downloads;
pub mod jobs;
pub mod me;
pub mod public;
pub mod submit;
pub mod submit_docker;
pub mod submit_merge;
pub mod submit_upload;
pub mod tokens;
