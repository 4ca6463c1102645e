//! The website's forms (hub-api §10), all behind the `protected` guard ([`WebUser`]):
//!
//! * `/upload`: the archive is sent by the page's script (`POST /upload` answers JSON, see
//!   [`web_upload`]), which then follows `/listen/<jobid>`;
//! * `/upload-flist` and `/merge`: the POST waits for its job and renders the success page
//!   ("your flist … is available") or the form again with "Oops: <catalogue message>";
//! * `/docker-convert`: the POST queues the conversion and renders its progress page, driven by
//!   `/listen/<jobid>` in the browser (conversions take minutes).
//!
//! Every user-controlled value on these pages goes through [`escape`] or [`href`] (hub-api D2).

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::FormRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hub_db::entries;
use hub_db::jobs::Job;

use hub_model::MergeMode;
use serde::Serialize;

use super::html::{escape, href, page};
use super::outcome::finished;
use super::pages::failure;
use super::{WebUser, web_identity};
use crate::compat::urls::public_base;
use crate::error::ApiError;
use crate::pyjson::PyJson;
use crate::service::submit::docker::{self, DockerRequest};
use crate::service::submit::merge;
use crate::service::submit::upload::UploadRoute;
use crate::state::AppState;
use crate::upload::{FormatQuery, receive};

/// Name of the merge form's repeated source field (the original's).
const MERGE_SOURCES: &str = "flists[]";
/// Name of the docker form's image field (the original's).
const DOCKER_IMAGE: &str = "docker-input";

fn acting_as(user: &WebUser) -> String {
    format!(
        "<p class=\"muted\">Publishing to <a href=\"{}\">{}</a>.</p>",
        href(&[&user.user]),
        escape(&user.user)
    )
}

/// The "Oops" box of a refused form.
fn oops(error: Option<&ApiError>) -> String {
    error
        .map(|error| {
            format!(
                "<div class=\"alert alert-danger\" id=\"error\">Oops: {}</div>",
                escape(&error.message())
            )
        })
        .unwrap_or_default()
}

/// The page's status: the catalogue's for a refused form (hub-api §14), else 200.
fn status_of(error: Option<&ApiError>) -> StatusCode {
    error.map_or(StatusCode::OK, ApiError::status)
}

/// The success page of a synchronous form: where the published flist is.
fn published(state: &AppState, headers: &HeaderMap, user: &WebUser, job: &Job) -> Response {
    let (repo, name) = (&job.repository, &job.target_name);
    let publish = &state.config.publish;
    let body = format!(
        "<h1>Success</h1><div class=\"alert alert-success\" id=\"published\">Your flist {} is \
         available.</div><table><tbody>\
         <tr><th>Source</th><td><code id=\"source\">{}{}</code> \
         <button class=\"btn\" data-copy=\"source\">Copy</button></td></tr>\
         <tr><th>Storage</th><td><code>zdb://{}:{}</code></td></tr></tbody></table>\
         <p><a href=\"{}\">Preview</a> &bull; <a href=\"{}\">All flists of {}</a></p>",
        escape(name),
        escape(&public_base(&state.config, headers)),
        href(&[repo, name]),
        escape(&publish.backend_host),
        publish.backend_port,
        href(&[repo, &format!("{name}.md")]),
        href(&[repo]),
        escape(repo),
    );
    page(StatusCode::OK, "Success", &user.visitor.nav(), &body)
}

/// `GET /upload` (protected): the archive upload form. The page's script posts it and follows
/// the job; the progress bar and summary are filled in by the script.
#[utoipa::path(
    get,
    path = "/upload",
    tag = "web",
    summary = "Upload form",
    security(("session" = [])),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
pub async fn upload_form(user: WebUser) -> Response {
    let body = format!(
        "<h1>Upload a .tar.gz</h1>{}<form method=\"post\" action=\"/upload\" \
         enctype=\"multipart/form-data\" data-upload data-repo=\"{}\"><p><input type=\"file\" \
         name=\"file\" accept=\".tar.gz,.tgz\"></p><p><button class=\"btn btn-primary\">Upload\
         </button></p></form>{}",
        acting_as(&user),
        escape(&user.user),
        progress_block(None),
    );
    page(StatusCode::OK, "Upload", &user.visitor.nav(), &body)
}

/// Progress bar, status line, job id and result box, filled in by the page's script.
fn progress_block(job: Option<&str>) -> String {
    let job = job
        .map(|id| {
            format!(
                "<p class=\"muted\">Job ID: <code id=\"jobid\">{}</code></p>",
                escape(id)
            )
        })
        .unwrap_or_default();
    format!(
        "<p><progress id=\"progress\" max=\"100\" value=\"0\"></progress> \
         <span id=\"status\"></span></p>{job}<div id=\"result\"></div>"
    )
}

fn upload_flist_page(user: &WebUser, error: Option<&ApiError>) -> Response {
    let body = format!(
        "<h1>Upload a homemade flist</h1>{}{}<p>Every chunk the flist references must already \
         be in the hub's backend.</p><form method=\"post\" action=\"/upload-flist\" \
         enctype=\"multipart/form-data\"><p><input type=\"file\" name=\"file\" accept=\".flist\">\
         </p><p><button class=\"btn btn-primary\">Upload</button></p></form>",
        acting_as(user),
        oops(error),
    );
    page(status_of(error), "Homemade", &user.visitor.nav(), &body)
}

/// The answer of `POST /upload`, for the page's script.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum WebUploadReply<'a> {
    /// The job is queued.
    Accepted(WebAccepted),
    /// The upload was refused.
    Refused(WebRefused<'a>),
}

/// `{"status": "success", "jobid": …}`.
#[derive(Serialize, utoipa::ToSchema)]
struct WebAccepted {
    #[schema(schema_with = crate::schemas::fields::success)]
    status: &'static str,
    /// The job: follow it at `/listen/{jobid}`.
    jobid: uuid::Uuid,
}

/// `{"status": "error", "message": …}`.
#[derive(Serialize, utoipa::ToSchema)]
struct WebRefused<'a> {
    #[schema(schema_with = crate::schemas::fields::error)]
    status: &'static str,
    /// The catalogue's message.
    message: &'a str,
}

/// `POST /upload` (protected): `200 {"status": "success", "jobid": …}` as soon as the job is
/// queued, the page then follows `/listen/<jobid>`; errors are `200 {"status": "error",
/// "message": …}` for the page's script (hub-api §10).
#[utoipa::path(
    post,
    path = "/upload",
    tag = "submit",
    summary = "Website upload: answers at once with the job id, then follow `/listen/{jobid}`",
    security(("session" = [])),
    request_body(content = crate::schemas::UploadFormSchema, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Queued, or refused with the catalogue's message (both `200`, for the page's script)", body = WebUploadReply),
    ),
)]
pub async fn web_upload(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let identity = web_identity(&state, &user);
    let route = UploadRoute::Archive { api: false };
    let query = FormatQuery::default();
    match receive(&state, &identity, route, query, &headers, multipart).await {
        Ok(submitted) => PyJson(WebUploadReply::Accepted(WebAccepted {
            status: "success",
            jobid: submitted.job().id,
        }))
        .into_response(),
        Err(error) => PyJson(WebUploadReply::Refused(WebRefused {
            status: "error",
            message: &error.message(),
        }))
        .into_response(),
    }
}

/// `GET /upload-flist` (protected): the homemade flist form.
#[utoipa::path(
    get,
    path = "/upload-flist",
    tag = "web",
    summary = "Homemade flist form",
    security(("session" = [])),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
pub async fn upload_flist_form(user: WebUser) -> Response {
    upload_flist_page(&user, None)
}

/// `POST /upload-flist` (protected): verify the homemade flist's chunks and publish it unchanged
/// (hub-api §7.10, §11.2), then the success page; or the form with the error.
#[utoipa::path(
    post,
    path = "/upload-flist",
    tag = "web",
    summary = "Homemade flist form: waits for the job; the success page, or the form with `Oops: <error>`",
    security(("session" = [])),
    request_body(content = crate::schemas::UploadFormSchema, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The success page", body = String, content_type = "text/html"),
        (status = 400, response = crate::error::responses::pages::BadRequest),
        (status = 413, response = crate::error::responses::pages::PayloadTooLarge),
        (status = 422, response = crate::error::responses::pages::ChunksMissing),
        (status = 429, response = crate::error::responses::pages::TooManyRequests),
        (status = 504, response = crate::error::responses::pages::StillRunning),
    ),
)]
pub async fn upload_flist(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let identity = web_identity(&state, &user);
    let query = FormatQuery::default();
    let route = UploadRoute::Flist;
    let submitted = receive(&state, &identity, route, query, &headers, multipart).await;
    match finished(&state, submitted).await {
        Ok(job) => published(&state, &headers, &user, &job),
        Err(error) => upload_flist_page(&user, Some(&error)),
    }
}

async fn merge_page(state: &AppState, user: &WebUser, error: Option<&ApiError>) -> Response {
    let nav = user.visitor.nav();
    // The `/api/flist` list: every entry of the hub as `repo/name`.
    let names = match entries::all_names(&state.pool).await {
        Ok(names) => names,
        Err(err) => return failure(&nav, err),
    };
    let mut options = String::new();
    for name in names
        .iter()
        .filter(|name| hub_model::Format::of_suffix(name).is_some())
    {
        let _ = write!(options, "<option value=\"{0}\">{0}</option>", escape(name));
    }
    let body = format!(
        "<h1>Customize: merge flists</h1>{}{}<p>The first flist is the base: where several \
         flists hold the same path, the earliest one wins.</p>\
         <form method=\"post\" action=\"/merge\">\
         <p>Based on <select name=\"{MERGE_SOURCES}\">{options}</select></p>\
         <p class=\"merge-with\">Merge with <select name=\"{MERGE_SOURCES}\">\
         <option value=\"\"></option>{options}</select></p>\
         <p><button type=\"button\" class=\"btn\" data-add-row=\"merge-with\">Add one more \
         archive</button></p>\
         <p>Build name <input type=\"text\" name=\"name\" placeholder=\"my-custom-image\"></p>\
         <p><button class=\"btn btn-primary\">Merge</button></p></form>",
        acting_as(user),
        oops(error),
    );
    page(status_of(error), "Customize", &nav, &body)
}

/// `GET /merge` (protected): the merge form, with every flist of the hub to choose from.
#[utoipa::path(
    get,
    path = "/merge",
    tag = "web",
    summary = "Merge form",
    security(("session" = [])),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
pub async fn merge_form(State(state): State<AppState>, user: WebUser) -> Response {
    merge_page(&state, &user, None).await
}

/// `POST /merge` (protected): form fields `flists[]` (repeated, in order; empty rows skipped)
/// and `name`; the validation of hub-api §7.11, then the merge job, then the success page.
#[utoipa::path(
    post,
    path = "/merge",
    tag = "web",
    summary = "Merge form (`flists[]` in order, `name`): waits for the job; the success page, or the form with the error",
    security(("session" = [])),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The success page", body = String, content_type = "text/html"),
        (status = 400, response = crate::error::responses::pages::BadRequest),
        (status = 404, response = crate::error::responses::pages::NotFound),
        (status = 429, response = crate::error::responses::pages::TooManyRequests),
        (status = 500, response = crate::error::responses::pages::Failed),
        (status = 504, response = crate::error::responses::pages::StillRunning),
    ),
)]
pub async fn merge(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    // An unreadable body is an empty form: the validation then names what is missing.
    let fields = form.map(|Form(fields)| fields).unwrap_or_default();
    let sources: Vec<String> = fields
        .iter()
        .filter(|(key, value)| key == MERGE_SOURCES && !value.trim().is_empty())
        .map(|(_, value)| value.trim().to_owned())
        .collect();
    let target = fields
        .iter()
        .find(|(key, _)| key == "name")
        .map(|(_, value)| value.trim())
        .unwrap_or_default();
    let identity = web_identity(&state, &user);
    let submitted = match merge::validate(&state, sources, target, Ok(MergeMode::Union)).await {
        Ok(request) => merge::queue(&state, &identity, request, None, None).await,
        Err(error) => Err(error),
    };
    match finished(&state, submitted).await {
        Ok(job) => published(&state, &headers, &user, &job),
        Err(error) => merge_page(&state, &user, Some(&error)).await,
    }
}

fn docker_page(user: &WebUser, error: Option<&ApiError>) -> Response {
    let body = format!(
        "<h1>Convert a Docker image</h1>{}{}<form method=\"post\" action=\"/docker-convert\">\
         <p>Docker Image Name <input type=\"text\" name=\"{DOCKER_IMAGE}\" \
         placeholder=\"ubuntu:16.04\"></p>\
         <p><button class=\"btn btn-primary\">Convert</button></p></form>",
        acting_as(user),
        oops(error),
    );
    page(status_of(error), "Docker", &user.visitor.nav(), &body)
}

/// `GET /docker-convert` (protected): the Docker image form.
#[utoipa::path(
    get,
    path = "/docker-convert",
    tag = "web",
    summary = "Docker conversion form",
    security(("session" = [])),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
pub async fn docker_form(user: WebUser) -> Response {
    docker_page(&user, None)
}

/// `POST /docker-convert` (protected): queue the conversion of `docker-input` and render its
/// progress page; without an image name, the form with `missing docker image name`.
#[utoipa::path(
    post,
    path = "/docker-convert",
    tag = "web",
    summary = "Docker form (`docker-input`): the job's progress page, following `/listen/{jobid}`",
    security(("session" = [])),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The progress page", body = String, content_type = "text/html"),
        (status = 400, response = crate::error::responses::pages::BadRequest),
        (status = 429, response = crate::error::responses::pages::TooManyRequests),
    ),
)]
pub async fn docker_convert(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let mut fields = form.map(|Form(fields)| fields).unwrap_or_default();
    let image = fields.remove(DOCKER_IMAGE).unwrap_or_default();
    let request = DockerRequest::from_fields(HashMap::from([("image".to_owned(), image)]));
    let identity = web_identity(&state, &user);
    let submitted = match request {
        Ok(request) => docker::queue(&state, &identity, request, None).await,
        Err(error) => Err(error),
    };
    match submitted {
        Ok(submitted) => docker_progress(&user, submitted.job()),
        Err(error) => docker_page(&user, Some(&error)),
    }
}

/// The progress page of a docker conversion (hub-api §9's docker sequence, shown by the script).
fn docker_progress(user: &WebUser, job: &Job) -> Response {
    let id = job.id.to_string();
    let body = format!(
        "<h1>Converting a Docker image</h1>{}<div data-job=\"{}\" data-kind=\"docker\" \
         data-repo=\"{}\">{}</div><noscript><p>The progress is shown with JavaScript; the job \
         can also be followed at <code>/api/jobs/{}</code>.</p></noscript>",
        acting_as(user),
        escape(&id),
        escape(&job.repository),
        progress_block(Some(&id)),
        escape(&id),
    );
    page(StatusCode::OK, "Docker", &user.visitor.nav(), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn errors_are_escaped_in_the_oops_box() {
        let error = ApiError::new(ErrorKind::SourceMissing {
            repository: "<tf>".into(),
            name: "x.flist".into(),
        });
        let html = oops(Some(&error));
        assert_eq!(
            html,
            "<div class=\"alert alert-danger\" id=\"error\">Oops: &lt;tf&gt;/x.flist does not \
             exists</div>"
        );
        assert_eq!(oops(None), "");
        assert_eq!(status_of(Some(&error)), StatusCode::NOT_FOUND);
        assert_eq!(status_of(None), StatusCode::OK);
    }

    #[test]
    fn the_progress_block_names_the_job() {
        let html = progress_block(Some("1234"));
        assert!(html.contains("Job ID: <code id=\"jobid\">1234</code>"));
        assert!(html.contains("<progress id=\"progress\""));
        assert!(!progress_block(None).contains("jobid"));
    }
}
