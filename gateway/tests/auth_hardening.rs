//! Issue #12 items 6–8 against the real stack: failed authentications throttled per client
//! address, scopes that do not grant accounts, and names with invisible characters.

mod common;
mod jobs_support;

use std::net::IpAddr;

use futures::future::join_all;
use jobs_support::{Form, external_jwt, json, seed_flist, token, with_auth, with_external_issuer};
use reqwest::header::HeaderValue;
use sqlx::PgPool;

/// An HTTP client whose connections come from `address` (any 127.0.0.0/8 address is local);
/// it does not follow redirects, so a sign-in's `302` is seen.
fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(address))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn failed_authentications_are_throttled_per_address_under_parallel_requests(pool: PgPool) {
    const BUDGET: usize = 10;
    const PARALLEL: usize = 50;
    let hub = jobs_support::start(pool.clone(), |config| {
        with_auth(config);
        config.limits.auth_failures_per_minute = BUDGET as u32;
    })
    .await;
    let attacker = client_from([127, 0, 0, 1]);
    let probe = |client: &reqwest::Client, bearer: String| {
        client
            .get(hub.url("/api/flist/me"))
            .header("Authorization", format!("bearer {bearer}"))
            .send()
    };

    // 50 forged tokens at once: exactly the budget is answered 401, every other one 429.
    let answers = join_all((0..PARALLEL).map(|i| probe(&attacker, format!("forged-{i}")))).await;
    let mut unauthorized = 0;
    for answer in answers {
        let answer = answer.expect("request");
        match answer.status().as_u16() {
            401 => unauthorized += 1,
            429 => {
                assert!((1..=60).contains(&retry_after(&answer)));
                assert_eq!(json(answer).await["code"], "auth_throttled");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(unauthorized, BUDGET);

    // Once over budget the address is refused even with a valid token (no oracle for guesses).
    let blocked = probe(&attacker, token("alice.3bot"))
        .await
        .expect("request");
    assert_eq!(blocked.status(), 429);
    assert!((1..=60).contains(&retry_after(&blocked)));

    // Another address is not affected, with a valid or a wrong token.
    let other = client_from([127, 0, 0, 2]);
    let valid = probe(&other, token("alice.3bot")).await.expect("request");
    assert_eq!(valid.status(), 200);
    let wrong = probe(&other, "forged".into()).await.expect("request");
    assert_eq!(wrong.status(), 401);

    // The count lives in Redis: a second replica of the same deployment refuses the address too.
    let prefix = hub.config.common.nats_prefix.clone();
    let replica = jobs_support::start(pool, |config| {
        with_auth(config);
        config.limits.auth_failures_per_minute = BUDGET as u32;
        config.common.nats_prefix = prefix;
    })
    .await;
    let on_replica = attacker
        .get(replica.url("/api/flist/me"))
        .header("Authorization", format!("bearer {}", token("alice.3bot")))
        .send()
        .await
        .expect("request");
    assert_eq!(on_replica.status(), 429);
    replica.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn external_jwt_scope_other_than_memberof_cannot_act_as_its_user(pool: PgPool) {
    let hub = jobs_support::start(pool, with_external_issuer).await;
    seed_flist(&hub, "bob", "app.flist").await;
    seed_flist(&hub, "acme", "app.flist").await;
    let delete = |token: String, active_user: &str| {
        hub.http
            .delete(hub.url("/api/flist/me/app.flist"))
            .header("Authorization", format!("bearer {token}"))
            .header("Cookie", format!("active-user={active_user}"))
            .send()
    };
    let exists = |repository: &'static str| {
        let pool = hub.state.pool.clone();
        async move {
            hub_db::entries::get(&pool, repository, "app.flist")
                .await
                .expect("entry")
                .is_some()
        }
    };

    let refused = delete(external_jwt("alice", &["user:email:bob"]), "bob")
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    assert_eq!(json(refused).await["message"], "active user not allowed");
    assert!(exists("bob").await, "bob's flist must survive");

    // `user:memberof:<org>` still grants the organisation.
    let deleted = delete(external_jwt("alice", &["user:memberof:acme"]), "acme")
        .await
        .expect("request");
    assert_eq!(deleted.status(), 200);
    assert!(!exists("acme").await);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn names_with_bidi_or_invisible_characters_are_refused_on_every_route(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    seed_flist(&hub, "Administrator", "app.flist").await;
    seed_flist(&hub, "bob", "app.flist").await;
    // `evil<RLO>gpj.exe` displays as `evilexe.jpg`.
    let evil = "evil%E2%80%AEgpj.exe";
    let zero_width = "a%E2%80%8Bb";
    let paths = [
        format!("/api/flist/me/app.flist/link/{evil}"),
        format!("/api/flist/me/{evil}/crosslink/bob/app.flist"),
        format!("/api/flist/me/{zero_width}/crosstag/bob/v1"),
        format!("/api/flist/me/app.flist/rename/{evil}"),
        format!("/api/flist/me/{evil}/app/tag/bob/app.flist"),
        format!("/api/flist/me/v1/{zero_width}/tag/bob/app.flist"),
        format!("/api/flist/me/promote/bob/app.flist/{evil}"),
    ];
    // The crosstag route checks that its tag exists before the name.
    hub_db::tags::put_entry(
        &hub.state.pool,
        "bob",
        "v1",
        "app.flist",
        "bob",
        "app.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("tag");
    for path in &paths {
        let response = hub.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        let message = json(response).await["message"].to_string();
        assert!(
            message.contains("invisible or bidirectional formatting character")
                && (message.contains("U+202E") || message.contains("U+200B")),
            "{path}: {message}"
        );
    }

    // A merge's target, checked after its (existing) sources.
    let merge = hub
        .http
        .post(hub.url(&format!("/api/flist/me/merge/{evil}")))
        .json(&["bob/app.flist", "Administrator/app.flist"])
        .send()
        .await
        .expect("merge");
    assert_eq!(merge.status(), 400);
    assert_eq!(
        json(merge).await["message"],
        "invalid flist name: U+202E is an invisible or bidirectional formatting character"
    );

    // zflist sends the local path, in UTF-8.
    let original_name =
        HeaderValue::from_bytes("/home/me/evil\u{202E}gpj.exe.tar.gz".as_bytes()).expect("bytes");
    let upload = hub
        .http
        .post(hub.url("/api/flist/me/upload"))
        .header("Content-Type", Form::content_type())
        .header("X-Original-Name", original_name)
        .body(Form::new().file("file", "x.tar.gz", b"not read").body())
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 400);
    assert_eq!(
        json(upload).await["message"],
        "invalid flist name: U+202E is an invisible or bidirectional formatting character"
    );

    // Nothing was created under any of these names.
    let names = hub_db::entries::all_names(&hub.state.pool)
        .await
        .expect("names");
    assert!(
        names
            .iter()
            .all(|name| !name.chars().any(hub_model::names::is_hidden_character)),
        "{names:?}"
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn wrong_local_passwords_count_against_the_address(pool: PgPool) {
    const BUDGET: usize = 3;
    let hub = jobs_support::start(pool, |config| {
        with_auth(config);
        config.limits.auth_failures_per_minute = BUDGET as u32;
    })
    .await;
    hub.state
        .auth
        .store()
        .create_local_user("carol", "correct horse")
        .await
        .expect("local user");
    let login = |client: &reqwest::Client, password: &str| {
        client
            .post(hub.url("/login-local"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("username=carol&password={password}"))
            .send()
    };
    let guesser = client_from([127, 0, 0, 1]);
    for _ in 0..BUDGET {
        assert_eq!(login(&guesser, "wrong").await.expect("login").status(), 401);
    }
    let throttled = login(&guesser, "wrong").await.expect("login");
    assert_eq!(throttled.status(), 429);
    assert!((1..=60).contains(&retry_after(&throttled)));
    // The right password does not get through either while the address is throttled…
    let right = login(&guesser, "correct+horse").await.expect("login");
    assert_eq!(right.status(), 429);
    // …and neither does a token on the API: the budget is the address's, not the route's.
    let api = guesser
        .get(hub.url("/api/flist/me"))
        .header("Authorization", format!("bearer {}", token("alice.3bot")))
        .send()
        .await
        .expect("request");
    assert_eq!(api.status(), 429);
    // Another address signs in.
    let other = client_from([127, 0, 0, 3]);
    assert_eq!(
        login(&other, "correct+horse")
            .await
            .expect("login")
            .status(),
        302
    );
    hub.stop().await;
}
