//! The hub's own revocable JWTs against the real PostgreSQL: minting, listing, revoking.

mod common;

use std::time::Duration;

use common::*;
use hub_auth::config::AuthConfig;
use hub_auth::{AuthError, AuthMethod, Authenticator, StoreError};
use serde_json::json;
use sqlx::PgPool;

async fn authenticator(pool: PgPool) -> Authenticator {
    Authenticator::new(&config(), pool)
        .await
        .expect("configuration is valid")
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn issued_tokens_authenticate_and_are_recorded(pool: PgPool) {
    let auth = authenticator(pool).await;
    auth.store().add_member("acme", "alice").await.expect("db");
    let (token, info) = auth
        .issue_token("alice", Some(Duration::from_secs(600)), "CI of project x")
        .await
        .expect("issued");
    assert_eq!(info.username, "alice");
    assert_eq!(info.description, "CI of project x");
    assert_eq!((info.expires_at - info.created_at).num_seconds(), 600);
    assert_eq!(info.revoked_at, None);

    let identity = auth
        .authenticate(Some(&bearer(&token)), Some("acme"))
        .await
        .expect("hub jwt");
    assert_eq!(identity.method, AuthMethod::HubJwt);
    assert_eq!(identity.username, "alice");
    assert_eq!(identity.user, "acme");
    assert_eq!(identity.accounts, ["alice", "acme"]);

    // The claims the task asks for are present.
    let claims: serde_json::Value =
        jsonwebtoken::dangerous::insecure_decode_claims(&token).expect("claims");
    for name in ["username", "scope", "exp", "iat", "iss", "jti"] {
        assert!(claims.get(name).is_some(), "{name}");
    }
    assert_eq!(claims["jti"], json!(info.jti));
    assert_eq!(claims["iss"], json!(HUB_ISSUER));

    let listed = auth.list_tokens("alice").await.expect("db");
    assert_eq!(listed, [info]);
    assert!(auth.list_tokens("bob").await.expect("db").is_empty());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn default_lifetime_comes_from_the_configuration(pool: PgPool) {
    let auth = authenticator(pool).await;
    let (_, info) = auth.issue_token("alice", None, "").await.expect("issued");
    assert_eq!((info.expires_at - info.created_at).num_seconds(), 3600);
    assert!(matches!(
        auth.issue_token("alice", Some(Duration::ZERO), "").await,
        Err(StoreError::InvalidLifetime)
    ));
    assert!(matches!(
        auth.issue_token("../alice", None, "").await,
        Err(StoreError::InvalidName(_))
    ));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tokens_are_revocable_one_by_one(pool: PgPool) {
    let auth = authenticator(pool).await;
    let (first, first_info) = auth.issue_token("alice", None, "first").await.expect("db");
    let (second, _) = auth.issue_token("alice", None, "second").await.expect("db");

    // Another user cannot revoke alice's token.
    assert!(!auth.revoke_token("bob", first_info.jti).await.expect("db"));
    assert!(
        auth.revoke_token("alice", first_info.jti)
            .await
            .expect("db")
    );
    assert!(
        !auth
            .revoke_token("alice", first_info.jti)
            .await
            .expect("db")
    );

    let err = auth
        .authenticate(Some(&bearer(&first)), None)
        .await
        .expect_err("revoked");
    assert!(matches!(err, AuthError::TokenRevoked));
    assert_eq!(
        (err.status().as_u16(), err.message()),
        (401, "token revoked")
    );
    assert!(
        auth.authenticate(Some(&bearer(&second)), None)
            .await
            .is_ok()
    );

    let listed = auth.list_tokens("alice").await.expect("db");
    assert_eq!(listed.len(), 2);
    let revoked = listed
        .iter()
        .find(|t| t.jti == first_info.jti)
        .expect("listed");
    assert!(revoked.revoked_at.is_some());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn revoke_all_covers_hub_jwts(pool: PgPool) {
    let auth = authenticator(pool).await;
    let (mine, _) = auth.issue_token("alice", None, "").await.expect("db");
    let (theirs, _) = auth.issue_token("bob", None, "").await.expect("db");
    auth.revoke_all("alice").await.expect("db");
    assert!(matches!(
        auth.authenticate(Some(&bearer(&mine)), None).await,
        Err(AuthError::TokenRevoked)
    ));
    assert!(
        auth.authenticate(Some(&bearer(&theirs)), None)
            .await
            .is_ok()
    );
    assert!(
        auth.list_tokens("alice")
            .await
            .expect("db")
            .iter()
            .all(|t| t.revoked_at.is_some())
    );
    // A token issued after the revocation works.
    let (fresh, _) = auth.issue_token("alice", None, "").await.expect("db");
    assert!(auth.authenticate(Some(&bearer(&fresh)), None).await.is_ok());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn unrecorded_or_forged_hub_jwts_are_refused(pool: PgPool) {
    let auth = authenticator(pool.clone()).await;
    let (token, info) = auth.issue_token("alice", None, "").await.expect("db");
    sqlx::query("DELETE FROM auth_tokens WHERE jti = $1")
        .bind(info.jti)
        .execute(&pool)
        .await
        .expect("delete");
    assert!(matches!(
        auth.authenticate(Some(&bearer(&token)), None).await,
        Err(AuthError::TokenRevoked)
    ));

    // Correct secret but expired: refused before any database lookup.
    let expired = json!({
        "username": "alice", "scope": [], "iss": HUB_ISSUER, "aud": HUB_ISSUER,
        "exp": now() - 3600, "iat": now() - 7200, "jti": uuid::Uuid::new_v4(),
    });
    assert!(matches!(
        auth.authenticate(Some(&bearer(&sign_hs256(HUB_SECRET, &expired))), None)
            .await,
        Err(AuthError::InvalidToken)
    ));

    // A recorded jti presented with another user's name (only possible with the secret, but
    // the record must still agree).
    let (_, bob_info) = auth.issue_token("bob", None, "").await.expect("db");
    let swapped = json!({
        "username": "alice", "scope": [], "iss": HUB_ISSUER, "aud": HUB_ISSUER,
        "exp": now() + 3600, "iat": now(), "jti": bob_info.jti,
    });
    assert!(matches!(
        auth.authenticate(Some(&bearer(&sign_hs256(HUB_SECRET, &swapped))), None)
            .await,
        Err(AuthError::InvalidToken)
    ));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn expired_records_can_be_purged(pool: PgPool) {
    let auth = authenticator(pool).await;
    let (_, info) = auth
        .issue_token("alice", Some(Duration::from_secs(60)), "")
        .await
        .expect("db");
    let purged = auth
        .store()
        .delete_expired_tokens(info.expires_at)
        .await
        .expect("db");
    assert_eq!(purged, 0);
    let purged = auth
        .store()
        .delete_expired_tokens(info.expires_at + chrono::Duration::seconds(1))
        .await
        .expect("db");
    assert_eq!(purged, 1);
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn issuing_needs_the_hub_issuer(pool: PgPool) {
    let config = AuthConfig {
        hub_jwt: None,
        ..config()
    };
    let auth = Authenticator::new(&config, pool).await.expect("valid");
    assert!(matches!(
        auth.issue_token("alice", None, "").await,
        Err(StoreError::NotConfigured("hub_jwt"))
    ));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn hub_jwts_expired_beyond_the_clock_skew_are_refused(pool: PgPool) {
    let auth = authenticator(pool).await;
    let (token, info) = auth.issue_token("alice", None, "").await.expect("db");
    let mut claims: serde_json::Value =
        jsonwebtoken::dangerous::insecure_decode_claims(&token).expect("claims");
    assert_eq!(claims["jti"], json!(info.jti));
    // The same recorded token, expired 30 s ago: inside jsonwebtoken's default 60 s leeway,
    // outside the hub's default clock skew.
    claims["exp"] = json!(now() - 30);
    let late = sign_hs256(HUB_SECRET, &claims);
    assert!(matches!(
        auth.authenticate(Some(&bearer(&late)), None).await,
        Err(AuthError::InvalidToken)
    ));
    claims["exp"] = json!(now() - 2);
    let within_skew = sign_hs256(HUB_SECRET, &claims);
    assert!(
        auth.authenticate(Some(&bearer(&within_skew)), None)
            .await
            .is_ok()
    );
}
