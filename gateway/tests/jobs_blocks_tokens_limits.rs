//! The chunk upload API, the token routes and the limits (request rate, concurrent jobs,
//! repository quota) against the real services.

mod common;
mod jobs_support;

use hub_auth::config::{HubJwtConfig, SecretBytes};
use jobs_support::{
    Form, Workers, coded_error_body, json, post_form, seed_flist, token, with_auth,
};
use sqlx::PgPool;

fn blake2b(data: &[u8], len: usize) -> String {
    hex::encode(
        blake2b_simd::Params::new()
            .hash_length(len)
            .hash(data)
            .as_bytes(),
    )
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn blocks_are_stored_under_their_own_hash_only(pool: PgPool) {
    let hub = jobs_support::start(pool, with_auth).await;
    let bearer = format!("Bearer {}", token("alice.3bot"));
    let put = |id: String, body: Vec<u8>| {
        hub.http
            .put(hub.url(&format!("/api/blocks/{id}")))
            .header("Authorization", &bearer)
            .body(body)
            .send()
    };
    let missing = |body: String| {
        hub.http
            .post(hub.url("/api/blocks/missing"))
            .header("Authorization", &bearer)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for (method, path) in [("PUT", "/api/blocks/00"), ("POST", "/api/blocks/missing")] {
        let response = hub
            .http
            .request(method.parse().expect("method"), hub.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401, "{path}");
    }

    let small = b"encrypted chunk".to_vec();
    let small_id = blake2b(&small, 16);
    let large: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 253) as u8).collect();
    let large_id = blake2b(&large, 32);
    let absent = blake2b(b"never uploaded", 16);
    let asked = serde_json::to_string(&[&small_id, &large_id, &absent]).expect("json");
    let before: Vec<String> = json(missing(asked.clone()).await.expect("missing"))
        .await
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    assert_eq!(before, [small_id.clone(), large_id.clone(), absent.clone()]);

    let stored = put(small_id.clone(), small.clone()).await.expect("put");
    assert_eq!(stored.status(), 201);
    let stored = json(stored).await;
    assert_eq!(stored["id"], small_id.as_str());
    assert_eq!(stored["size"], small.len());
    assert_eq!(
        put(large_id.clone(), large.clone())
            .await
            .expect("put")
            .status(),
        201
    );
    let raw = hex::decode(&large_id).expect("hex");
    let kept = hub
        .state
        .store
        .get(&raw)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(kept.as_ref(), large.as_slice());

    let after = json(missing(asked).await.expect("missing")).await;
    assert_eq!(after, serde_json::json!([absent]));

    // A body under someone else's id, BLAKE2b-32 under a 16-byte id, oversized, empty, bad ids.
    let wrong = put(small_id.clone(), b"other content".to_vec())
        .await
        .expect("put");
    assert_eq!(wrong.status(), 400);
    assert_eq!(json(wrong).await["code"], "block_id_mismatch");
    let truncated = blake2b(&small, 32)[..32].to_owned();
    assert_eq!(
        put(truncated, small.clone()).await.expect("put").status(),
        400
    );
    let too_big = vec![0u8; 8 * 1024 * 1024 + 1];
    let too_big_id = blake2b(&too_big, 16);
    let response = put(too_big_id, too_big).await.expect("put");
    assert_eq!(response.status(), 413);
    assert_eq!(json(response).await["code"], "block_too_large");
    assert_eq!(
        put(blake2b(b"", 16), Vec::new())
            .await
            .expect("put")
            .status(),
        400
    );
    assert_eq!(
        put("xyz".into(), small.clone())
            .await
            .expect("put")
            .status(),
        400
    );

    assert_eq!(missing("{}".into()).await.expect("missing").status(), 400);
    assert_eq!(
        missing("[\"nothex\"]".into())
            .await
            .expect("missing")
            .status(),
        400
    );
    let too_many = serde_json::to_string(&vec![&absent; 10_001]).expect("json");
    assert_eq!(missing(too_many).await.expect("missing").status(), 413);
    hub.stop().await;
}

fn with_hub_jwt(config: &mut hub_gateway::GatewayConfig) {
    with_auth(config);
    config.auth.hub_jwt = Some(HubJwtConfig {
        issuer: "hub-test".into(),
        secret: SecretBytes::new(vec![42u8; 32]),
        default_ttl: std::time::Duration::from_secs(3600),
    });
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tokens_are_minted_listed_and_revoked(pool: PgPool) {
    let hub = jobs_support::start(pool, with_hub_jwt).await;
    let alice = format!("Bearer {}", token("alice.3bot"));
    let minted = hub
        .http
        .post(hub.url("/api/tokens"))
        .header("Authorization", &alice)
        .json(&serde_json::json!({"ttl": "2h", "description": "CI of project x"}))
        .send()
        .await
        .expect("mint");
    assert_eq!(minted.status(), 201);
    let minted = json(minted).await;
    let jwt = minted["token"].as_str().expect("token").to_owned();
    let jti = minted["jti"].as_str().expect("jti").to_owned();
    assert_eq!(minted["username"], "alice.3bot");
    assert_eq!(minted["status"], "active");

    let with_jwt = |path: &str| {
        hub.http
            .get(hub.url(path))
            .header("Authorization", format!("Bearer {jwt}"))
            .send()
    };
    assert_eq!(with_jwt("/api/jobs").await.expect("request").status(), 200);
    let listed = json(with_jwt("/api/tokens").await.expect("list")).await;
    assert_eq!(listed[0]["jti"], jti.as_str());
    assert_eq!(listed[0]["description"], "CI of project x");
    assert!(
        listed[0].get("token").is_none(),
        "tokens are never shown again"
    );

    let revoke = |jti: &str| {
        hub.http
            .delete(hub.url(&format!("/api/tokens/{jti}")))
            .header("Authorization", &alice)
            .send()
    };
    assert_eq!(revoke(&jti).await.expect("revoke").status(), 204);
    let refused = with_jwt("/api/jobs").await.expect("request");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.text().await.expect("body"),
        coded_error_body("token revoked", "unauthorized")
    );
    assert_eq!(
        revoke("7d8e4c1a-0000-4000-8000-000000000000")
            .await
            .expect("revoke")
            .status(),
        404
    );
    let listed = json(
        hub.http
            .get(hub.url("/api/tokens"))
            .header("Authorization", &alice)
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(listed[0]["status"], "revoked");

    for (body, status) in [
        (serde_json::json!({"ttl": "soon"}), 400),
        (serde_json::json!({"ttl": "1000y"}), 400),
        (serde_json::json!({"unknown": 1}), 400),
    ] {
        let response = hub
            .http
            .post(hub.url("/api/tokens"))
            .header("Authorization", &alice)
            .json(&body)
            .send()
            .await
            .expect("mint");
        assert_eq!(response.status(), status, "{body}");
    }

    let all = hub
        .http
        .post(hub.url("/api/tokens/revoke-all"))
        .header("Authorization", &alice)
        .send()
        .await
        .expect("revoke all");
    assert_eq!(all.status(), 200);
    assert!(json(all).await["revoked_before"].is_string());
    // The hub token used for the request was stamped before the revocation.
    let after = hub
        .http
        .get(hub.url("/api/jobs"))
        .header("Authorization", &alice)
        .send()
        .await
        .expect("request");
    assert_eq!(after.status(), 401);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tokens_need_a_principal_and_a_configured_issuer(pool: PgPool) {
    let hub = jobs_support::start(pool, with_auth).await;
    let response = hub
        .http
        .post(hub.url("/api/tokens"))
        .header("Authorization", format!("Bearer {}", token("alice.3bot")))
        .send()
        .await
        .expect("mint");
    assert_eq!(response.status(), 501);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tokens_cannot_be_managed_without_authentication(pool: PgPool) {
    // Authentication disabled: everyone is Administrator, nobody to mint for.
    let hub = jobs_support::start(pool, |_| {}).await;
    let response = hub.get("/api/tokens").await;
    assert_eq!(response.status(), 403);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn request_rate_is_limited_per_user(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        with_auth(config);
        config.limits.requests_per_minute = 5;
    })
    .await;
    let get = |user: &str| {
        hub.http
            .get(hub.url("/api/jobs"))
            .header("Authorization", format!("Bearer {}", token(user)))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(get("alice.3bot").await.expect("request").status(), 200);
    }
    let limited = get("alice.3bot").await.expect("request");
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(json(limited).await["code"], "rate_limited");
    assert_eq!(get("bob.3bot").await.expect("request").status(), 200);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn concurrent_jobs_are_limited_and_slots_come_back(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 2;
    })
    .await;
    let workers = Workers::start(&hub).await;
    let submit = |name: &'static str| {
        post_form(
            &hub,
            "/api/flist/me/upload",
            Form::new().file("file", name, b"content"),
            &[("Prefer", "respond-async")],
        )
    };
    let first = json(submit("hang-1.tar.gz").await).await;
    assert_eq!(
        json(submit("hang-2.tar.gz").await).await["status"],
        "queued"
    );
    let refused = submit("hang-3.tar.gz").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(json(refused).await["code"], "too_many_jobs");
    // Once one of the jobs is over, its slot is reclaimed.
    let id = first["id"].as_str().expect("id");
    let cancelled = hub
        .http
        .delete(hub.url(&format!("/api/jobs/{id}")))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 200);
    assert_eq!(submit("hang-3.tar.gz").await.status(), 202);
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn repository_quota_refuses_new_entries_but_not_replacements(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.repository_max_entries = 2;
    })
    .await;
    let workers = Workers::start(&hub).await;
    seed_flist(&hub, "Administrator", "one.flist").await;
    seed_flist(&hub, "Administrator", "two.flist").await;
    let upload = |name: &'static str| {
        post_form(
            &hub,
            "/api/flist/me/upload",
            Form::new().file("file", name, b"content"),
            &[],
        )
    };
    let refused = upload("three.tar.gz").await;
    assert_eq!(refused.status(), 403);
    let body = json(refused).await;
    assert_eq!(body["code"], "quota_exceeded");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Administrator"))
    );
    assert_eq!(
        upload("two.tar.gz").await.status(),
        200,
        "replacing is allowed"
    );
    workers.stop().await;
    hub.stop().await;
}
