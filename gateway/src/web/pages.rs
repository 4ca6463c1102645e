//! The website's pages (hub-api section 10), rendered on the server from the same queries as
//! the API. Every name, target, metadata value and path is escaped.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use hub_db::entries::{self, ListedEntry, ListedKind};
use hub_db::{DbError, repositories, tags};
use serde::Deserialize;
use serde_json::Value;

use super::html::{Nav, date, escape, href, page};
use super::{Visitor, WebUser, found};
use crate::compat::dump::contents_dump;
use crate::compat::names::flist_name;
use crate::compat::shapes::{size_string, unix};
use crate::compat::urls::public_base;
use crate::routes::public::{MetadataJson, MetadataValue, is_official, public_metadata};
use crate::state::AppState;

/// Most paths listed by a preview page; a larger flist's list is cut with a note.
const MAX_PREVIEW_PATHS: usize = 20_000;
/// Shortest search text (as the original page).
const MIN_SEARCH_LEN: usize = 3;
/// Most search results shown.
const MAX_SEARCH_RESULTS: usize = 1_000;

/// A page for a failure that is not the visitor's: logged, with a generic message.
fn failure(nav: &Nav<'_>, err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "web page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        nav,
        "<h1>Something went wrong</h1><p>Please try again later.</p>",
    )
}

fn missing(nav: &Nav<'_>, what: &str) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        nav,
        &format!("<h1>Not found</h1><p>{}</p>", escape(what)),
    )
}

/// `GET /`: official repositories, then contributors.
pub async fn home(State(state): State<AppState>, visitor: Visitor) -> Response {
    render_home(&state, &visitor.nav()).await
}

/// The home page (also what `/logout` renders).
pub async fn render_home(state: &AppState, nav: &Nav<'_>) -> Response {
    let repositories = match repositories::list(&state.pool).await {
        Ok(list) => list,
        Err(err) => return failure(nav, err),
    };
    let (official, contributors): (Vec<_>, Vec<_>) = repositories
        .iter()
        .partition(|repository| is_official(state, &repository.name));
    let table = |title: &str, rows: &[&repositories::Repository]| {
        let mut html = format!(
            "<h2>{title}</h2><table><thead><tr><th>Repository</th><th>Updated</th></tr>\
             </thead><tbody>"
        );
        for repository in rows {
            let _ = write!(
                html,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td></tr>",
                href(&[&repository.name]),
                escape(&repository.name),
                date(unix(repository.updated_at))
            );
        }
        html.push_str("</tbody></table>");
        html
    };
    let body = format!(
        "<h1>Zero-OS Hub</h1>{}{}",
        table("Official Repositories", &official),
        table("Contributors", &contributors)
    );
    page(StatusCode::OK, "Repositories", nav, &body)
}

/// Where a listed pointer's `➔ target` links: the target's preview, or a taglink's tag page.
fn target_link(repo: &str, entry: &ListedEntry) -> Option<String> {
    let target = entry.target.as_deref()?;
    Some(match entry.kind {
        ListedKind::Taglink => {
            let mut parts = target.splitn(3, '/');
            let (owner, _, tag) = (parts.next()?, parts.next()?, parts.next()?);
            href(&[owner, "tags", tag])
        }
        _ => match target.split_once('/') {
            Some((owner, name)) => href(&[owner, &format!("{name}.md")]),
            None => href(&[repo, &format!("{target}.md")]),
        },
    })
}

/// `GET /{repo}`: tags and files of a repository.
pub async fn repository(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(repo): Path<String>,
) -> Response {
    let nav = visitor.nav();
    if repo.contains('\0') {
        return missing(&nav, "No such repository.");
    }
    let listed = match entries::listing(&state.pool, &repo).await {
        Ok(listed) => listed,
        Err(DbError::NotFound(_)) => return missing(&nav, "No such repository."),
        Err(err) => return failure(&nav, err),
    };
    let mut tags_html = String::from(
        "<h2>Tags</h2><table><thead><tr><th>Name</th><th>Updated</th></tr></thead><tbody>",
    );
    let mut files_html = String::from(
        "<h2>Files</h2><table><thead><tr><th>Name</th><th>Size</th><th>Updated</th></tr>\
         </thead><tbody>",
    );
    for entry in &listed {
        let updated = date(unix(entry.updated));
        let size = entry.size.map(size_string).unwrap_or_default();
        match entry.kind {
            ListedKind::Tag => {
                let _ = write!(
                    tags_html,
                    "<tr><td><a href=\"{}\">{}</a></td><td>{updated}</td></tr>",
                    href(&[&repo, "tags", &entry.name]),
                    escape(&entry.name)
                );
            }
            ListedKind::Taglink => {
                let link = target_link(&repo, entry).unwrap_or_default();
                let _ = write!(
                    files_html,
                    "<tr><td>{} &#10132; <a href=\"{link}\">{}</a></td><td></td><td>{updated}</td></tr>",
                    escape(&entry.name),
                    escape(entry.target.as_deref().unwrap_or_default())
                );
            }
            ListedKind::Regular | ListedKind::Symlink => {
                let pointer = target_link(&repo, entry)
                    .map(|link| {
                        format!(
                            " &#10132; <a href=\"{link}\">{}</a>",
                            escape(entry.target.as_deref().unwrap_or_default())
                        )
                    })
                    .unwrap_or_default();
                let _ = write!(
                    files_html,
                    "<tr><td><a href=\"{}\">{}</a> <a href=\"{}\" title=\"preview\">&#128065;</a>{pointer}</td>\
                     <td>{size}</td><td>{updated}</td></tr>",
                    href(&[&repo, &entry.name]),
                    escape(&entry.name),
                    href(&[&repo, &format!("{}.md", entry.name)]),
                );
            }
        }
    }
    tags_html.push_str("</tbody></table>");
    files_html.push_str("</tbody></table>");
    let body = format!("<h1>{}</h1>{tags_html}{files_html}", escape(&repo));
    page(StatusCode::OK, &repo, &nav, &body)
}

/// `GET /{repo}/tags/{tag}`: the entries of a tag.
pub async fn tag(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((repo, tag)): Path<(String, String)>,
) -> Response {
    let nav = visitor.nav();
    if repo.contains('\0') || tag.contains('\0') {
        return missing(&nav, "No such tag.");
    }
    let listed = match tags::listing(&state.pool, &repo, &tag).await {
        Ok(listed) => listed,
        Err(DbError::NotFound(_)) => return missing(&nav, "No such tag."),
        Err(err) => return failure(&nav, err),
    };
    let mut body = format!(
        "<h1>{} <small class=\"muted\">tag {}</small></h1><table><thead><tr><th>Name</th>\
         <th>Target</th><th>Size</th><th>Updated</th></tr></thead><tbody>",
        escape(&repo),
        escape(&tag)
    );
    for entry in &listed {
        let target = entry.target.as_deref().unwrap_or_default();
        let preview = target
            .split_once('/')
            .map(|(owner, name)| href(&[owner, &format!("{name}.md")]))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td><a href=\"{preview}\">{}</a></td>\
             <td>{}</td><td>{}</td></tr>",
            href(&[&repo, "tags", &tag, &entry.name]),
            escape(&entry.name),
            escape(target),
            entry.size.map(size_string).unwrap_or_default(),
            date(unix(entry.updated))
        );
    }
    body.push_str("</tbody></table>");
    page(StatusCode::OK, &tag, &nav, &body)
}

/// `zdb://host:port[/namespace]` of a backend object.
fn backend_text(backend: &Value) -> String {
    let host = backend
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let port = backend
        .get("port")
        .map(Value::to_string)
        .unwrap_or_default();
    match backend.get("namespace").and_then(Value::as_str) {
        Some(namespace) => format!("zdb://{host}:{port}/{namespace}"),
        None => format!("zdb://{host}:{port}"),
    }
}

fn metadata_html(metadata: &MetadataJson<'_>) -> String {
    let mut html = String::from("<h2>Metadata</h2><table><tbody>");
    for (key, value) in &metadata.0 {
        let (label, text) = match value {
            MetadataValue::Forced(forced) => (
                "Backend (default)".to_owned(),
                serde_json::to_value(forced)
                    .map(|backend| escape(&backend_text(&backend)))
                    .unwrap_or_default(),
            ),
            MetadataValue::Stored(value) if key == "backend" => {
                ("Backend".to_owned(), escape(&backend_text(value)))
            }
            MetadataValue::Stored(value) if key == "readme" => {
                let readme = value
                    .get("readme")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| value.to_string());
                (
                    "Readme".to_owned(),
                    format!("<pre>{}</pre>", escape(&readme)),
                )
            }
            MetadataValue::Stored(Value::String(text)) => (escape(key), escape(text)),
            MetadataValue::Stored(value) => (
                escape(key),
                format!("<pre>{}</pre>", escape(&value.to_string())),
            ),
        };
        let _ = write!(html, "<tr><th>{label}</th><td>{text}</td></tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// The dump's counts and paths as HTML.
fn contents_html(dump: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Item {
        path: String,
    }
    #[derive(Deserialize)]
    struct Dump {
        content: Vec<Item>,
        regular: u64,
        symlink: u64,
        directory: u64,
        special: u64,
    }
    let Ok(dump) = serde_json::from_slice::<Dump>(dump) else {
        return "<p class=\"muted\">The contents could not be read.</p>".to_owned();
    };
    let mut html = format!(
        "<details><summary>Show the contents</summary><p>{} directories, {} regular files, \
         {} symlinks and {} special files.</p><pre>",
        dump.directory, dump.regular, dump.symlink, dump.special
    );
    for item in dump.content.iter().take(MAX_PREVIEW_PATHS) {
        html.push_str(&escape(&item.path));
        html.push('\n');
    }
    if dump.content.len() > MAX_PREVIEW_PATHS {
        let _ = write!(
            html,
            "… and {} more",
            dump.content.len() - MAX_PREVIEW_PATHS
        );
    }
    html.push_str("</pre></details>");
    html
}

/// `GET /{repo}/{name}.md`: the preview page of a flist.
pub async fn preview(state: &AppState, headers: &HeaderMap, repo: &str, name: &str) -> Response {
    let visitor = Visitor::of(state, headers);
    let nav = visitor.nav();
    let name = flist_name(name).into_owned();
    let target = match entries::lookup(&state.pool, repo, &name).await {
        Ok(found) => found.target,
        Err(DbError::NotFound(_)) => None,
        Err(err) => return failure(&nav, err),
    };
    let Some(target) = target else {
        return missing(&nav, "No such flist.");
    };
    let publish = &state.config.publish;
    let metadata = public_metadata(
        &target.flist.metadata,
        &publish.backend_host,
        publish.backend_port,
        &publish.backend_namespace,
    );
    let contents = match contents_dump(state, &target).await {
        Ok(dump) => contents_html(&dump),
        Err(err) => {
            tracing::warn!(error = %err, "preview without contents");
            "<p class=\"muted\">The contents are not available.</p>".to_owned()
        }
    };
    let source = format!(
        "{}{}",
        public_base(&state.config, headers),
        href(&[repo, &name])
    );
    let body = format!(
        "<h1>{}</h1><p class=\"muted\">uploaded by <a href=\"{}\">{}</a></p>\
         <h2>Source</h2><p><code id=\"source\">{source}</code> \
         <button class=\"btn\" data-copy=\"source\">Copy</button></p>\
         <h2>MD5</h2><p><code id=\"md5\">{}</code> \
         <button class=\"btn\" data-copy=\"md5\">Copy</button></p>{}{contents}",
        escape(&name),
        href(&[repo]),
        escape(repo),
        escape(&target.flist.md5),
        metadata_html(&metadata),
    );
    page(StatusCode::OK, &name, &nav, &body)
}

/// `?q=` of the search page.
#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /search`: case-insensitive substring search over repository, name and size (at least
/// three characters), rendered on the server.
pub async fn search(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<SearchQuery>,
) -> Response {
    let nav = visitor.nav();
    let text = query.q.unwrap_or_default();
    let mut body = format!(
        "<h1>Search</h1><form method=\"get\" action=\"/search\"><p>\
         <input type=\"text\" name=\"q\" value=\"{}\" placeholder=\"at least {MIN_SEARCH_LEN} characters\" autofocus> \
         <button class=\"btn btn-primary\">Search</button></p></form>",
        escape(&text)
    );
    let needle = text.trim().to_lowercase();
    if needle.chars().count() >= MIN_SEARCH_LEN {
        let listed = match entries::listing_all(&state.pool).await {
            Ok(listed) => listed,
            Err(err) => return failure(&nav, err),
        };
        body.push_str(
            "<table><thead><tr><th>Repository</th><th>Name</th><th>Size</th><th>Updated</th></tr>\
             </thead><tbody>",
        );
        let matches = listed.iter().filter(|(repo, entry)| {
            entry.kind != ListedKind::Tag && {
                let size = entry.size.map(size_string).unwrap_or_default();
                [repo.as_str(), entry.name.as_str(), size.as_str()]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&needle))
            }
        });
        for (repo, entry) in matches.take(MAX_SEARCH_RESULTS) {
            let _ = write!(
                body,
                "<tr><td><a href=\"{}\">{}</a></td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                href(&[repo]),
                escape(repo),
                href(&[repo, &format!("{}.md", entry.name)]),
                escape(&entry.name),
                entry.size.map(size_string).unwrap_or_default(),
                date(unix(entry.updated))
            );
        }
        body.push_str("</tbody></table>");
    }
    page(StatusCode::OK, "Search", &nav, &body)
}

fn acting_as(user: &WebUser) -> String {
    format!(
        "<p class=\"muted\">Publishing to <a href=\"{}\">{}</a>.</p>",
        href(&[&user.user]),
        escape(&user.user)
    )
}

/// `GET /upload` (protected): the archive upload form.
pub async fn upload_form(user: WebUser) -> Response {
    let body = format!(
        "<h1>Upload a .tar.gz</h1>{}<form method=\"post\" action=\"/upload\" \
         enctype=\"multipart/form-data\" data-upload><p><input type=\"file\" name=\"file\" \
         accept=\".tar.gz,.tgz\"></p><p><button class=\"btn btn-primary\">Upload</button></p></form>\
         <p><progress id=\"progress\" max=\"100\" value=\"0\"></progress> <span id=\"status\"></span></p>\
         <div id=\"result\"></div>",
        acting_as(&user)
    );
    page(StatusCode::OK, "Upload", &user.visitor.nav(), &body)
}

/// `GET /upload-flist` (protected): the homemade flist form.
pub async fn upload_flist_form(user: WebUser) -> Response {
    let body = format!(
        "<h1>Upload a homemade flist</h1>{}<p>Every chunk the flist references must already be \
         in the hub's backend.</p><form method=\"post\" action=\"/upload-flist\" \
         enctype=\"multipart/form-data\"><p><input type=\"file\" name=\"file\" accept=\".flist\"></p>\
         <p><button class=\"btn btn-primary\">Upload</button></p></form>",
        acting_as(&user)
    );
    page(StatusCode::OK, "Homemade", &user.visitor.nav(), &body)
}

/// `GET /merge` (protected): the merge form, with every flist of the hub to choose from.
pub async fn merge_form(State(state): State<AppState>, user: WebUser) -> Response {
    let nav = user.visitor.nav();
    let names = match entries::all_names(&state.pool).await {
        Ok(names) => names,
        Err(err) => return failure(&nav, err),
    };
    let mut options = String::new();
    for name in names
        .iter()
        .filter(|name| name.ends_with(".flist") || name.ends_with(".fl"))
    {
        let _ = write!(options, "<option value=\"{0}\">{0}</option>", escape(name));
    }
    let body = format!(
        "<h1>Customize: merge flists</h1>{}<form method=\"post\" action=\"/merge\">\
         <p>Based on <select name=\"flists[]\">{options}</select></p>\
         <p>Merge with <select name=\"flists[]\">{options}</select></p>\
         <p>Build name <input type=\"text\" name=\"name\" placeholder=\"my-custom-image\"></p>\
         <p><button class=\"btn btn-primary\">Merge</button></p></form>",
        acting_as(&user)
    );
    page(StatusCode::OK, "Customize", &nav, &body)
}

/// `GET /docker-convert` (protected): the Docker image form.
pub async fn docker_form(user: WebUser) -> Response {
    let body = format!(
        "<h1>Convert a Docker image</h1>{}<form method=\"post\" action=\"/docker-convert\">\
         <p>Docker Image Name <input type=\"text\" name=\"docker-input\" placeholder=\"ubuntu:16.04\"></p>\
         <p><button class=\"btn btn-primary\">Convert</button></p></form>",
        acting_as(&user)
    );
    page(StatusCode::OK, "Docker", &user.visitor.nav(), &body)
}

/// `GET /readonly`: the notice in read-only mode, the home page otherwise (4.8).
pub async fn readonly(State(state): State<AppState>, visitor: Visitor) -> Response {
    if !state.auth.is_readonly() {
        return found("/");
    }
    page(
        StatusCode::OK,
        "Read-only",
        &visitor.nav(),
        "<h1>Instance modification disabled</h1><div class=\"alert alert-info\">This hub is \
         read-only: it is probably a mirror. Uploads and changes are made on the main hub; \
         everything here can be listed and downloaded.</div>",
    )
}

/// `GET /token/{token}`: the token and how to use it (4.10). Never cached, never logged (D8),
/// and no `Referer` carrying it to another site.
pub async fn token_page(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let base = public_base(&state.config, &headers);
    let body = format!(
        "<h1>Your API token</h1><p>Keep it secret: it acts as you.</p>\
         <pre id=\"token\">{0}</pre><p><button class=\"btn\" data-copy=\"token\">Copy</button></p>\
         <p>Example:</p><pre>curl -H \"Authorization: bearer {0}\" {1}/api/flist/me</pre>",
        escape(&token),
        escape(&base)
    );
    let mut response = page(StatusCode::OK, "API token", &visitor.nav(), &body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn pointer(kind: ListedKind, target: &str) -> ListedEntry {
        ListedEntry {
            name: "n".into(),
            kind,
            size: None,
            updated: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            linktime: None,
            target: Some(target.into()),
        }
    }

    #[test]
    fn pointer_links() {
        assert_eq!(
            target_link("me", &pointer(ListedKind::Symlink, "x.flist")).as_deref(),
            Some("/me/x.flist.md")
        );
        assert_eq!(
            target_link("me", &pointer(ListedKind::Symlink, "o/x.flist")).as_deref(),
            Some("/o/x.flist.md")
        );
        assert_eq!(
            target_link("me", &pointer(ListedKind::Taglink, "z/tags/v3")).as_deref(),
            Some("/z/tags/v3")
        );
    }

    #[test]
    fn contents_are_counted_and_escaped() {
        let dump = br#"{"content": [{"size": 1, "path": "/<b>"}], "regular": 1, "symlink": 0, "directory": 0, "special": 0, "failure": 0, "fullsize": 1}"#;
        let html = contents_html(dump);
        assert!(html.contains("0 directories, 1 regular files, 0 symlinks and 0 special files."));
        assert!(html.contains("/&lt;b&gt;"));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn backends_render_as_zdb_urls() {
        let backend = serde_json::json!({"host": "h", "port": 9900, "namespace": "ns"});
        assert_eq!(backend_text(&backend), "zdb://h:9900/ns");
    }
}
