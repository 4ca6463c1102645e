//! The website's forms and page rules against the real stack, with the REAL convert, verify and
//! merge workers in-process: `POST /upload-flist` and `POST /merge` render the success page or
//! the form with "Oops: <catalogue message>"; `POST /docker-convert` renders the progress page
//! of a queued job; the staging banner; reserved names are never repository pages.

mod common;
mod e2e_support;
mod jobs_support;
mod legacy_support;

use e2e_support::{RealWorkers, flist_with_missing_chunk, write_tree};
use hub_testkit::tar_gz;
use jobs_support::{Form, post_form};
use legacy_support::{get_text, seed_sample};
use sqlx::PgPool;

use common::TestHub;

/// `POST path` with an urlencoded body.
async fn post_urlencoded(hub: &TestHub, path: &str, body: &str) -> (u16, String) {
    let response = hub
        .http
        .post(hub.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

/// `POST path` with a multipart form; status and page.
async fn post_multipart(hub: &TestHub, path: &str, form: Form) -> (u16, String) {
    let response = post_form(hub, path, form, &[]).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

/// What the success page of `repo/name` must say (hub-api §10).
fn assert_published(hub: &TestHub, page: &str, repo: &str, name: &str) {
    assert!(
        page.contains(&format!("Your flist {name} is available.")),
        "{page}"
    );
    assert!(
        page.contains(&format!("{}/{repo}/{name}</code>", hub.config.public_url)),
        "{page}"
    );
    let publish = &hub.config.publish;
    assert!(
        page.contains(&format!(
            "zdb://{}:{}</code>",
            publish.backend_host, publish.backend_port
        )),
        "{page}"
    );
}

/// Upload `archive` through the API (the real convert worker) as `<name>.tar.gz`.
async fn convert(hub: &TestHub, name: &str, seed: u64) {
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), seed);
    let form = Form::new().file(
        "file",
        &format!("{name}.tar.gz"),
        &tar_gz(source.path()).expect("archive"),
    );
    let response = post_form(hub, "/api/flist/me/upload", form, &[]).await;
    assert_eq!(response.status(), 200, "{name}");
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn homemade_flists_are_verified_and_published_or_refused_on_the_form(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = RealWorkers::start(&hub).await;
    convert(&hub, "base", 1).await;
    let bytes = hub.download("/Administrator/base.flist").await;

    // Every chunk is in the store: published unchanged under the uploaded name.
    let form = Form::new().file("file", "mine.flist", &bytes);
    let (status, page) = post_multipart(&hub, "/upload-flist", form).await;
    assert_eq!(status, 200, "{page}");
    assert_published(&hub, &page, "Administrator", "mine.flist");
    let copy = hub.download("/Administrator/mine.flist").await;
    assert_eq!(copy, bytes);

    // A chunk missing from the store: the form again, with the catalogue message.
    let form = Form::new().file("file", "broken.flist", &flist_with_missing_chunk());
    let (status, page) = post_multipart(&hub, "/upload-flist", form).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Oops: unauthorized upload, contents is not fully present on backend</div>"),
        "{page}"
    );
    assert!(page.contains("action=\"/upload-flist\""), "the form again");
    let (status, _) = get_text(&hub, "/Administrator/broken.flist").await;
    assert_eq!(status, 404, "nothing published");

    // Refused before any job: the request's own mistakes.
    let form = Form::new().file("file", "mine.tar.gz", b"not a flist");
    let (status, page) = post_multipart(&hub, "/upload-flist", form).await;
    assert_eq!(status, 400);
    assert!(page.contains("Oops: this file is not allowed"), "{page}");
    let (status, page) = post_multipart(&hub, "/upload-flist", Form::new().text("x", "y")).await;
    assert_eq!(status, 400);
    assert!(page.contains("Oops: no file found"), "{page}");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn merge_form_merges_in_order_or_shows_the_catalogue_error(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = RealWorkers::start(&hub).await;
    convert(&hub, "first", 1).await;
    convert(&hub, "second", 2).await;

    // The form lists every flist as `repo/name` for both drop-downs.
    let (status, form) = get_text(&hub, "/merge").await;
    assert_eq!(status, 200);
    assert!(
        form.contains("<option value=\"Administrator/first.flist\">"),
        "{form}"
    );
    assert!(form.contains("data-add-row=\"merge-with\""));

    // Sources in order, an empty extra row skipped.
    let body = "flists%5B%5D=Administrator%2Ffirst.flist&flists%5B%5D=Administrator%2Fsecond.flist\
                &flists%5B%5D=&name=both";
    let (status, page) = post_urlencoded(&hub, "/merge", body).await;
    assert_eq!(status, 200, "{page}");
    assert_published(&hub, &page, "Administrator", "both.flist");
    let listing: serde_json::Value = hub
        .get("/api/flist/Administrator/both.flist")
        .await
        .json()
        .await
        .expect("json");
    // Both trees hold the same paths: the union has them once each (hub-api §11.3).
    assert_eq!(listing["regular"], 4, "{listing}");

    let cases = [
        ("name=x", 400, "Oops: no source found"),
        (
            "flists%5B%5D=Administrator%2Fnope&name=x",
            404,
            "Oops: Administrator/nope.flist does not exists",
        ),
        (
            "flists%5B%5D=Administrator%2Ffirst.flist&name=",
            400,
            "Oops: missing build (target) name",
        ),
        (
            "flists%5B%5D=noslash&name=x",
            400,
            "Oops: malformed source filename",
        ),
    ];
    for (body, expected_status, message) in cases {
        let (status, page) = post_urlencoded(&hub, "/merge", body).await;
        assert_eq!(status, expected_status, "{body}");
        assert!(page.contains(message), "{body}: {page}");
        assert!(page.contains("action=\"/merge\""), "the form again");
    }
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn docker_form_queues_the_job_and_renders_its_progress_page(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    for body in ["", "docker-input=", "docker-input=+++"] {
        let (status, page) = post_urlencoded(&hub, "/docker-convert", body).await;
        assert_eq!(status, 400, "{body}");
        assert!(page.contains("Oops: missing docker image name"), "{page}");
        assert!(page.contains("name=\"docker-input\""), "the form again");
    }
    let (status, page) = post_urlencoded(&hub, "/docker-convert", "docker-input=alpine%3A3").await;
    assert_eq!(status, 200, "{page}");
    let id = page
        .split("<code id=\"jobid\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the job id on the page");
    assert!(page.contains(&format!("data-job=\"{id}\"")), "{page}");
    assert!(page.contains("<progress id=\"progress\""));
    assert!(page.contains("src=\"/static/hub.js\""));
    let job = hub_db::jobs::get(&hub.state.pool, id.parse().expect("uuid"))
        .await
        .expect("the job exists");
    assert_eq!(job.target_name, "alpine-3.flist");
    assert_eq!(job.repository, "Administrator");
    // The page's script follows this stream.
    let listen = hub.get(&format!("/listen/{id}")).await;
    assert_eq!(listen.status(), 200);
    assert_eq!(listen.headers()["content-type"], "text/event-stream");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn staging_banner_only_in_debug_mode(pool: PgPool) {
    let hub = TestHub::start_with(pool.clone(), |config| config.gateway.debug = true).await;
    for path in ["/", "/search", "/upload", "/merge"] {
        let (status, page) = get_text(&hub, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains("id=\"staging\""), "{path}: {page}");
    }
    hub.stop().await;
    let hub = TestHub::start(pool).await;
    let (_, page) = get_text(&hub, "/").await;
    assert!(!page.contains("id=\"staging\""), "{page}");
    // The original's navigation bar (Upload, Customize, Docker, Homemade, Search) and footer.
    for link in [
        "href=\"/upload\">Upload<",
        "href=\"/merge\">Customize<",
        "href=\"/docker-convert\">Docker<",
        "href=\"/upload-flist\">Homemade<",
        "href=\"/search\">Search<",
    ] {
        assert!(page.contains(link), "{link}");
    }
    assert!(page.contains("ThreeFold Tech</footer>"));
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn reserved_names_are_never_repository_pages(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    // Hubs created before validation may hold such repositories.
    for repo in ["static", "listen", "api", "login-iyo", "_iyo_callback"] {
        seed_sample(&hub, repo, "app.flist").await;
        let rows = hub_db::tags::put_entry(
            &hub.state.pool,
            repo,
            "v1",
            "app.flist",
            repo,
            "app.flist",
            hub_db::EntryQuota::UNLIMITED,
        )
        .await;
        rows.expect("tag");
        for path in [
            format!("/{repo}"),
            format!("/{repo}/tags/v1"),
            format!("/{repo}/app.flist.md"),
        ] {
            let (status, page) = get_text(&hub, &path).await;
            assert_eq!(status, 404, "{path}: {page}");
        }
    }
    // `me` is reserved only in the API: an old repository of that name keeps its page.
    seed_sample(&hub, "me", "app.flist").await;
    let (status, page) = get_text(&hub, "/me").await;
    assert_eq!(status, 200, "{page}");
    // Unknown repositories and tags: the 404 page.
    for path in ["/nobody", "/me/tags/nope", "/nobody/tags/v1"] {
        let (status, page) = get_text(&hub, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(page.contains("<h1>Not found</h1>"), "{path}: {page}");
    }
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn form_posts_are_behind_the_protected_guard(pool: PgPool) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |hub: &TestHub, path: &str| {
        no_redirects
            .post(hub.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("docker-input=alpine&flists%5B%5D=a%2Fb&name=x")
            .send()
    };
    // Read-only mirror: every form goes to the notice (hub-api §4.8).
    let hub = TestHub::start_with(pool.clone(), |config| config.auth.readonly = true).await;
    for path in ["/upload-flist", "/merge", "/docker-convert"] {
        let response = post(&hub, path).await.expect("post");
        assert_eq!(response.status(), 302, "{path}");
        assert_eq!(response.headers()["location"], "/readonly", "{path}");
    }
    hub.stop().await;
    // Authentication on, no session: to the sign-in choices (hub-api §4.9), and no job was queued.
    let hub = TestHub::start_with(pool, jobs_support::with_auth).await;
    for path in ["/upload-flist", "/merge", "/docker-convert"] {
        let response = post(&hub, path).await.expect("post");
        assert_eq!(response.status(), 302, "{path}");
        assert_eq!(response.headers()["location"], "/login-method", "{path}");
    }
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&hub.state.pool)
        .await
        .expect("count");
    assert_eq!(queued, 0);
    hub.stop().await;
}
