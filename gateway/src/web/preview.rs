//! The preview page of a flist, `/{repo}/{name}.md` (hub-api §10): where to download it,
//! its MD5, its metadata (readme, backend, user values) and its contents, every value escaped.

use std::fmt::Write as _;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hub_db::DbError;
use hub_db::entries;
use serde::Deserialize;
use serde_json::Value;

use super::Visitor;
use super::html::{escape, href, page};
use super::pages::{failure, is_reserved_page, missing};
use crate::compat::dump::contents_dump;
use crate::compat::names::flist_name;
use crate::compat::urls::public_base;
use crate::service::flists::{MetadataJson, MetadataValue, public_metadata};
use crate::state::AppState;

/// Most paths listed by a preview page; a larger flist's list is cut with a note.
const MAX_PREVIEW_PATHS: usize = 20_000;

/// `zdb://host:port[/namespace]` of a backend object.
fn backend_text(backend: &Value) -> String {
    let host = backend
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Homemade flists may store the port as a number or as a string.
    let port = match backend.get("port") {
        Some(Value::String(port)) => port.clone(),
        Some(Value::Number(port)) => port.to_string(),
        _ => String::new(),
    };
    match backend
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|namespace| !namespace.is_empty())
    {
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
    if is_reserved_page(repo) {
        return missing(&nav, "No such flist.");
    }
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
        Ok(dump) => contents_html(dump.json()),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn backend_ports_may_be_strings_and_namespaces_optional() {
        let backend = serde_json::json!({"host": "h", "port": "9900", "namespace": ""});
        assert_eq!(backend_text(&backend), "zdb://h:9900");
    }
}
