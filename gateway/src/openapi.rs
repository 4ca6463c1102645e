//! The OpenAPI 3.1 document of every HTTP route of the gateway, served at `/api/openapi.json`.
//!
//! The document is generated from [`OPERATIONS`], one row per method and path. It cannot drift
//! from the router unnoticed: a unit test reads every `.route(…)` registered in the gateway's
//! sources (and the health routes of hub-telemetry) and requires each method and path to be in
//! the table, and the table to hold nothing else; an integration test sends every documented
//! operation to the real app and checks that the router knows it.
//!
//! `INFO /api/flist/{repo}/{flist}` (hub-api 6.7) is not a method OpenAPI can describe; it is
//! documented on the `GET` of the same path and with the `x-info-method` extension.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::state::AppState;

/// Path of the document.
pub const PATH: &str = "/api/openapi.json";

/// Routes of this module.
pub fn router() -> Router<AppState> {
    // The literal, not `PATH`: the drift test reads route literals (and compares them to PATH).
    Router::new().route("/api/openapi.json", get(document))
}

/// The serialised document, built once.
static DOCUMENT: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec_pretty(&build()).unwrap_or_default());

async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_slice(),
    )
        .into_response()
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Anonymous,
    /// A bearer token (hub token, hub JWT, external JWT, guest token).
    Bearer,
    /// The website's session cookie (`protected` guard, spec 4.9).
    Session,
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path with `{parameters}`.
    pub path: &'static str,
    /// Group.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// Query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
    /// Request body: content type and schema name.
    pub body: Option<(&'static str, &'static str)>,
    /// Success: status, content type and schema name (`""` = no body).
    pub success: (u16, &'static str, &'static str),
    /// Error statuses (body: `Error`).
    pub errors: &'static [u16],
}

const JSON: &str = "application/json";
const HTML: &str = "text/html";
const SSE: &str = "text/event-stream";
const MULTIPART: &str = "multipart/form-data";
const BYTES: &str = "application/octet-stream";
const TEXT: &str = "text/plain";

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        auth: Auth::Anonymous,
        query: &[],
        body: None,
        success: (200, JSON, "Success"),
        errors: &[],
    }
}

impl Operation {
    const fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    const fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Self {
        self.query = query;
        self
    }
    const fn body(mut self, content: &'static str, schema: &'static str) -> Self {
        self.body = Some((content, schema));
        self
    }
    const fn ok(mut self, status: u16, content: &'static str, schema: &'static str) -> Self {
        self.success = (status, content, schema);
        self
    }
    const fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
}

const FORMAT: (&str, &str) = ("format", "Output format: `flist` (default) or `fl`.");
const SYNC: &[u16] = &[400, 401, 403, 404, 413, 422, 429, 500, 502, 504];

/// Every operation of the gateway.
pub const OPERATIONS: &[Operation] = &[
    // Public read API (hub-api 6).
    op("get", "/api/flist", "public", "Every entry of every repository as `repo/name`")
        .ok(200, JSON, "StringList"),
    op("get", "/api/repositories", "public", "Repositories with their official flag and last change")
        .ok(200, JSON, "RepositoryList"),
    op("get", "/api/fileslist", "public", "Every repository's entries").ok(200, JSON, "FilesList"),
    op("get", "/api/flist/{repo}", "public", "Entries of a repository")
        .ok(200, JSON, "EntryList")
        .errors(&[404]),
    op("get", "/api/flist/{repo}/tags/{tag}", "public", "Entries of a tag")
        .ok(200, JSON, "EntryList")
        .errors(&[404]),
    op("get", "/api/flist/{repo}/{flist}", "public", "Contents dump of a flist (also `INFO` = `/light`)")
        .ok(200, JSON, "Dump")
        .errors(&[404]),
    op("get", "/api/flist/{repo}/{flist}/light", "public", "Size, mtime, type and MD5 of an entry")
        .ok(200, JSON, "Info")
        .errors(&[404]),
    op("get", "/api/flist/{repo}/{name}/taglink", "public", "Target of a taglink")
        .ok(200, JSON, "Taglink")
        .errors(&[404, 500]),
    op("get", "/api/flist/{repo}/{flist}/metadata", "public", "Metadata of a flist (secrets stripped)")
        .ok(200, JSON, "Object")
        .errors(&[404]),
    // Authenticated API (hub-api 7).
    op("get", "/api/flist/me", "me", "Authentication probe: the current user")
        .auth(Auth::Bearer)
        .errors(&[401, 403]),
    op("get", "/api/flist/me/{flist}", "me", "Contents dump of one of the caller's flists")
        .auth(Auth::Bearer)
        .ok(200, JSON, "Dump")
        .errors(&[401, 404]),
    op("delete", "/api/flist/me/{flist}", "me", "Delete an entry (flist, symlink or taglink)")
        .auth(Auth::Bearer)
        .errors(&[401, 404]),
    op("get", "/api/flist/me/{source}/link/{linkname}", "me", "Create or replace a symlink")
        .auth(Auth::Bearer)
        .errors(&[400, 401, 404, 409]),
    op("get", "/api/flist/me/{linkname}/crosslink/{repo}/{sourcename}", "me", "Create or replace a cross-repository symlink")
        .auth(Auth::Bearer)
        .errors(&[400, 401, 404, 409]),
    op("get", "/api/flist/me/{linkname}/crosstag/{repo}/{tagname}", "me", "Create or replace a taglink")
        .auth(Auth::Bearer)
        .errors(&[400, 401, 404, 409]),
    op("get", "/api/flist/me/{tagname}/{linkname}/tag/{repo}/{sourcename}", "me", "Add or replace a tag entry")
        .auth(Auth::Bearer)
        .errors(&[400, 401, 404]),
    op("delete", "/api/flist/me/{tagname}/{linkname}/tag/{repo}/{sourcename}", "me", "Remove a tag entry")
        .auth(Auth::Bearer)
        .errors(&[401, 404]),
    op("get", "/api/flist/me/{source}/rename/{destination}", "me", "Rename an entry")
        .auth(Auth::Bearer)
        .query(&[("force", "`true` to replace an existing destination")])
        .errors(&[400, 401, 404, 409]),
    op("get", "/api/flist/me/promote/{sourcerepo}/{sourcefile}/{localname}", "me", "Copy a flist into the current repository")
        .auth(Auth::Bearer)
        .errors(&[400, 401, 404]),
    // Job submission (hub-api 7.9–7.12, 10).
    op("post", "/api/flist/me/upload", "submit", "Archive (.tar.gz, .tgz, .tar, .tar.zst, .tar.xz, .tar.bz2) → flist; synchronous unless `Prefer: respond-async`")
        .auth(Auth::Bearer)
        .query(&[FORMAT])
        .body(MULTIPART, "UploadForm")
        .ok(200, JSON, "UploadReply")
        .errors(SYNC),
    op("post", "/api/flist/me/upload-flist", "submit", "Publish a homemade flist once its chunks are all in the store")
        .auth(Auth::Bearer)
        .body(MULTIPART, "UploadForm")
        .ok(200, JSON, "UploadReply")
        .errors(SYNC),
    op("post", "/api/flist/me/merge", "submit", "Merge without a target: validates the sources, then `missing build (target) name`")
        .auth(Auth::Bearer)
        .body(JSON, "StringList")
        .errors(&[400, 401, 404]),
    op("post", "/api/flist/me/merge/{target}", "submit", "Merge flists (`repo/name` list) into `target`")
        .auth(Auth::Bearer)
        .query(&[FORMAT, ("mode", "`union` (default, first source wins) or `overlay`")])
        .body(JSON, "StringList")
        .ok(200, JSON, "MergeReply")
        .errors(SYNC),
    op("post", "/api/flist/me/docker", "submit", "Container image → flist (fields `image`, `platform`, `username`, `password`, `format`)")
        .auth(Auth::Bearer)
        .query(&[FORMAT])
        .body("application/x-www-form-urlencoded", "DockerForm")
        .ok(200, JSON, "UploadReply")
        .errors(SYNC),
    op("post", "/upload", "submit", "Website upload: answers at once with the job id, then follow `/listen/{jobid}`")
        .auth(Auth::Session)
        .body(MULTIPART, "UploadForm")
        .ok(200, JSON, "WebUploadReply"),
    // Job API.
    op("get", "/api/jobs", "jobs", "The caller's jobs (or a repository's), newest first")
        .auth(Auth::Bearer)
        .query(&[
            ("state", "Comma-separated states"),
            ("kind", "Comma-separated kinds"),
            ("limit", "Page size, 1–100 (default 20)"),
            ("cursor", "`next` of the previous page"),
            ("repository", "A repository the caller may act as"),
        ])
        .ok(200, JSON, "JobPage")
        .errors(&[400, 401, 403, 429]),
    op("post", "/api/jobs", "jobs", "Submit a docker conversion or a merge as JSON (always asynchronous)")
        .auth(Auth::Bearer)
        .body(JSON, "NewJob")
        .ok(202, JSON, "JobSummary")
        .errors(&[400, 401, 403, 404, 429]),
    op("get", "/api/jobs/{id}", "jobs", "One job; `?wait=30s` long-polls until its next state change")
        .auth(Auth::Bearer)
        .query(&[("wait", "Long poll, e.g. `30s` (capped by `gateway.max_long_poll`)")])
        .ok(200, JSON, "Job")
        .errors(&[400, 401, 404, 429]),
    op("delete", "/api/jobs/{id}", "jobs", "Cancel a job")
        .auth(Auth::Bearer)
        .ok(200, JSON, "Job")
        .errors(&[401, 404, 409]),
    op("get", "/api/jobs/{id}/events", "jobs", "A job's events as Server-Sent Events: replay, then live; `Last-Event-ID` resumes")
        .auth(Auth::Bearer)
        .query(&[("after", "Resume after this event number")])
        .ok(200, SSE, "JobEvent")
        .errors(&[400, 401, 404]),
    op("get", "/listen/{jobid}", "jobs", "The original progress stream (`data:` frames `update`, `info`, `error`)")
        .ok(200, SSE, "ListenFrame")
        .errors(&[404]),
    // Chunk API.
    op("post", "/api/blocks/missing", "blocks", "Which of these block ids the store lacks")
        .auth(Auth::Bearer)
        .body(JSON, "StringList")
        .ok(200, JSON, "StringList")
        .errors(&[400, 401, 413]),
    op("put", "/api/blocks/{id}", "blocks", "Store an encrypted chunk under its BLAKE2b-16/32 id")
        .auth(Auth::Bearer)
        .body(BYTES, "Binary")
        .ok(201, JSON, "BlockStored")
        .errors(&[400, 401, 413, 503]),
    // Blocks over HTTP: rfs `http(s)://` routes (`publish.block_url` = `<hub>/api/blocks`).
    op("get", "/api/blocks/{prefix}/{id}", "blocks", "A stored block by id, anonymously, at rfs's sharded path (`{prefix}` = the id's first two hex digits); immutable caching, ETag = id, Range; also HEAD")
        .ok(200, BYTES, "Binary")
        .errors(&[400, 404, 416]),
    op("get", "/api/blocks/{id}", "blocks", "A stored block by id, anonymously (rfs's fallback path); immutable caching, ETag = id, Range; also HEAD")
        .ok(200, BYTES, "Binary")
        .errors(&[400, 404, 416]),
    // Tokens.
    op("get", "/api/tokens", "tokens", "The caller's hub tokens")
        .auth(Auth::Bearer)
        .ok(200, JSON, "TokenList")
        .errors(&[401, 403]),
    op("post", "/api/tokens", "tokens", "Mint a token for the caller (shown once)")
        .auth(Auth::Bearer)
        .body(JSON, "MintToken")
        .ok(201, JSON, "MintedToken")
        .errors(&[400, 401, 403, 501]),
    op("delete", "/api/tokens/{jti}", "tokens", "Revoke one of the caller's tokens")
        .auth(Auth::Bearer)
        .ok(204, "", "")
        .errors(&[401, 403, 404]),
    op("post", "/api/tokens/revoke-all", "tokens", "Revoke every token of the caller")
        .auth(Auth::Bearer)
        .ok(200, JSON, "RevokedAll")
        .errors(&[401, 403]),
    // Downloads (hub-api 8).
    op("get", "/{repo}/{file}", "downloads", "`<name>.flist`/`.fl` bytes (Range, ETag), `.md5`, `.txt`, `.json`, `.md` preview")
        .ok(200, BYTES, "Binary")
        .errors(&[404, 416]),
    op("get", "/{repo}/tags/{tag}/{file}", "downloads", "A flist through a tag entry, or its `.md5`")
        .ok(200, BYTES, "Binary")
        .errors(&[404, 416]),
    // Website (hub-api 10, 4.10).
    op("get", "/", "web", "Home page").ok(200, HTML, "Html"),
    op("get", "/search", "web", "Search page").ok(200, HTML, "Html"),
    op("get", "/upload", "web", "Upload form").auth(Auth::Session).ok(200, HTML, "Html"),
    op("get", "/upload-flist", "web", "Homemade flist form").auth(Auth::Session).ok(200, HTML, "Html"),
    op("get", "/merge", "web", "Merge form").auth(Auth::Session).ok(200, HTML, "Html"),
    op("get", "/docker-convert", "web", "Docker conversion form").auth(Auth::Session).ok(200, HTML, "Html"),
    op("post", "/upload-flist", "web", "Homemade flist form: waits for the job; the success page, or the form with `Oops: <error>`")
        .auth(Auth::Session)
        .body(MULTIPART, "UploadForm")
        .ok(200, HTML, "Html")
        .errors(&[400, 413, 422, 429, 504]),
    op("post", "/merge", "web", "Merge form (`flists[]` in order, `name`): waits for the job; the success page, or the form with the error")
        .auth(Auth::Session)
        .body("application/x-www-form-urlencoded", "Object")
        .ok(200, HTML, "Html")
        .errors(&[400, 404, 429, 500, 504]),
    op("post", "/docker-convert", "web", "Docker form (`docker-input`): the job's progress page, following `/listen/{jobid}`")
        .auth(Auth::Session)
        .body("application/x-www-form-urlencoded", "Object")
        .ok(200, HTML, "Html")
        .errors(&[400, 429]),
    op("get", "/readonly", "web", "Read-only notice").ok(200, HTML, "Html"),
    op("get", "/login", "web", "ThreeFold Connect login (302)").ok(302, "", ""),
    op("get", "/login-method", "web", "Login choices").ok(200, HTML, "Html"),
    op("post", "/login-local", "web", "Local account login (self-hosted hubs)")
        .body("application/x-www-form-urlencoded", "Object")
        .ok(302, "", ""),
    op("get", "/logout", "web", "Log out").ok(200, HTML, "Html"),
    op("get", "/token", "web", "API token through ThreeFold Connect (302)").ok(302, "", ""),
    op("get", "/token/{token}", "web", "The minted token and a curl example").ok(200, HTML, "Html"),
    op("get", "/callback_threebot", "web", "ThreeFold Connect login callback")
        .ok(302, "", "")
        .errors(&[400]),
    op("get", "/callback_token", "web", "ThreeFold Connect token callback")
        .ok(302, "", "")
        .errors(&[400]),
    op("get", "/static/{file}", "web", "Self-hosted assets").ok(200, TEXT, "Binary").errors(&[404]),
    op("get", "/{repo}", "web", "Repository page").ok(200, HTML, "Html").errors(&[404]),
    op("get", "/{repo}/tags/{tag}", "web", "Tag page").ok(200, HTML, "Html").errors(&[404]),
    // Operations.
    op("get", "/healthz", "health", "Liveness").ok(200, JSON, "Object"),
    op("get", "/readyz", "health", "Readiness: PostgreSQL, NATS and the store answer")
        .ok(200, JSON, "Object")
        .errors(&[503]),
    op("get", PATH, "meta", "This document").ok(200, JSON, "Object"),
];

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let item = paths
            .entry(operation.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(operation.method.to_owned(), operation_json(operation));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Zero-OS Hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The original hub's API (flists, links, tags, downloads, uploads) and the \
                            job platform (job API, chunk upload, tokens). Errors are \
                            `{\"status\": \"error\", \"message\": …}` with the original messages; new \
                            routes add a stable `code`. Every job answer carries `Location: /api/jobs/<id>`. \
                            Limits: `429` with `Retry-After` (request rate, concurrent jobs), `413` \
                            (upload size), `403 quota_exceeded` (repository quota).",
        },
        "tags": [
            {"name": "public", "description": "Anonymous reads (hub-api 6)"},
            {"name": "me", "description": "The caller's repository (hub-api 7)"},
            {"name": "submit", "description": "Routes that start jobs (hub-api 7.9–7.12)"},
            {"name": "jobs", "description": "The job API"},
            {"name": "blocks", "description": "Chunk upload for homemade flists"},
            {"name": "tokens", "description": "The caller's API tokens"},
            {"name": "downloads", "description": "Flist files and info (hub-api 8)"},
            {"name": "web", "description": "Website pages and sign-in (hub-api 10)"},
            {"name": "health", "description": "Probes"},
            {"name": "meta", "description": "This document"},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "Hub token, hub JWT, external JWT or guest token; cookie \
                                           `active-user=<account>` acts as another account"},
                "session": {"type": "apiKey", "in": "cookie", "name": "hub-session"},
            },
            "schemas": schemas(),
        },
    })
}

fn operation_json(operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_parameters(operation.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    parameters.extend(operation.query.iter().map(|(name, description)| {
        json!({"name": name, "in": "query", "required": false,
               "description": description, "schema": {"type": "string"}})
    }));
    let mut responses = Map::new();
    let (status, content, schema) = operation.success;
    let mut success = json!({"description": "Success"});
    if !content.is_empty() {
        success["content"] = json!({ content: {"schema": schema_ref(schema)} });
    }
    responses.insert(status.to_string(), success);
    for error in operation.errors {
        responses.insert(
            error.to_string(),
            json!({"description": error_description(*error),
                   "content": {JSON: {"schema": schema_ref("Error")}}}),
        );
    }
    let mut value = json!({
        "tags": [operation.tag],
        "summary": operation.summary,
        "operationId": operation_id(operation),
        "parameters": parameters,
        "responses": responses,
    });
    match operation.auth {
        Auth::Anonymous => {}
        Auth::Bearer => value["security"] = json!([{"bearer": []}]),
        Auth::Session => value["security"] = json!([{"session": []}]),
    }
    if let Some((content, schema)) = operation.body {
        value["requestBody"] = json!({"required": true,
                                      "content": {content: {"schema": schema_ref(schema)}}});
    }
    if operation.path == "/api/flist/{repo}/{flist}" {
        value["x-info-method"] =
            json!({"summary": "INFO: same answer as /light", "schema": schema_ref("Info")});
    }
    value
}

/// The `{name}` parameters of a path, in order.
pub fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn operation_id(operation: &Operation) -> String {
    let words: Vec<String> = operation
        .path
        .split(['/', '-', '_', '.', '{', '}'])
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect();
    format!("{}_{}", operation.method, words.join("_"))
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "Invalid request (message from the catalogue)",
        401 => "Not authenticated",
        403 => "Forbidden (read-only mode, not an account of the caller, quota_exceeded)",
        404 => "Not found",
        409 => "Conflict",
        413 => "Too large",
        416 => "Range not satisfiable",
        422 => "Chunks missing from the store",
        429 => "Rate or concurrent-job limit (Retry-After)",
        500 => "Failed",
        501 => "Not configured",
        502 => "Registry failure",
        503 => "A dependency is unavailable",
        504 => "Still running: follow the job at Location",
        _ => "Error",
    }
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let integer = json!({"type": "integer"});
    let time = json!({"type": "string", "format": "date-time"});
    let stats = json!({"type": "object", "properties": {
        "regular": integer, "symlink": integer, "directory": integer,
        "special": integer, "failure": integer, "fullsize": integer}});
    let links = json!({"type": "object", "properties": {
        "self": string, "events": string, "listen": string, "flist": string}});
    let mut schemas = Map::new();
    schemas.insert("Error".into(), json!({"type": "object", "required": ["status", "message"], "properties": {
            "status": {"const": "error"}, "message": string,
            "code": {"type": "string", "description": "Stable machine-readable code (new routes, job failures)"}}}));
    schemas.insert("Success".into(), json!({"type": "object", "properties": {"status": {"const": "success"}, "payload": {"type": "object"}}}));
    schemas.insert("Object".into(), json!({"type": "object"}));
    schemas.insert(
        "Binary".into(),
        json!({"type": "string", "format": "binary"}),
    );
    schemas.insert("Html".into(), json!({"type": "string"}));
    schemas.insert(
        "StringList".into(),
        json!({"type": "array", "items": string}),
    );
    schemas.insert(
        "RepositoryList".into(),
        json!({"type": "array", "items": {"type": "object", "properties": {
            "name": string, "official": {"type": "boolean"}, "updated": integer}}}),
    );
    schemas.insert(
        "Entry".into(),
        json!({"type": "object", "properties": {
            "name": string, "size": string, "updated": integer, "linktime": integer,
            "type": {"enum": ["regular", "symlink", "taglink", "tag"]}, "target": string}}),
    );
    schemas.insert(
        "EntryList".into(),
        json!({"type": "array", "items": schema_ref("Entry")}),
    );
    schemas.insert(
        "FilesList".into(),
        json!({"type": "object", "additionalProperties": schema_ref("EntryList")}),
    );
    schemas.insert("Stats".into(), json!(stats));
    schemas.insert("Dump".into(), json!({"type": "object", "properties": {
            "content": {"type": "array", "items": {"type": "object", "properties": {"size": integer, "path": string}}},
            "regular": integer, "symlink": integer, "directory": integer,
            "special": integer, "failure": integer, "fullsize": integer}}));
    schemas.insert(
        "Info".into(),
        json!({"type": "object", "properties": {
            "name": string, "size": integer, "updated": integer,
            "type": {"enum": ["regular", "symlink"]}, "md5": {"type": ["string", "null"]},
            "linktime": integer, "target": string}}),
    );
    schemas.insert(
        "Taglink".into(),
        json!({"type": "object", "properties": {"target": string}}),
    );
    // The enums' one spelling, from hub-model.
    let formats = json!({"enum": hub_model::Format::ALL.map(hub_model::Format::as_str)});
    let modes = json!({"enum": hub_model::MergeMode::ALL.map(hub_model::MergeMode::as_str)});
    schemas.insert("UploadForm".into(), json!({"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"},
            "format": formats,
            "metadata-<key>": {"type": "string", "description": "Flist metadata (readme, backend, entrypoint, environ, port, volume are ignored)"}}}));
    schemas.insert(
        "DockerForm".into(),
        json!({"type": "object", "required": ["image"], "properties": {
            "image": string, "platform": string, "username": string, "password": string,
            "format": formats}}),
    );
    schemas.insert("UploadReply".into(), json!({"type": "object", "properties": {
            "status": {"const": "success"},
            "payload": {"type": "object", "properties": {
                "name": string,
                "files": {"type": "object", "properties": {
                    "success": {"type": "boolean"}, "error": {"type": "null"},
                    "response": {"description": "Stats (upload, docker) or the contents dump (upload-flist)"},
                    "status": integer}},
                "job": {"type": "string", "format": "uuid"}}}}}));
    schemas.insert("MergeReply".into(), json!({"type": "object", "properties": {
            "status": {"const": "success"},
            "payload": {"type": "object", "properties": {"name": string, "job": {"type": "string", "format": "uuid"}}}}}));
    schemas.insert(
        "WebUploadReply".into(),
        json!({"type": "object", "properties": {
            "status": {"enum": ["success", "error"]}, "jobid": string, "message": string}}),
    );
    schemas.insert(
        "NewJob".into(),
        json!({"oneOf": [
            {"type": "object", "required": ["kind", "image"], "properties": {
                "kind": {"const": "docker"}, "image": string, "platform": string,
                "username": string, "password": string, "format": formats}},
            {"type": "object", "required": ["kind", "sources", "target"], "properties": {
                "kind": {"const": "merge"}, "sources": {"type": "array", "items": string},
                "target": string, "mode": modes, "format": formats}}]}),
    );
    schemas.insert(
        "JobSummary".into(),
        json!({"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "kind": string, "status": string,
            "created_at": time, "links": links}}),
    );
    schemas.insert("Job".into(), json!({"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"},
            "kind": {"enum": ["convert", "verify", "merge", "docker"]},
            "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "progress": integer, "phase": {"type": ["string", "null"]}, "message": {"type": ["string", "null"]},
            "attempt": integer, "max_attempts": integer, "owner": string, "repository": string, "name": string,
            "result": {"type": ["object", "null"]},
            "error": {"type": ["object", "null"], "properties": {"code": string, "message": string}},
            "created_at": time, "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "duration": {"type": ["string", "null"], "description": "ISO 8601, e.g. PT1.250S"},
            "links": links}}));
    schemas.insert(
        "JobPage".into(),
        json!({"type": "object", "properties": {
            "results": {"type": "array", "items": schema_ref("Job")},
            "limit": integer, "next": {"type": ["string", "null"]}}}),
    );
    schemas.insert("JobEvent".into(), json!({"type": "object", "description": "SSE `id:` = seq, `event:` = kind, `data:` = this object",
            "properties": {
                "job_id": string, "seq": integer, "at": time,
                "kind": {"enum": ["state", "update", "info", "error"]},
                "state": string, "message": string, "progress": integer, "phase": string,
                "data": {"type": "object"}}}));
    schemas.insert("ListenFrame".into(), json!({"oneOf": [
            {"type": "object", "properties": {"status": {"const": "update"}, "message": string, "progress": integer}},
            {"type": "object", "properties": {"status": {"const": "info"}, "info": {"type": "object"}}},
            {"type": "object", "properties": {"status": {"const": "error"}, "message": string}}]}));
    schemas.insert(
        "BlockStored".into(),
        json!({"type": "object", "properties": {"id": string, "size": integer}}),
    );
    schemas.insert("Token".into(), json!({"type": "object", "properties": {
            "jti": {"type": "string", "format": "uuid"}, "username": string, "description": string,
            "created_at": time, "expires_at": time, "revoked_at": {"type": ["string", "null"], "format": "date-time"},
            "status": {"enum": ["active", "expired", "revoked"]}}}));
    schemas.insert(
        "TokenList".into(),
        json!({"type": "array", "items": schema_ref("Token")}),
    );
    schemas.insert(
        "MintToken".into(),
        json!({"type": "object", "properties": {
            "ttl": {"type": "string", "description": "e.g. 30d"}, "description": string}}),
    );
    schemas.insert(
        "MintedToken".into(),
        json!({"allOf": [schema_ref("Token"),
            {"type": "object", "properties": {"token": string}}]}),
    );
    schemas.insert(
        "RevokedAll".into(),
        json!({"type": "object", "properties": {"revoked_before": time}}),
    );
    Value::Object(schemas)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// `(method, path)` with every parameter written `{}`: the router requires names per
    /// position, the document uses descriptive ones.
    fn shape(method: &str, path: &str) -> (String, String) {
        let path = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "{}"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        (method.to_ascii_lowercase(), path)
    }

    const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

    /// Every `.route("<path>", <method router>)` in `source`, as `(method, path)`.
    fn routes_in(source: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find(".route(") {
            rest = &rest[start + ".route(".len()..];
            let Some(open) = rest.find('"') else { break };
            let Some(close) = rest[open + 1..].find('"') else {
                break;
            };
            let path = rest[open + 1..open + 1 + close].to_owned();
            // The method router: up to the parenthesis closing `.route(`.
            let mut depth = 1;
            let mut end = rest.len();
            for (index, ch) in rest.char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = index;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let args = &rest[..end];
            for method in METHODS {
                let called = args.match_indices(&format!("{method}(")).any(|(at, _)| {
                    at == 0 || !args[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    found.push(shape(method, &path));
                }
            }
        }
        found
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_registered_route_is_documented_and_nothing_else() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        files.push(root.join("../shared/telemetry/src/health.rs"));
        let mut registered = BTreeSet::new();
        for file in &files {
            let source = std::fs::read_to_string(file).expect("source");
            // Test modules register throwaway routers.
            let source = source.split("#[cfg(test)]").next().unwrap_or_default();
            registered.extend(routes_in(source));
        }
        assert!(
            registered.len() > 40,
            "the scan found the routes: {registered:?}"
        );
        let documented: BTreeSet<_> = OPERATIONS
            .iter()
            .map(|operation| shape(operation.method, operation.path))
            .collect();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the document: {undocumented:?}"
        );
        assert!(
            stale.is_empty(),
            "documented routes the router lacks: {stale:?}"
        );
    }

    #[test]
    fn the_scanner_reads_method_chains() {
        let source = r#"Router::new()
            .route("/a/{x}", get(show).delete(cancel))
            .route("/b", post(upload).layer(DefaultBodyLimit::disable()))
            .route(
                "/c/{y}",
                put(store).layer(DefaultBodyLimit::max(1)),
            )
            .route("/d", get(page)).route("/e", target_get(x))"#;
        let found: BTreeSet<_> = routes_in(source).into_iter().collect();
        let expected: BTreeSet<_> = [
            shape("get", "/a/{}"),
            shape("delete", "/a/{}"),
            shape("post", "/b"),
            shape("put", "/c/{}"),
            shape("get", "/d"),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn the_document_is_valid_json_with_unique_operation_ids() {
        let document = build();
        assert_eq!(document["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for operation in OPERATIONS {
            assert!(ids.insert(operation_id(operation)), "{}", operation.path);
            let item = &document["paths"][operation.path][operation.method];
            let parameters = item["parameters"].as_array().map_or(0, Vec::len);
            assert!(parameters >= path_parameters(operation.path).count());
        }
        assert!(!DOCUMENT.is_empty());
    }
}
