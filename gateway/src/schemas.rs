//! OpenAPI schemas the types of the gateway cannot derive: fields whose Rust type says less
//! than the JSON does ([`fields`]), and bodies no type holds: the contents dump (served as the
//! workers stored it), the upload and docker forms (read field by field), the frames of
//! `/listen` (built by `routes::jobs::legacy`). Types that exist only for their schemas.

use utoipa::{IntoParams, ToSchema};

/// Field schemas for `#[schema(schema_with = …)]`: a constant, a closed set of strings written
/// as literals.
pub mod fields {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{AnyOfBuilder, Object, ObjectBuilder, Schema, Type};

    fn strings(values: &[&str], description: &str) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .description(Some(description))
            .build()
    }

    /// `"error"`.
    pub fn error() -> Object {
        strings(&["error"], "Always `error`")
    }

    /// `"success"`.
    pub fn success() -> Object {
        strings(&["success"], "Always `success`")
    }

    /// `"update"` (a `/listen` frame).
    pub fn update() -> Object {
        strings(&["update"], "Always `update`")
    }

    /// `"info"` (a `/listen` frame).
    pub fn info() -> Object {
        strings(&["info"], "Always `info`")
    }

    /// The `response` of zflist's `files` member: the statistics (upload, docker), or the
    /// contents dump, which holds them too (upload-flist).
    pub fn stats_or_dump() -> Schema {
        Schema::AnyOf(
            AnyOfBuilder::new()
                .item(Ref::from_schema_name("Stats"))
                .item(Ref::from_schema_name("Dump"))
                .description(Some(
                    "The statistics (upload, docker) or the contents dump (upload-flist)",
                ))
                .build(),
        )
    }

    /// The `type` of a listed entry (compat::shapes::EntryJson).
    pub fn entry_type() -> Object {
        strings(
            &["regular", "symlink", "taglink", "tag"],
            "What the entry is",
        )
    }

    /// The `type` of an Info (compat::shapes::InfoJson): `/light` addresses flists and links.
    pub fn info_type() -> Object {
        strings(&["regular", "symlink"], "What the entry is")
    }

    /// The `status` of a listed token (routes::tokens::TokenView).
    pub fn token_status() -> Object {
        strings(
            &["active", "expired", "revoked"],
            "Whether the token still works",
        )
    }
}

/// A flist's contents dump (`GET /api/flist/{repo}/{flist}`): written by the workers (hub-jobs'
/// `contents_dump`) and served as stored, so no type of the gateway serialises it.
#[derive(ToSchema)]
#[schema(as = Dump)]
#[allow(dead_code)] // Only its schema is used.
pub struct DumpSchema {
    /// Every file of the flist.
    content: Vec<DumpItem>,
    /// The statistics.
    #[serde(flatten)]
    stats: hub_model::Stats,
}

/// One file of a contents dump.
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used.
pub struct DumpItem {
    /// Size in bytes.
    size: u64,
    /// Path inside the flist.
    path: String,
}

/// The multipart form of the upload routes, read field by field by `crate::upload` (no type
/// holds it).
#[derive(ToSchema)]
#[schema(as = UploadForm)]
#[allow(dead_code)] // Only its schema is used.
pub struct UploadFormSchema {
    /// The archive (upload) or the homemade flist (upload-flist).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Output format (upload; also `?format=`).
    #[schema(nullable = false)]
    format: Option<hub_model::Format>,
    /// Flist metadata (readme, backend, entrypoint, environ, port, volume are ignored).
    #[serde(rename = "metadata-<key>")]
    #[schema(nullable = false)]
    metadata: Option<String>,
}

/// The form of `POST /api/flist/me/docker` (urlencoded or multipart), read as a map of fields
/// by `routes::submit_docker`.
#[derive(ToSchema)]
#[schema(as = DockerForm)]
#[allow(dead_code)] // Only its schema is used.
pub struct DockerFormSchema {
    /// Image reference, e.g. `alpine:3.20`.
    image: String,
    /// Platform of a multi-architecture image, e.g. `linux/arm64`.
    #[schema(nullable = false)]
    platform: Option<String>,
    /// Registry user (with `password`).
    #[schema(nullable = false)]
    username: Option<String>,
    /// Registry password or token (with `username`).
    #[schema(nullable = false)]
    password: Option<String>,
    /// Output format.
    #[schema(nullable = false)]
    format: Option<hub_model::Format>,
}

/// One `data:` frame of the original's `/listen/{jobid}` stream (routes::jobs::legacy).
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
pub enum ListenFrame {
    /// `{"status": "update", "message": …, "progress": …}`.
    Update {
        #[schema(schema_with = fields::update)]
        status: String,
        /// Progress message.
        message: String,
        /// Percent done.
        progress: i16,
    },
    /// `{"status": "info", "info": {…}}`: the result, at the end.
    Info {
        #[schema(schema_with = fields::info)]
        status: String,
        /// What the job published.
        #[schema(value_type = Object)]
        info: (),
    },
    /// `{"status": "error", "message": …}`: the failure, at the end.
    Error {
        #[schema(schema_with = fields::error)]
        status: String,
        /// Why the job failed.
        message: String,
    },
}

/// Bytes: a flist, a chunk.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Only its schema is used.
pub struct Binary(Vec<u8>);

/// The request headers of the routes that submit jobs (read by `crate::extract`).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Only its parameters are used.
pub struct SubmitHeaders {
    /// `respond-async`: answer `202` with the job at once instead of waiting for it (the
    /// original hub's routes; `POST /api/jobs` always does).
    #[param(rename = "Prefer", nullable = false)]
    prefer: Option<String>,
    /// A key the caller already used answers with that earlier job instead of queuing a new
    /// one.
    #[param(rename = "Idempotency-Key", nullable = false)]
    idempotency_key: Option<String>,
}
