//! The website in a REAL browser: headless Chromium driven through chromedriver (WebDriver),
//! against the real gateway (and, for the upload, the real convert worker in-process).
//!
//! * the home page lists repositories, and the search page filters `/api/fileslist` in the
//!   browser;
//! * the upload page: a `.tar.gz` chosen in the file input is sent, and the progress reaches
//!   the summary through `/listen/<jobid>`;
//! * the preview page shows a flist's metadata and contents;
//! * the docker form leads to the job's progress page, which reaches its summary (a scripted
//!   docker worker: the real one needs a registry, covered by `e2e_docker.rs`);
//! * an XSS probe: names and metadata holding markup are shown as text, never run.
//!
//! `./hub test` starts chromedriver and exports `WEBDRIVER_URL`. Without it the tests are
//! skipped (local runs without a browser); with it, an unreachable driver fails them.

mod common;
mod e2e_support;
mod jobs_support;
mod legacy_support;

use std::future::Future;
use std::time::{Duration, Instant};

use common::TestHub;
use e2e_support::{RealWorkers, write_tree};
use fantoccini::{Client, ClientBuilder, Locator};
use hub_flist::Format;
use hub_testkit::tar_gz;
use legacy_support::{sample_tree, seed_flist, seed_sample};
use serde_json::{Value, json};
use sqlx::PgPool;

/// How long a page may take to show what a test waits for.
const PAGE_WAIT: Duration = Duration::from_secs(20);
/// How long an upload may take to be converted (two cores shared by the whole test suite).
const JOB_WAIT: Duration = Duration::from_secs(120);

/// Run `test` in a fresh Chromium session (its own profile directory) against `base`. The
/// session is closed whatever happens, then a failure of `test` is re-raised. `None` when
/// `WEBDRIVER_URL` is unset.
async fn in_browser<T, F, Fut>(base: &str, test: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let Ok(webdriver) = std::env::var("WEBDRIVER_URL") else {
        eprintln!("WEBDRIVER_URL is not set: browser test skipped");
        return None;
    };
    let profile = tempfile::Builder::new()
        .prefix("hub-chrome-")
        .tempdir()
        .expect("profile directory");
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": std::env::var("CHROMIUM_BINARY").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let capabilities = capabilities.as_object().cloned().expect("an object");
    // Several TLS back-ends are linked into the tests (ring and aws-lc, through different
    // crates), so rustls cannot pick one by itself; the WebDriver connection is plain HTTP
    // anyway. Another test may have installed it already: that is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .expect("TLS roots for the WebDriver client")
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .unwrap_or_else(|error| {
            panic!("WEBDRIVER_URL={webdriver} is set but no browser session opened: {error}")
        });
    // On its own task, so that a failed assertion still lets the session be closed.
    let outcome = tokio::spawn(test(client.clone(), base.to_owned())).await;
    if let Err(error) = client.close().await {
        eprintln!("closing the WebDriver session: {error}");
    }
    drop(profile);
    match outcome {
        Ok(value) => Some(value),
        Err(failure) => std::panic::resume_unwind(failure.into_panic()),
    }
}

/// Wait until `script` (the body of a function) returns `true` in the page.
async fn until(client: &Client, within: Duration, what: &str, script: &str) {
    let deadline = Instant::now() + within;
    loop {
        let value = client.execute(script, Vec::new()).await.expect("script");
        if value == Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let text = page_text(client).await;
            panic!("timed out waiting for {what}; the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn page_text(client: &Client) -> String {
    client
        .execute(
            "return document.body ? document.body.innerText : '';",
            Vec::new(),
        )
        .await
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The text of every cell of `selector`'s rows, row by row.
async fn rows(client: &Client, selector: &str) -> Vec<Vec<String>> {
    let script = format!(
        "return Array.from(document.querySelectorAll({})).map(function (row) {{ \
           return Array.from(row.cells).map(function (cell) {{ return cell.textContent; }}); }});",
        json!(selector)
    );
    let value = client.execute(&script, Vec::new()).await.expect("rows");
    serde_json::from_value(value).expect("rows of text")
}

/// Navigate to `base + path` and wait for the page's script to have run.
async fn open(client: &Client, base: &str, path: &str) {
    client.goto(&format!("{base}{path}")).await.expect("goto");
    until(
        client,
        PAGE_WAIT,
        "the page to load",
        "return document.readyState === 'complete';",
    )
    .await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn home_lists_repositories_and_search_filters_in_the_browser(pool: PgPool) {
    // Authentication disabled: the pinned official repository is `Administrator` (hub-api §4.7).
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "Administrator", "zos.flist").await;
    seed_sample(&hub, "alice", "app.flist").await;
    seed_sample(&hub, "bob", "Toolbox.flist").await;
    in_browser(&hub.base, |client, base| async move {
        open(&client, &base, "/").await;
        let official = rows(&client, "#official tbody tr").await;
        let contributors = rows(&client, "#contributors tbody tr").await;
        let names = |rows: &[Vec<String>]| -> Vec<String> {
            rows.iter().filter_map(|row| row.first().cloned()).collect()
        };
        assert_eq!(names(&official), ["Administrator"]);
        assert_eq!(names(&contributors), ["alice", "bob"]);
        // A repository's page lists its flists.
        client
            .find(Locator::LinkText("bob"))
            .await
            .expect("link to bob")
            .click()
            .await
            .expect("click");
        client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::XPath("//h1[text()='bob']"))
            .await
            .expect("bob's page");
        let files = page_text(&client).await;
        assert!(files.contains("Toolbox.flist"), "{files}");

        // The search filters in the browser: nothing below three characters, then a
        // case-insensitive substring of the name.
        open(&client, &base, "/search").await;
        let input = client.find(Locator::Id("search")).await.expect("search box");
        input.send_keys("to").await.expect("type");
        until(
            &client,
            PAGE_WAIT,
            "the minimum-length hint",
            "return document.getElementById('search-status').textContent.indexOf('at least 3') >= 0 \
             && document.getElementById('search-results').hidden;",
        )
        .await;
        input.send_keys("O").await.expect("type");
        until(
            &client,
            PAGE_WAIT,
            "one match",
            "return document.querySelectorAll('#search-results tbody tr').length === 1;",
        )
        .await;
        let found = rows(&client, "#search-results tbody tr").await;
        assert_eq!(found[0][0..2], ["bob", "Toolbox.flist"]);
        let href: Value = client
            .execute(
                "return document.querySelector('#search-results tbody tr td:nth-child(2) a').getAttribute('href');",
                Vec::new(),
            )
            .await
            .expect("href");
        assert_eq!(href, "/bob/Toolbox.flist.md");
        // A repository name matches too.
        input.clear().await.expect("clear");
        input.send_keys("ali").await.expect("type");
        until(
            &client,
            PAGE_WAIT,
            "alice's flist",
            "var rows = document.querySelectorAll('#search-results tbody tr'); \
             return rows.length === 1 && rows[0].cells[1].textContent === 'app.flist';",
        )
        .await;
    })
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn upload_page_sends_the_archive_and_follows_the_job_to_its_summary(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = RealWorkers::start(&hub).await;
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 3);
    let folder = tempfile::tempdir().expect("tempdir");
    let archive = folder.path().join("web-site.tar.gz");
    std::fs::write(&archive, tar_gz(source.path()).expect("archive")).expect("archive file");

    let ran = in_browser(&hub.base, move |client, base| async move {
        open(&client, &base, "/upload").await;
        let input = client
            .find(Locator::Css("form[data-upload] input[type=file]"))
            .await
            .expect("file input");
        input
            .send_keys(&archive.display().to_string())
            .await
            .expect("choose the file");
        client
            .find(Locator::Css("form[data-upload] button"))
            .await
            .expect("upload button")
            .click()
            .await
            .expect("submit");
        until(
            &client,
            JOB_WAIT,
            "the upload summary",
            "return document.querySelector('#result #summary') !== null \
             || document.querySelector('#result.alert-danger') !== null;",
        )
        .await;
        let summary = rows(&client, "#summary tr").await;
        let bar: Value = client
            .execute(
                "return document.getElementById('progress').value;",
                Vec::new(),
            )
            .await
            .expect("progress");
        assert_eq!(bar, json!(100), "{summary:?}");
        summary
    })
    .await;
    if let Some(summary) = ran {
        // The page shows what the hub recorded for the published flist.
        let dump: Value = hub
            .get("/api/flist/Administrator/web-site.flist")
            .await
            .json()
            .await
            .expect("json");
        let size = format!(
            "{:.2} MB (apparent)",
            dump["fullsize"].as_u64().expect("fullsize") as f64 / 1_048_576.0
        );
        let expected = [
            ["Filename", "web-site.flist"].map(str::to_owned),
            ["Files".into(), dump["regular"].to_string()],
            ["Directories".into(), dump["directory"].to_string()],
            ["Symlinks".into(), dump["symlink"].to_string()],
            ["Specials".into(), dump["special"].to_string()],
            ["Size".into(), size],
        ]
        .map(Vec::from);
        assert_eq!(summary, expected);
        assert_eq!(dump["regular"], 4);
    }
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn preview_page_shows_metadata_and_contents(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed_flist(
        &hub,
        "alice",
        "app.flist",
        sample_tree(Format::Flist, 7),
        &[("description", "A small test image")],
    )
    .await;
    let md5 = seeded.row.md5.clone();
    let backend = format!(
        "zdb://{}:{}",
        hub.config.publish.backend_host, hub.config.publish.backend_port
    );
    in_browser(&hub.base, move |client, base| async move {
        open(&client, &base, "/alice").await;
        // The eye icon of the listing leads to the preview.
        client
            .find(Locator::Css("a[title=preview]"))
            .await
            .expect("preview link")
            .click()
            .await
            .expect("click");
        client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::XPath("//h1[text()='app.flist']"))
            .await
            .expect("the preview page");
        let text = |id: &'static str| {
            let client = client.clone();
            async move {
                client
                    .find(Locator::Id(id))
                    .await
                    .expect(id)
                    .text()
                    .await
                    .expect("text")
            }
        };
        assert_eq!(text("md5").await, md5);
        assert_eq!(text("source").await, format!("{base}/alice/app.flist"));
        let metadata = rows(&client, "main table tr").await;
        assert!(
            metadata.contains(&vec!["description".into(), "A small test image".into()]),
            "{metadata:?}"
        );
        let forced = metadata
            .iter()
            .find(|row| row.first().map(String::as_str) == Some("Backend (default)"))
            .expect("the forced backend");
        assert!(forced[1].starts_with(&backend), "{forced:?}");

        // The contents are folded until asked for.
        let paths = client
            .find(Locator::Css("details pre"))
            .await
            .expect("paths");
        assert!(!paths.is_displayed().await.expect("displayed"));
        client
            .find(Locator::XPath("//summary[text()='Show the contents']"))
            .await
            .expect("Show the contents")
            .click()
            .await
            .expect("click");
        assert!(paths.is_displayed().await.expect("displayed"));
        let listed = paths.text().await.expect("paths");
        for path in ["/etc", "/etc/hostname", "/bin/sh"] {
            assert!(
                listed.lines().any(|line| line == path),
                "{path} in {listed}"
            );
        }
        let counts = page_text(&client).await;
        assert!(
            counts.contains("2 directories, 1 regular files, 1 symlinks and 0 special files."),
            "{counts}"
        );
    })
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn markup_in_names_and_metadata_is_text_never_code(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    // Names an old hub may hold (created before validation): each payload sets a marker if it
    // ever runs.
    let repo = "<svg onload=window.__xss=1>";
    let name = "<img src=x onerror=window.__xss=2><script>window.__xss=3<.flist";
    seed_flist(
        &hub,
        repo,
        name,
        sample_tree(Format::Flist, 7),
        &[
            ("description", "<script>window.__xss=4</script>"),
            ("readme", "<img src=x onerror=window.__xss=5>"),
        ],
    )
    .await;
    let (repo, name) = (repo.to_owned(), name.to_owned());
    in_browser(&hub.base, move |client, base| async move {
        // No page may have run a payload, nor grown elements out of a value.
        let clean = |page: &'static str| {
            let client = client.clone();
            async move {
                let verdict = client
                    .execute(
                        "return [typeof window.__xss, \
                         document.querySelectorAll('main img, main svg, main script').length];",
                        Vec::new(),
                    )
                    .await
                    .expect("probe");
                assert_eq!(verdict, json!(["undefined", 0]), "{page}");
            }
        };
        open(&client, &base, "/").await;
        clean("home").await;
        client
            .find(Locator::LinkText(&repo))
            .await
            .expect("the repository, as text")
            .click()
            .await
            .expect("click");
        client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::LinkText(&name))
            .await
            .expect("the flist, as text");
        clean("repository").await;
        client
            .find(Locator::Css("a[title=preview]"))
            .await
            .expect("preview link")
            .click()
            .await
            .expect("click");
        client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("h1"))
            .await
            .expect("the preview page");
        assert_eq!(
            client
                .find(Locator::Css("main h1"))
                .await
                .expect("title")
                .text()
                .await
                .expect("text"),
            name
        );
        let metadata = rows(&client, "main table tr").await;
        assert!(
            metadata.contains(&vec![
                "description".into(),
                "<script>window.__xss=4</script>".into()
            ]),
            "{metadata:?}"
        );
        clean("preview").await;

        // The search results are built in the browser: the same values, as text.
        open(&client, &base, "/search").await;
        client
            .find(Locator::Id("search"))
            .await
            .expect("search box")
            .send_keys("onerror")
            .await
            .expect("type");
        until(
            &client,
            PAGE_WAIT,
            "the result",
            "return document.querySelectorAll('#search-results tbody tr').length === 1;",
        )
        .await;
        let found = rows(&client, "#search-results tbody tr").await;
        assert_eq!(found[0][0..2], [repo.clone(), name.clone()]);
        clean("search").await;
    })
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn docker_form_leads_to_a_progress_page_that_follows_the_job(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = jobs_support::Workers::start(&hub).await;
    in_browser(&hub.base, |client, base| async move {
        open(&client, &base, "/docker-convert").await;
        client
            .find(Locator::Css("input[name=docker-input]"))
            .await
            .expect("image input")
            .send_keys("alpine:3")
            .await
            .expect("type");
        client
            .find(Locator::Css("form button"))
            .await
            .expect("convert button")
            .click()
            .await
            .expect("submit");
        let id = client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Id("jobid"))
            .await
            .expect("the progress page")
            .text()
            .await
            .expect("job id");
        assert!(uuid::Uuid::try_parse(&id).is_ok(), "{id}");
        until(
            &client,
            JOB_WAIT,
            "the conversion summary",
            "return document.querySelector('#result #summary') !== null \
             || document.querySelector('#result.alert-danger') !== null;",
        )
        .await;
        let summary = rows(&client, "#summary tr").await;
        let expected = jobs_support::stats();
        assert_eq!(summary[0], ["Filename", "alpine-3.flist"], "{summary:?}");
        assert_eq!(
            summary[1],
            ["Files".to_owned(), expected["regular"].to_string()]
        );
        assert_eq!(summary[2][1], expected["directory"].to_string());
        let status = client
            .find(Locator::Id("status"))
            .await
            .expect("status line")
            .text()
            .await
            .expect("text");
        assert_eq!(status, "Done");
    })
    .await;
    workers.stop().await;
    hub.stop().await;
}
