//! The error answers of the document: one response component per status, generated from the
//! error catalogue (each lists the codes the catalogue answers with at its status), and the same
//! answers as the website's form pages give them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use axum::http::StatusCode;
use hub_model::{FailureCode, JobKind};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{AllOfBuilder, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use super::catalogue::ErrorKind;

/// Declares, for each status an operation documents an error for, the JSON answer (a component
/// named as given) and the website page answering the same (`<name>Page`).
macro_rules! responses {
    ($($name:ident = $status:literal, $description:literal;)+) => {
        $(
            #[doc = concat!("`", stringify!($status), "`: ", $description, ".")]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                    (stringify!($name), json_error($status, $description).into())
                }
            }
        )+

        /// Every JSON error answer: its component's name and its status.
        const ALL: &[(&str, u16)] = &[$((stringify!($name), $status)),+];

        /// The same answers on the website's form routes: the page again, with the
        /// catalogue's message, under its status.
        pub mod pages {
            use super::*;

            $(
                #[doc = concat!("`", stringify!($status), "`: ", $description, " (HTML).")]
                pub struct $name;

                impl<'r> utoipa::ToResponse<'r> for $name {
                    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                        (
                            concat!(stringify!($name), "Page"),
                            html_error($description).into(),
                        )
                    }
                }
            )+
        }
    };
}

responses! {
    BadRequest = 400, "Invalid request";
    Unauthorized = 401, "Not authenticated";
    Forbidden = 403, "Forbidden (read-only mode, not an account of the caller, quota exceeded)";
    NotFound = 404, "Not found";
    Conflict = 409, "Conflict";
    PayloadTooLarge = 413, "Too large";
    ChunksMissing = 422, "Chunks missing from the store";
    TooManyRequests = 429, "Rate or concurrent-job limit (`Retry-After`)";
    Failed = 500, "Failed";
    NotConfigured = 501, "Not configured";
    BadGateway = 502, "Registry failure";
    Unavailable = 503, "A dependency is unavailable (`Retry-After`)";
    StillRunning = 504, "Still running: follow the job at `Location`";
}

/// The error answers of the original hub's synchronous submission routes (upload,
/// upload-flist, merge, docker): the catalogue's, and those of the job's failures.
pub struct Submission;

impl utoipa::IntoResponses for Submission {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        const STATUSES: [u16; 11] = [400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504];
        ALL.iter()
            .filter(|(_, status)| STATUSES.contains(status))
            .map(|(name, status)| {
                (
                    status.to_string(),
                    RefOr::Ref(Ref::from_response_name(*name)),
                )
            })
            .collect()
    }
}

/// The catalogue's JSON error body at `status`, its `code` one of those the catalogue answers
/// with at that status. A `504` also names the job and its state.
fn json_error(status: u16, description: &str) -> utoipa::openapi::Response {
    let codes = codes_at(status);
    let listed: Vec<String> = codes.iter().map(|code| format!("`{code}`")).collect();
    let body = if status == 504 {
        "StillRunning"
    } else {
        "Error"
    };
    let code = ObjectBuilder::new()
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied())),
        )
        .build();
    let schema = Schema::AllOf(
        AllOfBuilder::new()
            .item(Ref::from_schema_name(body))
            .item(code)
            .build(),
    );
    let mut response = ResponseBuilder::new()
        .description(format!(
            "{description}. Codes: {} (the original hub's routes leave `code` out of the \
             answers its own catalogue had)",
            listed.join(", ")
        ))
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    if matches!(status, 429 | 503) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::Integer)))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    if status == 504 {
        response = response.header("Location", location());
    }
    response.build()
}

/// `Location: /api/jobs/<id>`, on every answer about a job.
fn location() -> Header {
    HeaderBuilder::new()
        .schema(Some(Object::with_type(Type::String)))
        .description(Some("The job: `/api/jobs/<id>`"))
        .build()
}

/// A website page answering an error: the form again, with the catalogue's message.
fn html_error(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(format!(
            "{description}: the page again, with the catalogue's message (`Oops: …`)"
        ))
        .content(
            "text/html",
            ContentBuilder::new()
                .schema(Some(Schema::Object(Object::with_type(Type::String))))
                .build(),
        )
        .build()
}

/// The codes the catalogue answers with at `status`, sorted.
pub(crate) fn codes_at(status: u16) -> BTreeSet<&'static str> {
    catalogue()
        .iter()
        .filter(|kind| kind.status().as_u16() == status)
        .map(ErrorKind::code)
        .collect()
}

/// Declares the catalogue's samples: a pattern for each variant of [`ErrorKind`] and the kinds
/// standing for it (one per status or code it can have). The patterns make an exhaustive
/// `match`, so a new variant does not compile until its samples are listed here.
macro_rules! samples {
    ($($pattern:pat => [$($sample:expr),* $(,)?],)+) => {{
        // Never called: the compiler checks it is exhaustive.
        #[allow(dead_code)]
        fn every_variant_is_sampled(kind: &ErrorKind) {
            use ErrorKind::*;
            match kind {
                $($pattern => {})+
            }
        }
        use ErrorKind::*;
        let mut kinds: Vec<ErrorKind> = Vec::new();
        $(kinds.extend([$($sample),*]);)+
        kinds
    }};
}

/// One kind of the catalogue for every status and code a variant can answer with.
fn catalogue() -> &'static [ErrorKind] {
    static CATALOGUE: LazyLock<Vec<ErrorKind>> = LazyLock::new(|| {
        let text = String::new;
        let failures = FailureCode::KNOWN.iter().flat_map(|code| {
            JobKind::ALL.map(|kind| ErrorKind::JobFailed {
                code: code.clone(),
                kind,
                detail: String::new(),
            })
        });
        let mut kinds: Vec<ErrorKind> = samples! {
            NoFile => [NoFile],
            NoSource => [NoSource],
            MissingTarget => [MissingTarget],
            TargetNotAllowed => [TargetNotAllowed],
            MalformedSource => [MalformedSource],
            MalformedJson { .. } => [MalformedJson { detail: None }],
            // The multipart parser's statuses.
            MalformedMultipart { .. } => [
                MalformedMultipart { status: StatusCode::BAD_REQUEST, detail: text() },
                MalformedMultipart { status: StatusCode::PAYLOAD_TOO_LARGE, detail: text() },
            ],
            FieldTooLong { .. } => [FieldTooLong { field: text(), max: None }],
            FieldNotText { .. } => [FieldNotText { field: text() }],
            MetadataNotText { .. } => [MetadataNotText { key: text() }],
            TooManyMetadataFields { .. } => [TooManyMetadataFields { max: 0 }],
            UnreadableFormat => [UnreadableFormat],
            MissingImage => [MissingImage],
            InvalidImage => [InvalidImage],
            HalfCredentials => [HalfCredentials],
            CredentialsUnsupported => [CredentialsUnsupported],
            TooManySources { .. } => [TooManySources { max: 0 }],
            InvalidMergeMode { .. } => [InvalidMergeMode { value: text() }],
            InvalidFormat { .. } => [InvalidFormat { detail: text() }],
            InvalidName { .. } => [InvalidName { message: text() }],
            TagLinkNamedFlist => [TagLinkNamedFlist],
            InvalidIdempotencyKey => [InvalidIdempotencyKey],
            InvalidCursor => [InvalidCursor],
            InvalidFilter { .. } => [InvalidFilter { what: "state", value: text() }],
            InvalidWait { .. } => [InvalidWait { value: text() }],
            InvalidLastEventId => [InvalidLastEventId],
            InvalidJobRequest { .. } => [InvalidJobRequest { detail: text() }],
            InvalidTtl { .. } => [InvalidTtl { value: text() }],
            TtlTooLong { .. } => [TtlTooLong { max: text() }],
            InvalidTokenLifetime => [InvalidTokenLifetime],
            InvalidDescription { .. } => [InvalidDescription { max: 0 }],
            InvalidBlockId { .. } => [InvalidBlockId { value: text() }],
            EmptyBlock => [EmptyBlock],
            BlockIdMismatch { .. } => [BlockIdMismatch { hash_len: 16, digest: text() }],
            // The statuses of axum's path, query and body rejections.
            UnreadableRequest { .. } => [
                UnreadableRequest { status: StatusCode::BAD_REQUEST, detail: text() },
                UnreadableRequest { status: StatusCode::PAYLOAD_TOO_LARGE, detail: text() },
                UnreadableRequest { status: StatusCode::INTERNAL_SERVER_ERROR, detail: text() },
            ],
            // hub-auth's statuses.
            Auth { .. } => [
                Auth { status: StatusCode::BAD_REQUEST, message: "" },
                Auth { status: StatusCode::UNAUTHORIZED, message: "" },
                Auth { status: StatusCode::FORBIDDEN, message: "" },
                Auth { status: StatusCode::INTERNAL_SERVER_ERROR, message: "" },
            ],
            NotYourRepository { .. } => [NotYourRepository { repository: text() }],
            TokensNotManageable => [TokensNotManageable],
            QuotaExceeded { .. } => [QuotaExceeded { detail: text() }],
            Missing(_) => [
                Missing(hub_db::Missing::Repository),
                Missing(hub_db::Missing::SourceRepository),
                Missing(hub_db::Missing::Entry),
                Missing(hub_db::Missing::Tag),
                Missing(hub_db::Missing::TagEntry),
                Missing(hub_db::Missing::Flist),
                Missing(hub_db::Missing::Job),
            ],
            RouteNotFound => [RouteNotFound],
            MethodNotAllowed => [MethodNotAllowed],
            SourceMissing { .. } => [SourceMissing { repository: text(), name: text() }],
            SourceTagMissing => [SourceTagMissing],
            TokenNotFound => [TokenNotFound],
            BlockNotFound { .. } => [BlockNotFound { id: text() }],
            Conflict(_) => [
                Conflict(hub_db::Conflict::DestinationIsFlist),
                Conflict(hub_db::Conflict::FlistNameTaken),
                Conflict(hub_db::Conflict::JobFinished),
                Conflict(hub_db::Conflict::DestinationExists),
            ],
            BodyIdle { .. } => [BodyIdle { detail: text() }],
            UploadTooLarge { .. } => [UploadTooLarge { max: 0 }],
            TooManyBlockIds { .. } => [TooManyBlockIds { max: 0 }],
            BlockTooLarge { .. } => [BlockTooLarge { max: 0 }],
            RateLimited => [RateLimited],
            TooManyJobs { .. } => [TooManyJobs { limit: 0 }],
            AuthThrottled => [AuthThrottled],
            Internal => [Internal],
            CorruptTagLink => [CorruptTagLink],
            NotConfigured { .. } => [NotConfigured { what: text() }],
            Unavailable => [Unavailable],
            HubBusy { .. } => [HubBusy { detail: text() }],
            JobPending { .. } => [JobPending { state: text(), path: text() }],
            // Every known failure of every kind of job: added below.
            JobFailed { .. } => [],
        };
        kinds.extend(failures);
        kinds
    });
    &CATALOGUE
}
