//! The HTTP routes, one module per resource. Each module exposes `router()`; [`crate::app`]
//! merges them.

pub mod blocks;
pub mod downloads;
pub mod jobs;
pub mod me;
pub mod public;
pub mod tokens;
pub mod web;
