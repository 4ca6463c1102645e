//! HTTP hardening (issue #12) over real TCP sockets against the real stack: method names in
//! any letter case.

mod common;
mod jobs_support;

use common::TestHub;
use common::raw;
use jobs_support::Form;
use sqlx::PgPool;

/// The head of an asynchronous upload of `length` body bytes, as a raw request.
fn upload_head(method: &str, length: usize) -> String {
    format!(
        "{method} /api/flist/me/upload HTTP/1.1\r\nHost: hub\r\nContent-Type: {}\r\n\
         Content-Length: {length}\r\nPrefer: respond-async\r\nConnection: close\r\n\r\n",
        Form::content_type()
    )
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
