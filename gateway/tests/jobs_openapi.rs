//! `/api/openapi.json` documents exactly what the real app serves: every path its router
//! registers, each with exactly the methods the router answers there, and nothing else; and
//! every documented operation reaches a handler (no `405`, no unknown-route `404`).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use hub_gateway::openapi::PATH;
use sqlx::PgPool;

/// `path` with every parameter written `{}`: the router names parameters by position (it
/// requires one name per position), the document by meaning.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A concrete path for a template: parameters get values no handler will find, so no handler
/// does any work (ids must be UUIDs to get past their parsing).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" | "{jobid}" | "{jti}" => "0b6f6c0e-2222-4000-8000-000000000000",
            segment if segment.starts_with('{') => "no-such-thing",
            segment => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The paths `router` registers. axum has no API that lists them, but its `Debug` output
/// does: `node: Node { paths: {RouteId(1): "/a/{x}", …} }` of the router's path router (the
/// first `Node` printed; the fallback router's comes after it). Routes whose paths a future
/// axum prints otherwise are not lost silently: the caller checks it found the document's.
fn registered_paths(router: &axum::Router) -> Vec<String> {
    let text = format!("{router:?}");
    let marker = "node: Node { paths: {";
    let Some(start) = text.find(marker) else {
        panic!("axum's Debug output changed: no `{marker}` in {text}");
    };
    let mut rest = &text[start + marker.len()..];
    let mut paths = Vec::new();
    // Entries `RouteId(n): "path"`, separated by `, `, up to the closing `}` of the map
    // (paths contain braces, so only those outside quotes count).
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if rest.starts_with('}') || rest.is_empty() {
            break;
        }
        let Some(open) = rest.find('"') else { break };
        let Some(close) = rest[open + 1..].find('"') else {
            break;
        };
        paths.push(rest[open + 1..open + 1 + close].to_owned());
        rest = &rest[open + 1 + close + 1..];
    }
    paths
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_document_holds_exactly_the_routes_of_the_app(pool: PgPool) {
    let hub = common::TestHub::start(pool).await;
    let served = hub.get(PATH).await;
    assert_eq!(served.status(), 200);
    let document: serde_json::Value = served.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");

    // Documented operations, by path shape: upper-case methods.
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(key, _)| key) {
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&&**method) {
                documented
                    .entry(shape(path))
                    .or_default()
                    .insert(method.to_ascii_uppercase());
                operations.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    assert!(operations.len() > 60, "{operations:?}");

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Every path the router registers: the `Allow` of a method none of them serves is what the
    // router answers there, and must be what the document says.
    let registered = registered_paths(&hub_gateway::router(hub.state.clone()));
    let mut routed = BTreeSet::new();
    for path in &registered {
        let response = no_redirects
            .patch(hub.url(&concrete(path)))
            .send()
            .await
            .expect("probe");
        let status = response.status();
        let allow = response
            .headers()
            .get("allow")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let Some(allow) = allow.filter(|_| status == 405) else {
            // A catch-all (`any`) that answers the unknown-route 404 for every method is no
            // operation: `/api` and `/api/tags/{tag}` keep these paths off the website.
            assert_eq!(status, 404, "PATCH {path}: {status} {body}");
            assert!(
                body.contains("\"message\": \"not found\""),
                "{path}: {body}"
            );
            continue;
        };
        let mut methods: BTreeSet<String> = allow
            .split(',')
            .map(|method| method.trim().to_owned())
            .filter(|method| !method.is_empty())
            .collect();
        // axum answers HEAD wherever it answers GET; the document lists the GET.
        if methods.contains("GET") {
            methods.remove("HEAD");
        }
        let shape = shape(path);
        assert_eq!(
            documented.get(&shape),
            Some(&methods),
            "{path}: the router serves {methods:?}"
        );
        routed.insert(shape);
    }
    let undocumented: BTreeSet<&String> = documented
        .keys()
        .filter(|shape| !routed.contains(*shape))
        .collect();
    assert!(
        undocumented.is_empty(),
        "documented paths the router lacks: {undocumented:?} (registered: {registered:?})"
    );

    // Every documented operation reaches a handler.
    for (method, path) in &operations {
        let path = concrete(path);
        let response = no_redirects
            .request(method.parse().expect("method"), hub.url(&path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let what = format!("{method} {path}: {status} {body}");
        assert_ne!(status, 405, "{what}");
        if path.starts_with("/api/") && status == 404 {
            assert!(
                !body.contains("\"message\": \"not found\""),
                "unrouted: {what}"
            );
        }
    }
    hub.stop().await;
}
