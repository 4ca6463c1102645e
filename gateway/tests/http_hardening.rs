//! HTTP hardening (issue #12, items 5, 9, 10a) over real TCP sockets against the real stack:
//! connection timeouts and the per-address connection cap, `X-Forwarded-*` only from trusted
//! proxies, method names in any letter case.

mod common;
mod jobs_support;
mod legacy_support;

use std::time::{Duration, Instant};

use common::TestHub;
use common::raw::{self, read_until_closed};
use hub_gateway::GatewayConfig;
use jobs_support::Form;
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;

/// Small timeouts so that the tests run in seconds.
fn short_timeouts(config: &mut GatewayConfig) {
    config.gateway.header_read_timeout = Duration::from_secs(1);
    config.gateway.body_idle_timeout = Duration::from_secs(1);
}

/// The head of an asynchronous upload of `length` body bytes, as a raw request.
fn upload_head(method: &str, length: usize) -> String {
    format!(
        "{method} /api/flist/me/upload HTTP/1.1\r\nHost: hub\r\nContent-Type: {}\r\n\
         Content-Length: {length}\r\nPrefer: respond-async\r\nConnection: close\r\n\r\n",
        Form::content_type()
    )
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn half_sent_headers_are_closed_after_the_header_read_timeout(pool: PgPool) {
    let hub = TestHub::start_with(pool, short_timeouts).await;
    let mut stream = raw::connect(&hub).await;
    stream
        .write_all(b"GET /api/flist HTTP/1.1\r\nHost: hub\r\nX-Half: ")
        .await
        .expect("send half the headers");
    let started = Instant::now();
    let closed = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    assert!(
        closed.is_ok(),
        "a connection with half-sent headers is still open after 6 s"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_body_trickling_slower_than_the_idle_timeout_is_cut(pool: PgPool) {
    let hub = TestHub::start_with(pool, short_timeouts).await;
    let body = Form::new().file("file", "app.tar.gz", &[7u8; 64]).body();
    let mut stream = raw::connect(&hub).await;
    let head = upload_head("POST", body.len());
    stream.write_all(head.as_bytes()).await.expect("head");
    // The multipart framing, then one byte every 2 s.
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        let (framing, content) = body.split_at(body.len() - 40);
        writer.write_all(framing).await.ok();
        for byte in content {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(8), async {
        let mut received = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut received).await;
        received
    })
    .await
    .expect("a body sending one byte every 2 s is still being read after 8 s");
    // Either a 408 answer or a closed connection; never a success.
    let status = raw::status(&answer);
    assert!(
        status.is_none() || status == Some(408),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    trickle.abort();
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_steady_upload_longer_than_the_idle_timeout_succeeds(pool: PgPool) {
    let hub = TestHub::start_with(pool, short_timeouts).await;
    let body = Form::new()
        .file("file", "app.tar.gz", &[7u8; 32 * 1024])
        .body();
    let mut stream = raw::connect(&hub).await;
    let head = upload_head("POST", body.len());
    stream.write_all(head.as_bytes()).await.expect("head");
    // 16 pieces 250 ms apart: 4 s in all, never 1 s without a byte.
    let started = Instant::now();
    for piece in body.chunks(body.len().div_ceil(16)) {
        stream.write_all(piece).await.expect("body piece");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(3));
    let answer = read_until_closed(&mut stream, Duration::from_secs(30))
        .await
        .expect("answer");
    assert_eq!(
        raw::status(&answer),
        Some(202),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn connections_beyond_the_per_address_cap_are_refused(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| {
        config.gateway.max_connections_per_address = 3;
        config.gateway.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw::connect(&hub).await);
    }
    // Give the server time to accept the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = raw::connect(&hub).await;
    let refused = read_until_closed(&mut extra, Duration::from_secs(3))
        .await
        .expect("the connection beyond the cap is still open");
    assert_eq!(
        raw::status(&refused),
        Some(429),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    // The first three are still open and served, with keep-alive: two requests on each.
    for stream in &mut held {
        for _ in 0..2 {
            stream
                .write_all(b"GET /api/repositories HTTP/1.1\r\nHost: hub\r\n\r\n")
                .await
                .expect("request on a held connection");
            let answer = read_response(stream).await;
            assert_eq!(raw::status(&answer), Some(200));
        }
    }
    // One closed: a new connection is admitted again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = raw::exchange(
        &hub,
        b"GET /api/repositories HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw::status(answer.as_bytes()), Some(200), "{answer}");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn shutdown_finishes_the_request_in_flight_and_accepts_no_more(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let body = Form::new().file("file", "app.tar.gz", &[7u8; 4096]).body();
    let mut stream = raw::connect(&hub).await;
    let head = upload_head("POST", body.len());
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(first).await.expect("first half");
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(rest).await.expect("second half");
    let answer = read_until_closed(&mut stream, Duration::from_secs(30))
        .await
        .expect("answer");
    assert_eq!(
        raw::status(&answer),
        Some(202),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The listener is closed: no new connection is served.
    if let Ok(mut late) = tokio::net::TcpStream::connect(hub.addr).await {
        late.write_all(b"GET /api/flist HTTP/1.1\r\nHost: hub\r\n\r\n")
            .await
            .ok();
        let answer = read_until_closed(&mut late, Duration::from_secs(5))
            .await
            .expect("a connection after shutdown is not kept");
        assert_eq!(raw::status(&answer), None);
    }
    hub.stop().await;
}

/// One response of a keep-alive connection: headers and a `Content-Length` body.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Duration::from_secs(10);
    tokio::time::timeout(deadline, async {
        loop {
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "connection closed mid-response");
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("a response within 10 s");
    received
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_event_stream_stays_open_past_the_connection_timeouts(pool: PgPool) {
    let hub = TestHub::start_with(pool, short_timeouts).await;
    let form = Form::new().file("file", "app.tar.gz", b"content");
    let submitted = jobs_support::post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Prefer", "respond-async")],
    )
    .await;
    assert_eq!(submitted.status(), 202);
    let id = jobs_support::json(submitted).await["id"]
        .as_str()
        .expect("job id")
        .to_owned();
    // No worker runs: the job stays queued and its stream open.
    let mut events = hub.get(&format!("/api/jobs/{id}/events")).await;
    assert_eq!(events.status(), 200);
    let first = events.chunk().await.expect("first event");
    assert!(first.is_some());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        match tokio::time::timeout(Duration::from_millis(500), events.chunk()).await {
            Err(_) => {} // nothing new, still open
            Ok(Ok(Some(_))) => {}
            Ok(other) => panic!(
                "the event stream ended after {:?}: {other:?}",
                started.elapsed()
            ),
        }
    }
    hub.stop().await;
}

/// The `.txt` info of the sample flist `alice/app.flist`, requested with `headers`.
async fn sample_txt(hub: &TestHub, headers: &[(&str, &str)]) -> String {
    let mut request = hub.http.get(hub.url("/alice/app.txt"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("txt")
        .text()
        .await
        .expect("body")
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn forwarded_host_from_a_direct_client_is_ignored(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    legacy_support::seed_sample(&hub, "alice", "app.flist").await;
    let body = sample_txt(
        &hub,
        &[
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert!(!body.contains("evil.example"), "{body}");
    assert!(
        body.contains(&format!("Source:   {}/alice/app.flist\n", hub.base)),
        "{body}"
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn forwarded_host_from_a_trusted_proxy_is_honoured(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| {
        config.gateway.trusted_proxies = vec!["10.1.2.3".into(), "127.0.0.0/8".into()];
    })
    .await;
    legacy_support::seed_sample(&hub, "alice", "app.flist").await;
    let body = sample_txt(
        &hub,
        &[
            ("X-Forwarded-Host", "mirror.example"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert!(
        body.contains("Source:   https://mirror.example/alice/app.flist\n"),
        "{body}"
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_proxy_elsewhere_does_not_make_loopback_trusted(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| {
        config.gateway.trust_forwarded = true;
        config.gateway.trusted_proxies = vec!["10.1.2.3".into()];
    })
    .await;
    legacy_support::seed_sample(&hub, "alice", "app.flist").await;
    let body = sample_txt(&hub, &[("X-Forwarded-Host", "evil.example")]).await;
    assert!(!body.contains("evil.example"), "{body}");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn method_names_in_any_letter_case_route_like_upper_case(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let answer = raw::exchange(
        &hub,
        b"get /api/flist HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw::status(answer.as_bytes()), Some(200), "{answer}");

    let body = Form::new().file("file", "app.tar.gz", b"content").body();
    let mut request = upload_head("Post", body.len()).into_bytes();
    request.extend_from_slice(&body);
    let answer = raw::exchange(&hub, &request).await;
    assert_eq!(raw::status(answer.as_bytes()), Some(202), "{answer}");
    hub.stop().await;
}
