//! The HTTP routes, one module per resource. Each module exposes `router()`; [`crate::app`]
//! merges them.

pub mod blocks;
pub mod downloads;
pub mod jobs;
pub mod me;
pub mod public;
pub mod submit;
pub mod submit_docker;
pub mod submit_merge;
pub mod submit_reply;
pub mod submit_upload;
pub mod tokens;
pub mod web;
