//! Why a job failed: every code a job can end with, what kind of failure it is, and the answer
//! the original hub's synchronous routes give for it.
//!
//! The codes are a contract: they are stored in job rows (`error.code`), shown by
//! `GET /api/jobs/{id}`, the job event streams and gRPC, and matched by clients. Each is
//! spelled once, in [`codes!`]'s table below.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::JobKind;

/// What kind of failure a code is, for callers that treat failures alike (logs, metrics,
/// retry decisions) without knowing each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// The submitted input (archive, flist, image reference, credentials, sources) is
    /// unusable; the same submission will fail again.
    UserInput,
    /// The submitter's repository is full.
    Quota,
    /// Something the hub relies on (store, registry, staging, database, queue) failed or
    /// stayed unavailable; the same submission may work later.
    Dependency,
    /// A bug or an unexpected state of the hub.
    Internal,
    /// A user cancelled the job.
    Cancelled,
}

/// Declares [`FailureCode`] from one table: variant, stable code, category.
macro_rules! codes {
    ($($(#[$meta:meta])* $variant:ident => $code:literal, $category:ident;)+) => {
        /// A stable machine-readable failure code.
        ///
        /// Serialised as its code string. A code this version does not know (a row written by
        /// another version of a worker) reads as [`FailureCode::Other`] and is written back
        /// unchanged, so no stored row ever fails to load.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum FailureCode {
            $($(#[$meta])* $variant,)+
            /// A code unknown to this version, kept as read. Never produced by this code base.
            Other(String),
        }

        impl FailureCode {
            /// Every known code.
            pub const KNOWN: &'static [FailureCode] = &[$(FailureCode::$variant),+];

            /// The code string.
            pub fn as_str(&self) -> &str {
                match self {
                    $(FailureCode::$variant => $code,)+
                    FailureCode::Other(code) => code,
                }
            }

            /// The code of `text`: a known code, else [`FailureCode::Other`].
            pub fn parse(text: &str) -> Self {
                match text {
                    $($code => FailureCode::$variant,)+
                    other => FailureCode::Other(other.to_owned()),
                }
            }

            /// What kind of failure this is. Unknown codes count as
            /// [`Category::Internal`]: nothing says the user can fix them.
            pub fn category(&self) -> Category {
                match self {
                    $(FailureCode::$variant => Category::$category,)+
                    FailureCode::Other(_) => Category::Internal,
                }
            }

            /// The code as a `'static` string for an error body: the known codes, else
            /// `job_failed` (an unknown code is still shown as is by the job API).
            pub fn static_str(&self) -> &'static str {
                match self {
                    $(FailureCode::$variant => $code,)+
                    FailureCode::Other(_) => "job_failed",
                }
            }
        }
    };
}

codes! {
    // The job machinery's own codes.
    /// The job was cancelled.
    Cancelled => "cancelled", Cancelled;
    /// Every attempt ended in a transient error or a lost worker.
    AttemptsExhausted => "attempts_exhausted", Dependency;
    /// The job could not be handed to the queue.
    QueueUnavailable => "queue_unavailable", Dependency;
    /// The job's payload could not be decoded, or is not of the worker's kind.
    InvalidPayload => "invalid_payload", Internal;
    /// A transient error, recorded while the job waits for its next attempt; a job never ends
    /// with it (the last attempt turns it into `attempts_exhausted`).
    Transient => "transient", Dependency;
    /// The handler failed unexpectedly (a bug or a panic).
    Internal => "internal", Internal;
    /// The handler rejected its input (generic).
    InvalidInput => "invalid_input", UserInput;
    /// Publishing would exceed the repository's entry quota.
    QuotaExceeded => "quota_exceeded", Quota;
    /// A dependency of the worker (store, database, NATS) stayed unavailable for longer than
    /// `jobs.outage_max` while the job waited for it.
    DependencyUnavailable => "dependency_unavailable", Dependency;
    /// The staged upload the job names is gone (or the job names none).
    UploadMissing => "upload_missing", UserInput;
    // Conversion (hub-convert).
    /// The input is not a tar in a supported compression.
    UnknownFormat => "unknown_format", UserInput;
    /// The archive is corrupt, truncated or not representable.
    InvalidArchive => "invalid_archive", UserInput;
    /// An entry would be written outside the root or through a link.
    UnsafePath => "unsafe_path", UserInput;
    /// A conversion limit was exceeded.
    LimitExceeded => "limit_exceeded", UserInput;
    /// A device file while devices are not allowed.
    DeviceNotAllowed => "device_not_allowed", UserInput;
    /// Reading the input stream failed: the source (staged upload, registry download) broke,
    /// not the data in it.
    InputFailed => "input_failed", Dependency;
    /// The chunk store is unreachable.
    StoreUnavailable => "store_unavailable", Dependency;
    /// The chunk store refused an operation.
    StoreError => "store_error", Dependency;
    /// A flist could not be read (a homemade upload, or a merge source).
    InvalidFlist => "invalid_flist", UserInput;
    /// A block a flist references is not in the store.
    MissingBlock => "missing_block", UserInput;
    /// A block does not decode with its reference.
    CorruptBlock => "corrupt_block", UserInput;
    /// A local file-system operation of the worker failed.
    IoError => "io_error", Internal;
    // Verification of homemade flists (worker-convert).
    /// Files of a homemade flist have chunks missing from the store.
    MissingChunks => "missing_chunks", UserInput;
    // Merges (worker-merge).
    /// A source flist does not exist (any more).
    SourceNotFound => "source_not_found", UserInput;
    // Images (hub-oci, worker-docker).
    /// The image or its platform does not exist.
    ImageNotFound => "image_not_found", UserInput;
    /// The image reference cannot be parsed.
    InvalidImage => "invalid_image", UserInput;
    /// The registry (or engine) refused or failed the pull.
    PullFailed => "pull_failed", Dependency;
    /// Sealed registry credentials do not open, or this hub cannot use credentials.
    InvalidCredentials => "invalid_credentials", UserInput;
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code equals its stable string: tests and clients compare codes with the strings they
/// were promised.
impl PartialEq<str> for FailureCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FailureCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&str> for FailureCode {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl Serialize for FailureCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

/// The OpenAPI schema: a string, one of the known codes. A row written by another version may
/// hold a code this one does not know ([`FailureCode::Other`]); this version never writes one.
#[cfg(feature = "utoipa")]
impl utoipa::PartialSchema for FailureCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::KNOWN.iter().map(Self::as_str)))
            .description(Some(
                "Stable failure code (a row written by another hub version may hold a code not \
                 listed here)",
            ))
            .into()
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::ToSchema for FailureCode {}

/// The original hub's message for a homemade flist whose chunks are not all in the store
/// (hub-api §14); the verify worker's failure message starts with it.
pub const MISSING_CHUNKS_MESSAGE: &str =
    "unauthorized upload, contents is not fully present on backend";

/// `Retry-After` of a job that failed because a dependency stayed down past `jobs.outage_max`.
const DEPENDENCY_RETRY_AFTER: u64 = 60;

/// What the original hub's synchronous routes answer for a failed job (hub-api §7.9–7.12, §14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAnswer {
    /// HTTP status.
    pub status: u16,
    /// The message clients see.
    pub message: SyncMessage,
    /// The stable `code` of the error body.
    pub code: &'static str,
    /// Seconds the client is asked to wait before retrying (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// The message of a [`SyncAnswer`]: the original hub's catalogue text, most of them followed
/// by the failure's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMessage {
    /// `job cancelled: <detail>`.
    Cancelled,
    /// `<detail>` alone.
    Detail,
    /// `service temporarily unavailable: <detail>`.
    Unavailable,
    /// `invalid archive: <detail>`.
    InvalidArchive,
    /// `flist creation failed: <detail>`.
    CreationFailed,
    /// `merge failed: <detail>`.
    MergeFailed,
    /// `invalid docker image name: <detail>`.
    InvalidImage,
    /// `invalid flist`.
    InvalidFlist,
    /// `unauthorized upload, contents is not fully present on backend`.
    ContentsMissing,
    /// `docker image not found`.
    ImageNotFound,
    /// `could not pull this image`.
    PullFailed,
    /// `unexpected docker convert error`.
    UnexpectedDocker,
}

impl SyncMessage {
    /// The text, with `detail` where the catalogue has it.
    pub fn render(self, detail: &str) -> String {
        let prefix = match self {
            Self::Detail => return detail.to_owned(),
            Self::InvalidFlist => return "invalid flist".to_owned(),
            Self::ContentsMissing => return MISSING_CHUNKS_MESSAGE.to_owned(),
            Self::ImageNotFound => return "docker image not found".to_owned(),
            Self::PullFailed => return "could not pull this image".to_owned(),
            Self::UnexpectedDocker => return "unexpected docker convert error".to_owned(),
            Self::Cancelled => "job cancelled",
            Self::Unavailable => "service temporarily unavailable",
            Self::InvalidArchive => "invalid archive",
            Self::CreationFailed => "flist creation failed",
            Self::MergeFailed => "merge failed",
            Self::InvalidImage => "invalid docker image name",
        };
        format!("{prefix}: {detail}")
    }
}

impl SyncAnswer {
    fn new(status: u16, message: SyncMessage) -> Self {
        Self {
            status,
            message,
            code: "",
            retry_after: None,
        }
    }
}

impl FailureCode {
    /// The answer of a synchronous route (upload, upload-flist, merge, docker-convert) whose
    /// `kind` of job failed with this code.
    ///
    /// One exhaustive `match`: a new code does not compile until its answer is decided here.
    pub fn sync_answer(&self, kind: JobKind) -> SyncAnswer {
        use FailureCode as C;
        use SyncMessage as M;
        let answer = match self {
            C::Cancelled => SyncAnswer::new(409, M::Cancelled),
            C::QuotaExceeded => SyncAnswer::new(403, M::Detail),
            // The hub, not the input, failed: the same submission may well work later.
            C::DependencyUnavailable => SyncAnswer {
                retry_after: Some(DEPENDENCY_RETRY_AFTER),
                ..SyncAnswer::new(503, M::Unavailable)
            },
            // Unusable archives, and uploads whose staged file is gone; for a homemade flist
            // the first two cannot happen and read as an unreadable flist.
            C::UnknownFormat | C::InvalidInput | C::UploadMissing => match kind {
                JobKind::Convert => SyncAnswer::new(400, M::InvalidArchive),
                JobKind::Verify => SyncAnswer::new(400, M::InvalidFlist),
                JobKind::Merge | JobKind::Docker => unexpected(kind),
            },
            C::InvalidArchive | C::UnsafePath | C::LimitExceeded | C::DeviceNotAllowed => {
                match kind {
                    JobKind::Convert => SyncAnswer::new(400, M::InvalidArchive),
                    JobKind::Verify | JobKind::Merge | JobKind::Docker => unexpected(kind),
                }
            }
            C::InvalidFlist => match kind {
                JobKind::Verify => SyncAnswer::new(400, M::InvalidFlist),
                JobKind::Convert | JobKind::Merge | JobKind::Docker => unexpected(kind),
            },
            // worker-convert's `missing_chunks`; `missing_block` is hub-convert's own code.
            C::MissingChunks | C::MissingBlock => match kind {
                JobKind::Verify => SyncAnswer::new(422, M::ContentsMissing),
                JobKind::Convert | JobKind::Merge | JobKind::Docker => unexpected(kind),
            },
            // A source removed between the gateway's check and the merge (or a dangling link).
            C::SourceNotFound => match kind {
                JobKind::Merge => SyncAnswer::new(404, M::Detail),
                JobKind::Convert | JobKind::Verify | JobKind::Docker => unexpected(kind),
            },
            C::ImageNotFound => match kind {
                JobKind::Docker => SyncAnswer::new(404, M::ImageNotFound),
                JobKind::Convert | JobKind::Verify | JobKind::Merge => unexpected(kind),
            },
            C::InvalidImage => match kind {
                JobKind::Docker => SyncAnswer::new(400, M::InvalidImage),
                JobKind::Convert | JobKind::Verify | JobKind::Merge => unexpected(kind),
            },
            // `input_failed` from an image is a layer download that broke: the registry's
            // failure, answered like any other failed pull. From an upload it is the staging
            // store's, which the catalogue has no entry for.
            C::PullFailed | C::InputFailed => match kind {
                JobKind::Docker => SyncAnswer::new(502, M::PullFailed),
                JobKind::Convert | JobKind::Verify | JobKind::Merge => unexpected(kind),
            },
            // The job machinery, not the image, failed.
            C::AttemptsExhausted | C::QueueUnavailable | C::InvalidPayload | C::Internal => {
                match kind {
                    JobKind::Docker => SyncAnswer::new(500, M::UnexpectedDocker),
                    JobKind::Convert | JobKind::Verify | JobKind::Merge => unexpected(kind),
                }
            }
            // `transient` never ends a job (the last attempt turns it into
            // `attempts_exhausted`); answered like any unexpected failure should a row hold it.
            C::Transient
            | C::StoreUnavailable
            | C::StoreError
            | C::CorruptBlock
            | C::IoError
            | C::InvalidCredentials
            | C::Other(_) => unexpected(kind),
        };
        SyncAnswer {
            code: self.static_str(),
            ..answer
        }
    }
}

/// The answer to a failure the kind's route has no catalogue entry for: `500` with the
/// route's generic message (a docker conversion error answered with the converter's message,
/// as the original did).
fn unexpected(kind: JobKind) -> SyncAnswer {
    let message = match kind {
        JobKind::Convert | JobKind::Verify => SyncMessage::CreationFailed,
        JobKind::Merge => SyncMessage::MergeFailed,
        JobKind::Docker => SyncMessage::Detail,
    };
    SyncAnswer::new(500, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in FailureCode::KNOWN {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(&FailureCode::parse(code.as_str()), code);
            assert_eq!(code.static_str(), code.as_str());
            let json = serde_json::to_value(code).unwrap_or_default();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
            assert_eq!(
                serde_json::from_value::<FailureCode>(json).ok().as_ref(),
                Some(code)
            );
        }
    }

    #[test]
    fn unknown_codes_are_kept_as_read() {
        let old: FailureCode =
            serde_json::from_str("\"retired_code\"").unwrap_or(FailureCode::Internal);
        assert_eq!(old, FailureCode::Other("retired_code".into()));
        assert_eq!(
            serde_json::to_string(&old).unwrap_or_default(),
            "\"retired_code\""
        );
        assert_eq!(old.static_str(), "job_failed");
        assert_eq!(old.category(), Category::Internal);
    }

    #[test]
    fn the_stored_strings_are_unchanged() {
        // Clients and stored rows depend on these exact strings.
        let expected = [
            "cancelled",
            "attempts_exhausted",
            "queue_unavailable",
            "invalid_payload",
            "transient",
            "internal",
            "invalid_input",
            "quota_exceeded",
            "dependency_unavailable",
            "upload_missing",
            "unknown_format",
            "invalid_archive",
            "unsafe_path",
            "limit_exceeded",
            "device_not_allowed",
            "input_failed",
            "store_unavailable",
            "store_error",
            "invalid_flist",
            "missing_block",
            "corrupt_block",
            "io_error",
            "missing_chunks",
            "source_not_found",
            "image_not_found",
            "invalid_image",
            "pull_failed",
            "invalid_credentials",
        ];
        let codes: Vec<_> = FailureCode::KNOWN.iter().map(FailureCode::as_str).collect();
        assert_eq!(codes, expected);
    }

    fn answer(kind: JobKind, code: &str, detail: &str) -> (u16, String, &'static str) {
        let answer = FailureCode::parse(code).sync_answer(kind);
        (answer.status, answer.message.render(detail), answer.code)
    }

    #[test]
    fn failures_map_to_the_catalogue() {
        use JobKind::{Convert, Docker, Merge, Verify};
        let cases = [
            (
                Convert,
                "invalid_archive",
                "truncated",
                400,
                "invalid archive: truncated",
            ),
            (
                Convert,
                "upload_missing",
                "gone",
                400,
                "invalid archive: gone",
            ),
            (
                Convert,
                "store_error",
                "disk full",
                500,
                "flist creation failed: disk full",
            ),
            (
                Convert,
                "input_failed",
                "reset",
                500,
                "flist creation failed: reset",
            ),
            (
                Verify,
                "missing_chunks",
                "3 files",
                422,
                "unauthorized upload, contents is not fully present on backend",
            ),
            (
                Verify,
                "missing_block",
                "x",
                422,
                "unauthorized upload, contents is not fully present on backend",
            ),
            (Verify, "invalid_flist", "not sqlite", 400, "invalid flist"),
            (Verify, "unknown_format", "x", 400, "invalid flist"),
            (Verify, "unsafe_path", "x", 500, "flist creation failed: x"),
            (
                Merge,
                "source_not_found",
                "tf/x.flist does not exists",
                404,
                "tf/x.flist does not exists",
            ),
            (Merge, "internal", "boom", 500, "merge failed: boom"),
            (Merge, "invalid_flist", "bad", 500, "merge failed: bad"),
            (
                Docker,
                "image_not_found",
                "no tag",
                404,
                "docker image not found",
            ),
            (
                Docker,
                "invalid_image",
                "x y",
                400,
                "invalid docker image name: x y",
            ),
            (
                Docker,
                "pull_failed",
                "401",
                502,
                "could not pull this image",
            ),
            (
                Docker,
                "input_failed",
                "reset",
                502,
                "could not pull this image",
            ),
            (
                Docker,
                "attempts_exhausted",
                "gave up",
                500,
                "unexpected docker convert error",
            ),
            (Docker, "unsafe_path", "../x", 500, "../x"),
            (Docker, "invalid_credentials", "bad key", 500, "bad key"),
            (
                Convert,
                "quota_exceeded",
                "repository quota exceeded",
                403,
                "repository quota exceeded",
            ),
            (
                Docker,
                "dependency_unavailable",
                "store down for 1h",
                503,
                "service temporarily unavailable: store down for 1h",
            ),
            (
                Merge,
                "cancelled",
                "by alice",
                409,
                "job cancelled: by alice",
            ),
            (
                Convert,
                "made_up_code",
                "?",
                500,
                "flist creation failed: ?",
            ),
        ];
        for (kind, code, detail, status, message) in cases {
            let (got_status, got_message, got_code) = answer(kind, code, detail);
            assert_eq!(
                (got_status, got_message.as_str()),
                (status, message),
                "{kind} {code}"
            );
            let expected_code = if code == "made_up_code" {
                "job_failed"
            } else {
                code
            };
            assert_eq!(got_code, expected_code);
        }
        let unavailable = FailureCode::DependencyUnavailable.sync_answer(Convert);
        assert_eq!(unavailable.retry_after, Some(60));
        assert_eq!(FailureCode::Internal.sync_answer(Convert).retry_after, None);
    }

    #[test]
    fn every_code_has_an_answer_for_every_kind() {
        for code in FailureCode::KNOWN {
            for kind in JobKind::ALL {
                let answer = code.sync_answer(kind);
                assert!((400..600).contains(&answer.status), "{code} {kind}");
                let user = matches!(code.category(), Category::UserInput | Category::Quota);
                // A failure the user can fix is never answered as the hub's own error
                // with a retry hint, and a dependency failure never blames the input.
                if code.category() == Category::Dependency {
                    assert!(answer.status >= 500, "{code} {kind}");
                }
                if user {
                    assert!(answer.retry_after.is_none(), "{code} {kind}");
                }
            }
        }
    }
}
