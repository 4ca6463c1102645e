//! The website's pages (hub-api §10), rendered on the server from the same queries as
//! the API. Every name, target, metadata value and path is escaped.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use hub_db::entries::{self, ListedEntry, ListedKind};
use hub_db::{DbError, repositories, tags};
use hub_model::names::RESERVED_REPOSITORY_NAMES;
use serde::Deserialize;

use super::html::{Nav, date, escape, href, page};
use super::{Visitor, found};
use crate::compat::shapes::{size_string, unix};
use crate::compat::urls::public_base;
use crate::service::flists::is_official;
use crate::state::AppState;

pub use super::preview::preview;

/// Shortest search text (as the original page).
const MIN_SEARCH_LEN: usize = 3;
/// Most search results shown.
const MAX_SEARCH_RESULTS: usize = 1_000;

/// A page for a failure that is not the visitor's: logged, with a generic message.
pub(super) fn failure(nav: &Nav<'_>, err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "web page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        nav,
        "<h1>Something went wrong</h1><p>Please try again later.</p>",
    )
}

/// The 404 page for `what` (an unknown repository, tag or flist).
pub(super) fn missing(nav: &Nav<'_>, what: &str) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        nav,
        &format!("<h1>Not found</h1><p>{}</p>", escape(what)),
    )
}

/// Names that cannot be repository pages (hub-api §3.4): the site's own routes take them. `me` is
/// only reserved in the API, so an old repository of that name keeps its page.
pub(super) fn is_reserved_page(repo: &str) -> bool {
    repo != "me" && RESERVED_REPOSITORY_NAMES.contains(&repo)
}

/// `GET /`: official repositories, then contributors.
#[utoipa::path(
    get,
    path = "/",
    tag = "web",
    summary = "Home page",
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
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
    let table = |title: &str, id: &str, rows: &[&repositories::Repository]| {
        let mut html = format!(
            "<h2>{title}</h2><table id=\"{id}\"><thead><tr><th>Repository</th><th>Updated</th></tr>\
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
        table("Official Repositories", "official", &official),
        table("Contributors", "contributors", &contributors)
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
#[utoipa::path(
    get,
    path = "/{repo}",
    tag = "web",
    summary = "Repository page",
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 404, description = "The website's not-found page", body = String, content_type = "text/html"),
    ),
)]
pub async fn repository(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(repo): Path<String>,
) -> Response {
    let nav = visitor.nav();
    if repo.contains('\0') || is_reserved_page(&repo) {
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
#[utoipa::path(
    get,
    path = "/{repo}/tags/{tag}",
    tag = "web",
    summary = "Tag page",
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 404, description = "The website's not-found page", body = String, content_type = "text/html"),
    ),
)]
pub async fn tag(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((repo, tag)): Path<(String, String)>,
) -> Response {
    let nav = visitor.nav();
    if repo.contains('\0') || tag.contains('\0') || is_reserved_page(&repo) {
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

/// `?q=` of the search page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text to search for (the page filters `/api/fileslist` in the browser).
    q: Option<String>,
}

/// `GET /search`: the search box. The page's script loads `/api/fileslist` once and filters it
/// in the browser (case-insensitive substring of repository, name or size, at least three
/// characters), as the original page did: typing costs the hub nothing.
#[utoipa::path(
    get,
    path = "/search",
    tag = "web",
    summary = "Search page",
    params(SearchQuery),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
pub async fn search(visitor: Visitor, Query(query): Query<SearchQuery>) -> Response {
    let text = query.q.unwrap_or_default();
    let body = format!(
        "<h1>Search</h1><p><input type=\"search\" id=\"search\" value=\"{}\" \
         data-min=\"{MIN_SEARCH_LEN}\" data-max=\"{MAX_SEARCH_RESULTS}\" \
         placeholder=\"at least {MIN_SEARCH_LEN} characters\" autocomplete=\"off\" autofocus></p>\
         <p id=\"search-status\" class=\"muted\"></p>\
         <table id=\"search-results\" hidden><thead><tr><th>Repository</th><th>Name</th>\
         <th>Size</th><th>Updated</th></tr></thead><tbody></tbody></table>\
         <noscript><p>The search runs in the browser: enable JavaScript, or browse the \
         repositories from the <a href=\"/\">home page</a>.</p></noscript>",
        escape(&text)
    );
    page(StatusCode::OK, "Search", &visitor.nav(), &body)
}

/// `GET /readonly`: the notice in read-only mode, the home page otherwise (hub-api §4.8).
#[utoipa::path(
    get,
    path = "/readonly",
    tag = "web",
    summary = "Read-only notice",
    responses(
        (status = 200, description = "The notice in read-only mode, the home page otherwise", body = String, content_type = "text/html"),
    ),
)]
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

/// `GET /token/{token}`: the token and how to use it (hub-api §4.10). Never cached, never logged
/// (hub-api D8), and no `Referer` carrying it to another site.
#[utoipa::path(
    get,
    path = "/token/{token}",
    tag = "web",
    summary = "The minted token and a curl example",
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
    ),
)]
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
    fn reserved_names_are_not_repository_pages() {
        for name in [
            "static",
            "listen",
            "api",
            "login-iyo",
            "_iyo_callback",
            "search",
        ] {
            assert!(is_reserved_page(name), "{name}");
        }
        // `me` is only reserved in the API.
        assert!(!is_reserved_page("me"));
        assert!(!is_reserved_page("tf-official"));
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
}
