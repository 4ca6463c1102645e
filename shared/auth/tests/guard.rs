//! The API guard (hub-api §4.2: read-only, disabled, header, guest, JWT, hub token, in the
//! original's order) against the real PostgreSQL: every branch and every attack.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use common::*;
use hub_auth::config::{AuthConfig, JwtAlgorithm, JwtIssuerConfig, KeySource};
use hub_auth::{AuthError, AuthMethod, Authenticator, mint_hub_token};
use jsonwebtoken::Algorithm;
use serde_json::json;
use sqlx::PgPool;

async fn authenticator(config: &AuthConfig, pool: PgPool) -> Authenticator {
    Authenticator::new(config, pool)
        .await
        .expect("configuration is valid")
}

async fn refused(auth: &Authenticator, token: &str) -> AuthError {
    auth.authenticate(Some(&bearer(token)), None)
        .await
        .expect_err("token must be refused")
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn readonly_mode_refuses_first(pool: PgPool) {
    let config = AuthConfig {
        readonly: true,
        authentication: false,
        ..config()
    };
    let auth = authenticator(&config, pool).await;
    assert!(auth.is_readonly());
    for header in [None, Some(bearer(GUEST_TOKEN))] {
        let err = auth
            .authenticate(header.as_ref(), None)
            .await
            .expect_err("readonly");
        assert!(matches!(err, AuthError::ReadOnly));
        assert_eq!(err.status().as_u16(), 403);
        assert_eq!(err.message(), "readonly mode");
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn disabled_authentication_is_administrator(pool: PgPool) {
    let config = AuthConfig {
        authentication: false,
        ..config()
    };
    let auth = authenticator(&config, pool).await;
    let identity = auth
        .authenticate(None, Some("someone-else"))
        .await
        .expect("everyone is administrator");
    assert_eq!(identity.user, "Administrator");
    assert_eq!(identity.username, "Administrator");
    assert_eq!(identity.accounts, ["Administrator"]);
    assert_eq!(identity.method, AuthMethod::Disabled);
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn missing_and_malformed_headers(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let err = auth.authenticate(None, None).await.expect_err("no header");
    assert!(matches!(err, AuthError::NoAuthorization));
    assert_eq!(
        (err.status().as_u16(), err.message()),
        (401, "no authorization provided")
    );
    for text in [
        "guest-secret",
        "Basic guest-secret",
        "Bearer  guest-secret",
        "Bearer",
        "Bearer a b",
    ] {
        let header = http::HeaderValue::from_str(text).expect("header");
        let err = auth
            .authenticate(Some(&header), None)
            .await
            .expect_err("malformed");
        assert!(matches!(err, AuthError::InvalidHeader), "{text}");
        assert_eq!(
            (err.status().as_u16(), err.message()),
            (400, "invalid authorization header")
        );
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn guest_token_is_checked_first(pool: PgPool) {
    let auth = authenticator(&config(), pool.clone()).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let header = http::HeaderValue::from_str(&format!("{scheme} {GUEST_TOKEN}")).expect("h");
        let identity = auth.authenticate(Some(&header), None).await.expect("guest");
        assert_eq!(identity.user, "guest");
        assert_eq!(identity.accounts, ["guest"]);
        assert_eq!(identity.method, AuthMethod::Guest);
    }
    let err = auth
        .authenticate(Some(&bearer(GUEST_TOKEN)), Some("alice"))
        .await
        .expect_err("guest has one account");
    assert!(matches!(err, AuthError::Forbidden));
    // Near misses fall through to the hub-token path.
    assert!(matches!(
        refused(&auth, "guest-secreT").await,
        AuthError::InvalidSignature
    ));

    // A dotted guest token must not be mistaken for a JWT (hub-api D12).
    let dotted = AuthConfig {
        guest_token: Some(hub_auth::config::SecretString::new("a.b.c")),
        ..config()
    };
    let auth = authenticator(&dotted, pool).await;
    let identity = auth
        .authenticate(Some(&bearer("a.b.c")), None)
        .await
        .expect("dotted guest");
    assert_eq!(identity.method, AuthMethod::Guest);
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn jwts_of_each_allowed_algorithm_are_accepted(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let scope = [
        "user:memberof:org1",
        "user:name",
        "a:b:c:d",
        "user:memberof:../x",
    ];
    for (algorithm, key) in [
        (Algorithm::ES384, "es384-private.pem"),
        (Algorithm::RS256, "rs256-private.pem"),
        (Algorithm::EdDSA, "ed25519-private.pem"),
    ] {
        let token = sign(algorithm, key, &claims("alice", &scope));
        let identity = auth
            .authenticate(Some(&bearer(&token)), None)
            .await
            .expect("valid jwt");
        assert_eq!(identity.username, "alice");
        assert_eq!(identity.user, "alice");
        // Only `user:memberof:<org>` grants an account (`a:b:c:d` does not, unlike the original).
        assert_eq!(identity.accounts, ["alice", "org1"], "{algorithm:?}");
        assert_eq!(identity.method, AuthMethod::Jwt);
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn active_user_cookie_selects_among_jwt_accounts(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let token = sign(
        Algorithm::ES384,
        "es384-private.pem",
        &claims("alice", &["user:memberof:org1"]),
    );
    let identity = auth
        .authenticate(Some(&bearer(&token)), Some("org1"))
        .await
        .expect("member of org1");
    assert_eq!(identity.user, "org1");
    assert_eq!(identity.username, "alice");

    let err = auth
        .authenticate(Some(&bearer(&token)), Some("bob"))
        .await
        .expect_err("not an account of alice");
    assert!(matches!(err, AuthError::Forbidden));
    assert_eq!(err.status().as_u16(), 403);
    assert_eq!(err.message(), "active user not allowed");
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn organisation_memberships_extend_jwt_accounts(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    assert!(auth.store().add_member("acme", "alice").await.expect("db"));
    let token = sign(Algorithm::RS256, "rs256-private.pem", &claims("alice", &[]));
    let identity = auth
        .authenticate(Some(&bearer(&token)), Some("acme"))
        .await
        .expect("member of acme");
    assert_eq!(identity.accounts, ["alice", "acme"]);
    assert_eq!(identity.user, "acme");

    assert!(
        auth.store()
            .remove_member("acme", "alice")
            .await
            .expect("db")
    );
    let err = auth
        .authenticate(Some(&bearer(&token)), Some("acme"))
        .await
        .expect_err("no longer a member");
    assert!(matches!(err, AuthError::Forbidden));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn jwt_attacks_are_refused(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let valid = claims("alice", &[]);
    let rsa_public = read_fixture("rs256-public.pem");
    let ec_public = read_fixture("es384-public.pem");
    let ed_public = read_fixture("ed25519-public.pem");

    let mut hub_claims = valid.clone();
    hub_claims["iss"] = json!(HUB_ISSUER);
    hub_claims["jti"] = json!(uuid::Uuid::new_v4());

    let mut expired = valid.clone();
    expired["exp"] = json!(now() - 3600);
    let mut no_exp = valid.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    let mut wrong_iss = valid.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    let mut no_iss = valid.clone();
    no_iss.as_object_mut().expect("object").remove("iss");
    let mut wrong_aud = valid.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut no_aud = valid.clone();
    no_aud.as_object_mut().expect("object").remove("aud");
    let mut no_username = valid.clone();
    no_username
        .as_object_mut()
        .expect("object")
        .remove("username");
    let mut bad_username = valid.clone();
    bad_username["username"] = json!("../etc");
    let mut not_yet = valid.clone();
    not_yet["nbf"] = json!(now() + 3600);
    let mut escalated = valid.clone();
    escalated["username"] = json!("root");

    let good = sign(Algorithm::ES384, "es384-private.pem", &valid);
    let mut flipped_signature = good.clone();
    let last = flipped_signature.pop().expect("non-empty");
    flipped_signature.push(if last == 'A' { 'B' } else { 'A' });

    let attacks: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&valid)),
        ("alg none to the hub issuer", unsigned(&hub_claims)),
        (
            "HS256 with the RSA public key",
            sign_hs256(&rsa_public, &valid),
        ),
        (
            "HS256 with the EC public key",
            sign_hs256(&ec_public, &valid),
        ),
        (
            "HS256 with the Ed25519 public key",
            sign_hs256(&ed_public, &valid),
        ),
        (
            "HS256 with the RSA public key, hub issuer",
            sign_hs256(&rsa_public, &hub_claims),
        ),
        (
            "expired",
            sign(Algorithm::ES384, "es384-private.pem", &expired),
        ),
        (
            "missing exp",
            sign(Algorithm::ES384, "es384-private.pem", &no_exp),
        ),
        (
            "wrong issuer",
            sign(Algorithm::ES384, "es384-private.pem", &wrong_iss),
        ),
        (
            "missing issuer",
            sign(Algorithm::ES384, "es384-private.pem", &no_iss),
        ),
        (
            "wrong audience",
            sign(Algorithm::RS256, "rs256-private.pem", &wrong_aud),
        ),
        (
            "missing audience",
            sign(Algorithm::RS256, "rs256-private.pem", &no_aud),
        ),
        (
            "untrusted key",
            sign(Algorithm::ES384, "other-es384-private.pem", &valid),
        ),
        (
            "missing username",
            sign(Algorithm::EdDSA, "ed25519-private.pem", &no_username),
        ),
        (
            "username that is no repository name",
            sign(Algorithm::EdDSA, "ed25519-private.pem", &bad_username),
        ),
        (
            "not valid yet",
            sign(Algorithm::EdDSA, "ed25519-private.pem", &not_yet),
        ),
        ("tampered payload", with_payload(&good, &escalated)),
        ("tampered signature", flipped_signature),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (name, token) in attacks {
        let err = refused(&auth, &token).await;
        assert!(matches!(err, AuthError::InvalidToken), "{name}: {err:?}");
        assert_eq!(
            (err.status().as_u16(), err.message()),
            (401, "invalid token"),
            "{name}"
        );
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn algorithms_outside_the_allow_list_are_refused(pool: PgPool) {
    let only_ec = AuthConfig {
        jwt_issuers: vec![JwtIssuerConfig {
            issuer: EXTERNAL_ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            algorithms: vec![JwtAlgorithm::ES384],
            keys: vec![KeySource::PemFile(fixture("es384-public.pem"))],
        }],
        ..config()
    };
    let auth = authenticator(&only_ec, pool).await;
    let valid = claims("alice", &[]);
    assert!(
        auth.authenticate(
            Some(&bearer(&sign(
                Algorithm::ES384,
                "es384-private.pem",
                &valid
            ))),
            None
        )
        .await
        .is_ok()
    );
    for token in [
        sign(Algorithm::RS256, "rs256-private.pem", &valid),
        sign(Algorithm::EdDSA, "ed25519-private.pem", &valid),
    ] {
        assert!(matches!(
            refused(&auth, &token).await,
            AuthError::InvalidToken
        ));
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn jwks_keys_are_matched_by_kid(pool: PgPool) {
    // The P-384 public point is the last 97 bytes (0x04 ‖ x ‖ y) of the SubjectPublicKeyInfo.
    let pem = String::from_utf8(read_fixture("es384-public.pem")).expect("utf-8");
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der_b64)
        .expect("pem body");
    let point = &der[der.len() - 97..];
    assert_eq!(point[0], 4);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwks = json!({"keys": [
        {"kty": "oct", "k": b64(b"symmetric keys are skipped"), "kid": "hmac"},
        {"kty": "EC", "crv": "P-384", "alg": "ES384", "kid": "ec-1",
         "x": b64(&point[1..49]), "y": b64(&point[49..])},
    ]});
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks.to_string()).expect("write jwks");

    let config = AuthConfig {
        jwt_issuers: vec![JwtIssuerConfig {
            issuer: EXTERNAL_ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            algorithms: vec![JwtAlgorithm::ES384],
            keys: vec![KeySource::JwksFile(path)],
        }],
        ..config()
    };
    let auth = authenticator(&config, pool).await;
    let valid = claims("alice", &[]);
    let with_kid = sign_with_kid(Algorithm::ES384, "es384-private.pem", &valid, Some("ec-1"));
    let identity = auth
        .authenticate(Some(&bearer(&with_kid)), None)
        .await
        .expect("kid matches");
    assert_eq!(identity.username, "alice");
    for kid in [Some("hmac"), Some("unknown")] {
        let token = sign_with_kid(Algorithm::ES384, "es384-private.pem", &valid, kid);
        assert!(matches!(
            refused(&auth, &token).await,
            AuthError::InvalidToken
        ));
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn bad_key_configuration_is_reported(pool: PgPool) {
    let mut config = config();
    config.jwt_issuers[0].keys = vec![KeySource::PemFile(fixture("missing.pem"))];
    let err = Authenticator::new(&config, pool.clone())
        .await
        .expect_err("missing file");
    assert!(err.to_string().contains("jwt_issuers[0].keys[0]"), "{err}");

    config.jwt_issuers[0].keys = vec![KeySource::Pem("not a key".into())];
    assert!(Authenticator::new(&config, pool.clone()).await.is_err());

    // An RSA key listed for an EC-only issuer has no usable algorithm.
    config.jwt_issuers[0].algorithms = vec![JwtAlgorithm::ES384];
    config.jwt_issuers[0].keys = vec![KeySource::PemFile(fixture("rs256-public.pem"))];
    assert!(Authenticator::new(&config, pool).await.is_err());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn hub_tokens_authenticate_their_user(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let token = mint_hub_token(&seed(), "alice.3bot", now());
    let identity = auth
        .authenticate(Some(&bearer(&token)), None)
        .await
        .expect("valid hub token");
    assert_eq!(identity.user, "alice.3bot");
    assert_eq!(identity.accounts, ["alice.3bot"]);
    assert_eq!(identity.method, AuthMethod::HubToken);

    // Accepted without its padding too.
    let unpadded = mint_hub_token(&seed(), "carol", now());
    assert!(unpadded.ends_with('='));
    assert!(
        auth.authenticate(Some(&bearer(unpadded.trim_end_matches('='))), None)
            .await
            .is_ok()
    );
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn virtual_users_and_organisations_for_hub_tokens(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    auth.store()
        .add_member("tf-apps", "tfofficial.3bot")
        .await
        .expect("db");
    let official = mint_hub_token(&seed(), "tfofficial.3bot", now());
    let identity = auth
        .authenticate(Some(&bearer(&official)), Some("official-apps"))
        .await
        .expect("mapped virtual user");
    assert_eq!(identity.user, "official-apps");
    assert_eq!(identity.username, "tfofficial.3bot");
    assert_eq!(
        identity.accounts,
        ["tfofficial.3bot", "official-apps", "tf-apps"]
    );

    let alice = mint_hub_token(&seed(), "alice.3bot", now());
    let err = auth
        .authenticate(Some(&bearer(&alice)), Some("official-apps"))
        .await
        .expect_err("alice is not the mapped user");
    assert!(matches!(err, AuthError::Forbidden));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tampered_hub_tokens_are_refused(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let raw = URL_SAFE
        .decode(mint_hub_token(&seed(), "alice.3bot", now()))
        .expect("token decodes");
    // One byte of the signature, one of the payload's user name.
    for index in [5, 64 + 3] {
        let mut bad = raw.clone();
        bad[index] ^= 0x20;
        let err = refused(&auth, &URL_SAFE.encode(&bad)).await;
        assert!(matches!(err, AuthError::InvalidSignature), "{index}");
        assert_eq!(
            (err.status().as_u16(), err.message()),
            (401, "invalid signature")
        );
    }
    // Signed with another seed.
    let foreign = mint_hub_token(&[42u8; 32], "alice.3bot", now());
    assert!(matches!(
        refused(&auth, &foreign).await,
        AuthError::InvalidSignature
    ));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn old_hub_tokens_expire(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let max_age = 30 * 86400;
    let fresh = mint_hub_token(&seed(), "alice.3bot", now() - max_age + 60);
    assert!(auth.authenticate(Some(&bearer(&fresh)), None).await.is_ok());
    let old = mint_hub_token(&seed(), "alice.3bot", now() - max_age - 60);
    let err = refused(&auth, &old).await;
    assert!(matches!(err, AuthError::TokenExpired));
    assert_eq!(
        (err.status().as_u16(), err.message()),
        (401, "token expired")
    );
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn revoke_all_refuses_earlier_hub_tokens(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let before = mint_hub_token(&seed(), "alice.3bot", now() - 10);
    let other_user = mint_hub_token(&seed(), "bob.3bot", now() - 10);
    assert!(
        auth.authenticate(Some(&bearer(&before)), None)
            .await
            .is_ok()
    );

    let revoked_at = auth.revoke_all("alice.3bot").await.expect("db");
    let err = refused(&auth, &before).await;
    assert!(matches!(err, AuthError::TokenRevoked));
    assert_eq!(
        (err.status().as_u16(), err.message()),
        (401, "token revoked")
    );
    // Other users are unaffected; tokens minted after the revocation work.
    assert!(
        auth.authenticate(Some(&bearer(&other_user)), None)
            .await
            .is_ok()
    );
    let after = mint_hub_token(&seed(), "alice.3bot", revoked_at.timestamp() + 1);
    assert!(auth.authenticate(Some(&bearer(&after)), None).await.is_ok());
    // The minting helper of the authenticator dates tokens now.
    let minted = auth.mint_hub_token("dave.3bot").expect("seed configured");
    assert!(
        auth.authenticate(Some(&bearer(&minted)), None)
            .await
            .is_ok()
    );
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn hub_tokens_without_a_seed_cannot_verify(pool: PgPool) {
    let config = AuthConfig {
        threebot_seed: None,
        ..config()
    };
    let auth = authenticator(&config, pool).await;
    let token = mint_hub_token(&seed(), "alice.3bot", now());
    assert!(matches!(
        refused(&auth, &token).await,
        AuthError::InvalidSignature
    ));
    assert!(auth.mint_hub_token("alice.3bot").is_err());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn external_jwt_scopes_other_than_memberof_grant_no_account(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    for scope in [
        "user:email:bob",
        "user:name:bob",
        "bob:bob:bob",
        "user:memberof",
    ] {
        let token = sign(
            Algorithm::ES384,
            "es384-private.pem",
            &claims("alice", &[scope]),
        );
        let identity = auth
            .authenticate(Some(&bearer(&token)), None)
            .await
            .expect("valid jwt");
        assert_eq!(identity.accounts, ["alice"], "{scope}");
        let err = auth
            .authenticate(Some(&bearer(&token)), Some("bob"))
            .await
            .expect_err("the scope must not make alice bob");
        assert!(matches!(err, AuthError::Forbidden), "{scope}: {err:?}");
    }
    // Membership scopes still grant the organisation, also with trailing fields.
    for scope in ["user:memberof:acme", "user:memberof:acme:admin"] {
        let token = sign(
            Algorithm::ES384,
            "es384-private.pem",
            &claims("alice", &[scope]),
        );
        let identity = auth
            .authenticate(Some(&bearer(&token)), Some("acme"))
            .await
            .expect("member of acme");
        assert_eq!(identity.user, "acme", "{scope}");
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn external_jwts_expired_beyond_the_clock_skew_are_refused(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let mut late = claims("alice", &[]);
    // Well inside jsonwebtoken's default 60 s leeway, well outside the hub's 5 s default.
    late["exp"] = json!(now() - 30);
    let token = sign(Algorithm::ES384, "es384-private.pem", &late);
    assert!(matches!(
        refused(&auth, &token).await,
        AuthError::InvalidToken
    ));
    // Within the skew it is still accepted: clocks are never quite in step.
    late["exp"] = json!(now() - 2);
    let token = sign(Algorithm::ES384, "es384-private.pem", &late);
    assert!(auth.authenticate(Some(&bearer(&token)), None).await.is_ok());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn future_dated_hub_tokens_are_refused(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    // A token dated far ahead would outlive any `revoke-all` and never age.
    for ahead in [60, 365 * 86400] {
        let token = mint_hub_token(&seed(), "alice.3bot", now() + ahead);
        let err = refused(&auth, &token).await;
        assert!(
            matches!(err, AuthError::TokenNotYetValid),
            "{ahead}: {err:?}"
        );
        assert_eq!(
            (err.status().as_u16(), err.message()),
            (401, "token not yet valid")
        );
    }
    // Within the allowed clock skew it is accepted.
    let token = mint_hub_token(&seed(), "alice.3bot", now() + 2);
    assert!(auth.authenticate(Some(&bearer(&token)), None).await.is_ok());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn future_dated_hub_tokens_cannot_survive_revoke_all(pool: PgPool) {
    let auth = authenticator(&config(), pool).await;
    let future = mint_hub_token(&seed(), "alice.3bot", now() + 3600);
    auth.revoke_all("alice.3bot").await.expect("db");
    assert!(
        auth.authenticate(Some(&bearer(&future)), None)
            .await
            .is_err()
    );
}
