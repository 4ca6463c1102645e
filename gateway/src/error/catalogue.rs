//! The catalogue of every error the gateway answers with: one [`ErrorKind`] per answer, with its
//! HTTP status, its stable machine-readable code and its message.
//!
//! The messages of the original hub's answers are its own words (hub-api §14: clients print and
//! match them), mistakes included (`does not exists`, `cannot ends`). Kinds of the original's
//! catalogue are rendered on its routes exactly as it did, without a `code`
//! ([`ErrorKind::is_original`]); every other kind carries its code.

use std::fmt;

use axum::http::StatusCode;
use hub_db::{Conflict, Missing};
use hub_model::{FailureCode, JobKind};

/// One answer of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    // 400: the request is wrong.
    /// The multipart request holds no `file` part (the original's message).
    NoFile,
    /// A merge without sources.
    NoSource,
    /// A merge without a target name.
    MissingTarget,
    /// A merge target with a `/`.
    TargetNotAllowed,
    /// A merge source that is not `repo/name`.
    MalformedSource,
    /// A body that is not the JSON the route expects; `detail` says why when known.
    MalformedJson {
        /// What was wrong, if anything is worth saying.
        detail: Option<String>,
    },
    /// A multipart body that cannot be read (truncated, bad boundary, too large a part).
    MalformedMultipart {
        /// The status the multipart parser gives the problem (400, 413, …).
        status: StatusCode,
        /// What the parser said.
        detail: String,
    },
    /// A form field longer than the route reads.
    FieldTooLong {
        /// The field's name.
        field: String,
        /// The limit, when the message names it.
        max: Option<usize>,
    },
    /// A form field that is not UTF-8 text.
    FieldNotText {
        /// The field's name.
        field: String,
    },
    /// A `metadata-<key>` field that is not UTF-8 text.
    MetadataNotText {
        /// The metadata key.
        key: String,
    },
    /// More `metadata-*` fields than the route keeps.
    TooManyMetadataFields {
        /// The limit.
        max: usize,
    },
    /// The `format` form field is not text.
    UnreadableFormat,
    /// A docker request without an image.
    MissingImage,
    /// An image reference with whitespace or control characters, or too long.
    InvalidImage,
    /// Registry credentials with only one of username and password.
    HalfCredentials,
    /// Registry credentials sent to a hub without `gateway.credentials_key`.
    CredentialsUnsupported,
    /// A merge with more sources than allowed.
    TooManySources {
        /// The limit.
        max: usize,
    },
    /// A merge mode other than `union` or `overlay`.
    InvalidMergeMode {
        /// What was asked.
        value: String,
    },
    /// An output format other than `flist` or `fl`.
    InvalidFormat {
        /// The message of the parse error (names the value).
        detail: String,
    },
    /// A name that breaks the naming rules, with the rule's message (`invalid flist name`,
    /// `this file is not allowed`, …).
    InvalidName {
        /// The rule's message.
        message: String,
    },
    /// A tag link whose name ends with `.flist`.
    TagLinkNamedFlist,
    /// An `Idempotency-Key` that is not 1 to 255 printable ASCII characters.
    InvalidIdempotencyKey,
    /// A job listing cursor that this hub did not hand out.
    InvalidCursor,
    /// An unknown state or kind in a job listing filter.
    InvalidFilter {
        /// `state` or `kind`.
        what: &'static str,
        /// The unknown value.
        value: String,
    },
    /// A long-poll `wait` that is not a duration.
    InvalidWait {
        /// What was sent.
        value: String,
    },
    /// A `Last-Event-ID` that is not an event number.
    InvalidLastEventId,
    /// A job API body that does not describe a job.
    InvalidJobRequest {
        /// The parser's explanation.
        detail: String,
    },
    /// A token lifetime that is not a duration.
    InvalidTtl {
        /// What was sent.
        value: String,
    },
    /// A token lifetime beyond `auth.token_max_age`.
    TtlTooLong {
        /// The longest allowed, human-readable.
        max: String,
    },
    /// A token lifetime the signer refuses.
    InvalidTokenLifetime,
    /// A token description that is too long or holds control characters.
    InvalidDescription {
        /// The longest allowed, in bytes.
        max: usize,
    },
    /// A block id that is not 32 or 64 hexadecimal characters.
    InvalidBlockId {
        /// What was sent.
        value: String,
    },
    /// An upload of an empty block.
    EmptyBlock,
    /// A block whose content does not hash to its id.
    BlockIdMismatch {
        /// The hash length in bytes (16 or 32).
        hash_len: usize,
        /// The body's hash, in hex.
        digest: String,
    },
    /// A request the framework could not read (its own explanation).
    UnreadableRequest {
        /// The status the framework gives it.
        status: StatusCode,
        /// The framework's explanation.
        detail: String,
    },

    // 401, 403: who is asking.
    /// The authentication guard refused the caller (hub-auth's message and status).
    Auth {
        /// 400, 401, 403 or 500, as hub-auth decides.
        status: StatusCode,
        /// hub-auth's message.
        message: &'static str,
    },
    /// A repository the caller may not act as.
    NotYourRepository {
        /// The repository.
        repository: String,
    },
    /// Token management by a caller that did not sign in with a token of its own.
    TokensNotManageable,
    /// A write beyond the repository's quota (not `507`, WebDAV's "the server is out of
    /// space": the caller's allowance is spent, the server is fine).
    QuotaExceeded {
        /// The refusal, naming the quota.
        detail: String,
    },

    // 404, 409: what is asked for.
    /// A row that does not exist, with the original's message for it.
    Missing(Missing),
    /// A path no route serves.
    RouteNotFound,
    /// A path served, but not with this method.
    MethodNotAllowed,
    /// A merge source that does not exist.
    SourceMissing {
        /// The source's repository.
        repository: String,
        /// The source's name.
        name: String,
    },
    /// A tag link whose source tag does not exist.
    SourceTagMissing,
    /// A token id that is not one of the caller's.
    TokenNotFound,
    /// A block the chunk store does not hold.
    BlockNotFound {
        /// The block id, in hex.
        id: String,
    },
    /// A write that conflicts with what exists.
    Conflict(Conflict),

    // Limits.
    /// A request body that stopped arriving for too long.
    BodyIdle {
        /// The timeout's description.
        detail: String,
    },
    /// An upload larger than `limits.upload_max_bytes`.
    UploadTooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// More block ids than one request may ask about.
    TooManyBlockIds {
        /// The limit.
        max: usize,
    },
    /// A block larger than a 0-db value may be.
    BlockTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The caller's request budget for this minute is spent.
    RateLimited,
    /// The caller already has as many jobs in progress as allowed.
    TooManyJobs {
        /// The limit.
        limit: u32,
    },
    /// Too many failed authentications from this client.
    AuthThrottled,

    // 5xx: not the caller's fault.
    /// A failure of this hub; the cause is logged, the caller sees a generic message.
    Internal,
    /// A tag link row without a target (a corrupt row).
    CorruptTagLink,
    /// A feature this hub is not configured for.
    NotConfigured {
        /// What is missing.
        what: String,
    },
    /// A dependency (database, queue, store) is unreachable; retrying later may work.
    Unavailable,
    /// Too much work waits for a worker (`limits.max_queued_jobs`, `limits.max_staged_bytes`).
    HubBusy {
        /// How much waits.
        detail: String,
    },
    /// A synchronous wait ended before the job did; the job keeps running.
    JobPending {
        /// The job's state.
        state: String,
        /// Where to follow it.
        path: String,
    },

    /// A job that failed or was cancelled: hub-model's [`FailureCode::sync_answer`] decides
    /// status, message and code.
    JobFailed {
        /// The failure's code.
        code: FailureCode,
        /// The job's kind (some answers depend on it).
        kind: JobKind,
        /// The failure's detail.
        detail: String,
    },
}

impl ErrorKind {
    /// `404 user not found`: the repository does not exist.
    pub const USER_NOT_FOUND: Self = Self::Missing(Missing::Repository);
    /// `404 source not found`: the entry (or its flist) does not exist.
    pub const SOURCE_NOT_FOUND: Self = Self::Missing(Missing::Entry);

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use ErrorKind::*;
        match self {
            NoFile
            | NoSource
            | MissingTarget
            | TargetNotAllowed
            | MalformedSource
            | MalformedJson { .. }
            | FieldTooLong { .. }
            | FieldNotText { .. }
            | MetadataNotText { .. }
            | TooManyMetadataFields { .. }
            | UnreadableFormat
            | MissingImage
            | InvalidImage
            | HalfCredentials
            | CredentialsUnsupported
            | TooManySources { .. }
            | InvalidMergeMode { .. }
            | InvalidFormat { .. }
            | InvalidName { .. }
            | TagLinkNamedFlist
            | InvalidIdempotencyKey
            | InvalidCursor
            | InvalidFilter { .. }
            | InvalidWait { .. }
            | InvalidLastEventId
            | InvalidJobRequest { .. }
            | InvalidTtl { .. }
            | TtlTooLong { .. }
            | InvalidTokenLifetime
            | InvalidDescription { .. }
            | InvalidBlockId { .. }
            | EmptyBlock
            | BlockIdMismatch { .. } => StatusCode::BAD_REQUEST,
            MalformedMultipart { status, .. }
            | UnreadableRequest { status, .. }
            | Auth { status, .. } => *status,
            NotYourRepository { .. } | TokensNotManageable | QuotaExceeded { .. } => {
                StatusCode::FORBIDDEN
            }
            Missing(_)
            | RouteNotFound
            | SourceMissing { .. }
            | SourceTagMissing
            | TokenNotFound
            | BlockNotFound { .. } => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) => StatusCode::CONFLICT,
            BodyIdle { .. } => StatusCode::REQUEST_TIMEOUT,
            UploadTooLarge { .. } | TooManyBlockIds { .. } | BlockTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            RateLimited | TooManyJobs { .. } | AuthThrottled => StatusCode::TOO_MANY_REQUESTS,
            Internal | CorruptTagLink => StatusCode::INTERNAL_SERVER_ERROR,
            NotConfigured { .. } => StatusCode::NOT_IMPLEMENTED,
            Unavailable | HubBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            JobPending { .. } => StatusCode::GATEWAY_TIMEOUT,
            JobFailed { code, kind, .. } => StatusCode::from_u16(code.sync_answer(*kind).status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            NoFile => "no_file",
            NoSource => "no_source",
            MissingTarget => "missing_target",
            TargetNotAllowed | InvalidName { .. } | TagLinkNamedFlist => "invalid_name",
            MalformedSource => "invalid_source",
            MalformedJson { .. } | InvalidJobRequest { .. } => "invalid_request",
            MalformedMultipart { .. }
            | FieldTooLong { .. }
            | FieldNotText { .. }
            | MetadataNotText { .. }
            | TooManyMetadataFields { .. }
            | UnreadableRequest { .. } => "malformed_request",
            UnreadableFormat | InvalidFormat { .. } => "invalid_format",
            MissingImage => "missing_image",
            InvalidImage => FailureCode::InvalidImage.static_str(),
            HalfCredentials => "invalid_credentials",
            CredentialsUnsupported => "credentials_unsupported",
            TooManySources { .. } => "too_many_sources",
            InvalidMergeMode { .. } => "invalid_mode",
            InvalidIdempotencyKey => "invalid_idempotency_key",
            InvalidCursor => "invalid_cursor",
            InvalidFilter { .. } => "invalid_filter",
            InvalidWait { .. } => "invalid_wait",
            InvalidLastEventId => "invalid_last_event_id",
            InvalidTtl { .. } | TtlTooLong { .. } | InvalidTokenLifetime => "invalid_ttl",
            InvalidDescription { .. } => "invalid_description",
            InvalidBlockId { .. } => "invalid_block_id",
            EmptyBlock => "empty_block",
            BlockIdMismatch { .. } => "block_id_mismatch",
            Auth { status, .. } if *status == StatusCode::FORBIDDEN => "forbidden",
            Auth { status, .. } if *status == StatusCode::BAD_REQUEST => "invalid_authorization",
            Auth { status, .. } if status.is_server_error() => FailureCode::Internal.static_str(),
            Auth { .. } => "unauthorized",
            NotYourRepository { .. } | TokensNotManageable => "forbidden",
            QuotaExceeded { .. } => FailureCode::QuotaExceeded.static_str(),
            Missing(hub_db::Missing::Job) => "job_not_found",
            Missing(_) | RouteNotFound | SourceMissing { .. } | SourceTagMissing => "not_found",
            TokenNotFound => "token_not_found",
            BlockNotFound { .. } => "block_not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict(_) => "conflict",
            BodyIdle { .. } => "request_timeout",
            UploadTooLarge { .. } => "payload_too_large",
            TooManyBlockIds { .. } => "too_many_ids",
            BlockTooLarge { .. } => "block_too_large",
            RateLimited => "rate_limited",
            TooManyJobs { .. } => "too_many_jobs",
            AuthThrottled => "auth_throttled",
            Internal | CorruptTagLink => FailureCode::Internal.static_str(),
            NotConfigured { .. } => "not_configured",
            Unavailable => "unavailable",
            HubBusy { .. } => "hub_busy",
            JobPending { .. } => "job_pending",
            JobFailed { code, kind, .. } => code.sync_answer(*kind).code,
        }
    }

    /// Whether the kind is one of the original hub's answers, which its routes render as it
    /// did: `{"status": "error", "message": …}` without a `code`.
    pub fn is_original(&self) -> bool {
        use ErrorKind::*;
        matches!(
            self,
            NoFile
                | NoSource
                | MissingTarget
                | TargetNotAllowed
                | MalformedSource
                | MalformedJson { .. }
                | MalformedMultipart { .. }
                | FieldTooLong { .. }
                | FieldNotText { .. }
                | MetadataNotText { .. }
                | TooManyMetadataFields { .. }
                | UnreadableFormat
                | MissingImage
                | HalfCredentials
                | TooManySources { .. }
                | InvalidMergeMode { .. }
                | InvalidName { .. }
                | TagLinkNamedFlist
                | InvalidLastEventId
                | InvalidDescription { .. }
                | UnreadableRequest { .. }
                | Auth { .. }
                | Missing(_)
                | RouteNotFound
                | MethodNotAllowed
                | SourceMissing { .. }
                | SourceTagMissing
                | TokenNotFound
                | Conflict(_)
                | BodyIdle { .. }
                | Internal
                | CorruptTagLink
                | Unavailable
        )
    }

    /// `Retry-After` seconds the kind always asks for, when it does.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable => Some(5),
            Self::JobFailed { code, kind, .. } => code.sync_answer(*kind).retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            NoFile => f.write_str("no file found"),
            NoSource => f.write_str("no source found"),
            MissingTarget => f.write_str("missing build (target) name"),
            TargetNotAllowed => f.write_str("build name not allowed"),
            MalformedSource => f.write_str("malformed source filename"),
            MalformedJson { detail: None } => f.write_str("malformed json request"),
            MalformedJson {
                detail: Some(detail),
            } => write!(f, "malformed json request: {detail}"),
            MalformedMultipart { detail, .. } => write!(f, "malformed multipart request: {detail}"),
            FieldTooLong { field, max: None } => write!(f, "form field `{field}` is too long"),
            FieldTooLong {
                field,
                max: Some(max),
            } => write!(f, "form field `{field}` is too long (at most {max} bytes)"),
            FieldNotText { field } => write!(f, "form field `{field}` is not UTF-8"),
            MetadataNotText { key } => write!(f, "metadata `{key}` is not UTF-8 text"),
            TooManyMetadataFields { max } => {
                write!(f, "too many metadata fields (at most {max})")
            }
            UnreadableFormat => f.write_str("invalid format"),
            MissingImage => f.write_str("missing docker image name"),
            InvalidImage => f.write_str("invalid docker image name"),
            HalfCredentials => f.write_str("username and password go together"),
            CredentialsUnsupported => f.write_str("this hub does not accept registry credentials"),
            TooManySources { max } => write!(f, "too many sources (at most {max})"),
            InvalidMergeMode { value } => {
                write!(f, "invalid merge mode `{value}` (union or overlay)")
            }
            InvalidFormat { detail } => f.write_str(detail),
            InvalidName { message } => f.write_str(message),
            TagLinkNamedFlist => f.write_str("tag symlink cannot ends with .flist"),
            InvalidIdempotencyKey => {
                f.write_str("invalid Idempotency-Key (1 to 255 printable ASCII characters)")
            }
            InvalidCursor => f.write_str("invalid cursor"),
            InvalidFilter { what, value } => write!(f, "invalid {what} `{value}`"),
            InvalidWait { value } => write!(f, "invalid wait `{value}` (e.g. 30s)"),
            InvalidLastEventId => f.write_str("invalid Last-Event-ID"),
            InvalidJobRequest { detail } => write!(f, "malformed json request: {detail}"),
            InvalidTtl { value } => write!(f, "invalid ttl `{value}` (e.g. 30d)"),
            TtlTooLong { max } => write!(f, "ttl too long (at most {max})"),
            InvalidTokenLifetime => f.write_str("invalid token lifetime"),
            InvalidDescription { max } => write!(
                f,
                "description must be at most {max} bytes without control characters"
            ),
            InvalidBlockId { value } => write!(
                f,
                "invalid block id `{value}` (32 or 64 hexadecimal characters)"
            ),
            EmptyBlock => f.write_str("empty block"),
            BlockIdMismatch { hash_len, digest } => write!(
                f,
                "block id does not match its content (BLAKE2b-{hash_len} of the body is {digest})"
            ),
            UnreadableRequest { detail, .. } => f.write_str(detail),
            Auth { message, .. } => f.write_str(message),
            NotYourRepository { repository } => write!(f, "you may not act as `{repository}`"),
            TokensNotManageable => f.write_str("tokens cannot be managed with this identity"),
            QuotaExceeded { detail } => f.write_str(detail),
            Missing(missing) => f.write_str(missing_message(*missing)),
            RouteNotFound => f.write_str("not found"),
            MethodNotAllowed => f.write_str("method not allowed"),
            SourceMissing { repository, name } => write!(f, "{repository}/{name} does not exists"),
            SourceTagMissing => f.write_str("source tag not found"),
            TokenNotFound => f.write_str("token not found"),
            BlockNotFound { id } => write!(f, "block {id} not found"),
            Conflict(conflict) => f.write_str(conflict_message(*conflict)),
            BodyIdle { detail } => f.write_str(detail),
            UploadTooLarge { max } => write!(f, "upload too large (at most {max} bytes)"),
            TooManyBlockIds { max } => {
                write!(f, "too many block ids (at most {max} per request)")
            }
            BlockTooLarge { max } => write!(f, "block too large (at most {max} bytes)"),
            RateLimited => f.write_str("rate limit exceeded"),
            TooManyJobs { limit } => write!(
                f,
                "too many jobs in progress (at most {limit}); wait for one to finish"
            ),
            AuthThrottled => f.write_str("too many failed authentications; retry later"),
            Internal => f.write_str("internal error"),
            CorruptTagLink => f.write_str("could not read tag link"),
            NotConfigured { what } => {
                write!(f, "token minting is not configured on this hub ({what})")
            }
            Unavailable => f.write_str("service temporarily unavailable"),
            HubBusy { detail } => f.write_str(detail),
            JobPending { state, path } => {
                write!(f, "the job is still {state}; follow it at {path}")
            }
            JobFailed { code, kind, detail } => {
                f.write_str(&code.sync_answer(*kind).message.render(detail))
            }
        }
    }
}

/// The original's message for a missing row.
pub fn missing_message(missing: Missing) -> &'static str {
    match missing {
        Missing::Repository => "user not found",
        Missing::SourceRepository => "source repository not found",
        Missing::Entry | Missing::Flist => "source not found",
        Missing::Tag => "tag not found",
        Missing::TagEntry => "target not found on this tag",
        Missing::Job => "job id not found",
    }
}

/// The original's message for a refused write.
pub fn conflict_message(conflict: Conflict) -> &'static str {
    match conflict {
        Conflict::DestinationIsFlist => "link destination is already a file",
        Conflict::FlistNameTaken => "there is a .flist file with the same name existing already",
        Conflict::JobFinished => "job already finished",
        Conflict::DestinationExists => "destination already exists (add ?force=true to replace it)",
    }
}
