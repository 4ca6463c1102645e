//! What a successful job produced, as stored in the job row's `result` (jsonb) and returned by
//! `GET /api/jobs/{id}` and gRPC.
//!
//! The member names are a contract (clients read them; rows written by earlier versions must
//! still read), so they are the ones the hub always wrote.

use serde::{Deserialize, Serialize};

use crate::{Format, JobKind, MergeMode};

/// The original hub's Stats object (hub-api §6), members in its order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Stats {
    /// Regular files.
    pub regular: u64,
    /// Symbolic links.
    pub symlink: u64,
    /// Directories, the root excluded.
    pub directory: u64,
    /// Devices, FIFOs and sockets.
    pub special: u64,
    /// Files that failed (for a homemade flist: files with a missing chunk).
    pub failure: u64,
    /// Sum of the regular files' sizes.
    pub fullsize: u64,
}

impl Stats {
    /// As a JSON value (job results, the flist row).
    pub fn to_json(self) -> serde_json::Value {
        // Six integers always serialise; the default is never produced.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The statistics inside an event payload of the original's `/listen` stream: its
    /// `stats`, `files.response`, `flist` or `response` member, or the value itself; zeros
    /// when none of them holds statistics. Each job kind reported them where the original
    /// hub's reply for it had them.
    pub fn found_in(value: &serde_json::Value) -> Self {
        let candidates = [
            value.get("stats"),
            value.get("files").and_then(|files| files.get("response")),
            value.get("flist"),
            value.get("response"),
            Some(value),
        ];
        candidates
            .into_iter()
            .flatten()
            .filter(|candidate| candidate.get("regular").is_some())
            .find_map(|candidate| Self::deserialize(candidate).ok())
            .unwrap_or_default()
    }
}

/// What every job that builds or checks a flist reports about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct FlistResult {
    /// Entry name it is published as (`<name>.flist` / `<name>.fl`).
    pub name: String,
    /// Its statistics.
    pub stats: Stats,
    /// Its format.
    pub format: Format,
    /// Hex MD5 of its bytes.
    pub md5: String,
    /// Size of its bytes.
    pub size: i64,
    /// Its flist row; `null` until the runtime writes the row while publishing.
    pub flist_id: Option<i64>,
}

/// Result of a conversion of an uploaded archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ConvertResult {
    /// The flist built.
    #[serde(flatten)]
    pub flist: FlistResult,
    /// Chunks written to the store.
    pub blocks_written: u64,
    /// Chunks the store already had.
    pub blocks_deduped: u64,
}

/// Result of the check of a homemade flist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct VerifyResult {
    /// The flist published unchanged.
    #[serde(flatten)]
    pub flist: FlistResult,
    /// Chunks found in the store.
    pub blocks_checked: u64,
}

/// Result of a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MergeResult {
    /// The flist built.
    #[serde(flatten)]
    pub flist: FlistResult,
    /// The sources, as `repository/name`, in order.
    pub sources: Vec<String>,
    /// How they were combined.
    pub mode: MergeMode,
}

/// zflist's `files` member (hub-api §7.9/§7.12): the statistics of a successful conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Files {
    /// Always `true` (a failed job has no result).
    pub success: bool,
    /// Always `null`.
    pub error: Option<String>,
    /// The statistics.
    pub response: Stats,
    /// Always 0.
    pub status: i32,
}

impl Files {
    /// The member of a successful conversion with `stats`.
    pub fn success(stats: Stats) -> Self {
        Self {
            success: true,
            error: None,
            response: stats,
            status: 0,
        }
    }
}

/// Result of a docker image conversion (hub-api §7.12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DockerResult {
    /// Entry name it is published as.
    pub name: String,
    /// Its flist row; `null` until the runtime writes the row while publishing.
    pub flist_id: Option<i64>,
    /// Hex MD5 of its bytes.
    pub md5: String,
    /// The conversion's idempotency key (image digest, options, converter version).
    pub source_key: String,
    /// Whether an earlier conversion's flist was reused.
    pub reused: bool,
    /// The statistics, in zflist's shape.
    pub files: Files,
}

/// What the synchronous routes need from a stored result: the flist row it published and its
/// statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultSummary {
    /// The flist row the job published, when the result names it.
    pub flist_id: Option<i64>,
    /// The statistics of that flist; zeros when the result holds none.
    pub stats: Stats,
}

impl ResultSummary {
    /// The summary of a stored `result` of a job of `kind`. A result that does not read as its
    /// kind's type (a row written by an earlier version, or a partial one) is read member by
    /// member: `flist_id`, and statistics wherever [`Stats::found_in`] finds them.
    pub fn of(kind: JobKind, result: &serde_json::Value) -> Self {
        match JobResult::read(kind, result) {
            Ok(typed) => Self {
                flist_id: typed.flist_id(),
                stats: typed.stats(),
            },
            Err(_) => Self {
                flist_id: result.get("flist_id").and_then(serde_json::Value::as_i64),
                stats: Stats::found_in(result),
            },
        }
    }
}

/// Record `flist_id` in a stored result of any kind (a JSON object), for the job runtime,
/// which writes the flist row of a result it does not otherwise look into. Every result type
/// above names the member `flist_id`.
pub fn set_flist_id(result: &mut serde_json::Value, id: i64) {
    if let Some(result) = result.as_object_mut() {
        result.insert("flist_id".into(), id.into());
    }
}

/// The result of a job of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum JobResult {
    /// A `convert` job's.
    Convert(ConvertResult),
    /// A `verify` job's.
    Verify(VerifyResult),
    /// A `merge` job's.
    Merge(MergeResult),
    /// A `docker` job's.
    Docker(DockerResult),
}

impl JobResult {
    /// The stored `result` of a job of `kind`.
    pub fn read(kind: JobKind, value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        use serde::de::Deserialize as _;
        Ok(match kind {
            JobKind::Convert => Self::Convert(ConvertResult::deserialize(value)?),
            JobKind::Verify => Self::Verify(VerifyResult::deserialize(value)?),
            JobKind::Merge => Self::Merge(MergeResult::deserialize(value)?),
            JobKind::Docker => Self::Docker(DockerResult::deserialize(value)?),
        })
    }

    /// As stored in the job row.
    pub fn to_json(&self) -> serde_json::Value {
        // Structs of strings and integers always serialise; the default is never produced.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The flist row the job published, once known.
    pub fn flist_id(&self) -> Option<i64> {
        match self {
            Self::Convert(result) => result.flist.flist_id,
            Self::Verify(result) => result.flist.flist_id,
            Self::Merge(result) => result.flist.flist_id,
            Self::Docker(result) => result.flist_id,
        }
    }

    /// Record the flist row the job published.
    pub fn set_flist_id(&mut self, id: i64) {
        let slot = match self {
            Self::Convert(result) => &mut result.flist.flist_id,
            Self::Verify(result) => &mut result.flist.flist_id,
            Self::Merge(result) => &mut result.flist.flist_id,
            Self::Docker(result) => &mut result.flist_id,
        };
        *slot = Some(id);
    }

    /// The statistics of the flist the job published.
    pub fn stats(&self) -> Stats {
        match self {
            Self::Convert(result) => result.flist.stats,
            Self::Verify(result) => result.flist.stats,
            Self::Merge(result) => result.flist.stats,
            Self::Docker(result) => result.files.response,
        }
    }
}
