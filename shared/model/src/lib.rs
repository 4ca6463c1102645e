//! The hub's shared vocabulary, without I/O: what the gateway (HTTP, website, gRPC), the
//! workers and `hubctl` must agree on.
//!
//! * [`Format`]: the two flist formats and their one spelling (`flist`, `fl`).
//! * [`JobKind`], [`JobState`], [`MergeMode`]: what a job is and where it stands.
//! * [`FailureCode`]: every code a job can end with, its [`Category`] and the answer of the
//!   original hub's synchronous routes ([`FailureCode::sync_answer`]).
//! * [`result`]: the typed results jobs store and the API returns.
//! * [`names`]: the rules of created names and of derived (upload, image) names.
//! * [`credentials`]: registry credentials sealed between the gateway and the docker workers.
//!
//! Every string that crosses a process boundary (database columns, NATS payloads, API bodies)
//! is written once, here.

#![warn(missing_docs)]

pub mod credentials;
mod failure;
mod format;
mod job;
pub mod names;
pub mod result;

pub use failure::{Category, FailureCode, MISSING_CHUNKS_MESSAGE, SyncAnswer, SyncMessage};
pub use format::{Format, UnknownFormat};
pub use job::{JobKind, JobState, MergeMode, UnknownName};
pub use result::{
    ConvertResult, DockerResult, FlistResult, JobResult, MergeResult, ResultSummary, Stats,
    VerifyResult,
};
