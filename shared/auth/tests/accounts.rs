//! Organisation membership, local accounts and revocation times against the real PostgreSQL.

use hub_auth::{AuthError, AuthStore, StoreError};
use sqlx::PgPool;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn organisation_membership(pool: PgPool) {
    let store = AuthStore::new(pool);
    assert_eq!(store.accounts_of("alice").await.expect("db"), ["alice"]);

    assert!(store.add_member("zeta", "alice").await.expect("db"));
    assert!(store.add_member("acme", "alice").await.expect("db"));
    assert!(!store.add_member("acme", "alice").await.expect("db"));
    assert!(store.add_member("acme", "bob").await.expect("db"));

    assert_eq!(
        store.accounts_of("alice").await.expect("db"),
        ["alice", "acme", "zeta"]
    );
    assert_eq!(store.organisations_of("bob").await.expect("db"), ["acme"]);
    assert_eq!(
        store.members_of("acme").await.expect("db"),
        ["alice", "bob"]
    );

    assert!(store.remove_member("acme", "alice").await.expect("db"));
    assert!(!store.remove_member("acme", "alice").await.expect("db"));
    assert_eq!(
        store.accounts_of("alice").await.expect("db"),
        ["alice", "zeta"]
    );
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn membership_names_must_be_repository_names(pool: PgPool) {
    let store = AuthStore::new(pool);
    for (org, user) in [
        ("../x", "alice"),
        ("acme", "a/b"),
        ("me", "alice"),
        ("", "alice"),
    ] {
        assert!(
            matches!(
                store.add_member(org, user).await,
                Err(StoreError::InvalidName(_))
            ),
            "{org} {user}"
        );
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn local_accounts(pool: PgPool) {
    let store = AuthStore::new(pool.clone());
    store
        .create_local_user("alice", "correct horse")
        .await
        .expect("created");
    assert!(matches!(
        store.create_local_user("alice", "again").await,
        Err(StoreError::UserExists(name)) if name == "alice"
    ));

    store
        .verify_local_password("alice", "correct horse")
        .await
        .expect("right password");
    let wrong = store
        .verify_local_password("alice", "correct horse!")
        .await
        .expect_err("wrong password");
    let unknown = store
        .verify_local_password("nobody", "correct horse")
        .await
        .expect_err("unknown user");
    // Same answer whether or not the user exists.
    for err in [&wrong, &unknown] {
        assert!(matches!(err, AuthError::InvalidCredentials));
        assert_eq!(err.status().as_u16(), 401);
        assert_eq!(err.message(), "invalid username or password");
    }

    // Stored as an argon2id PHC string, never in clear.
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM auth_local_users WHERE name = 'alice'")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));

    assert!(store.set_local_password("alice", "new").await.expect("db"));
    assert!(!store.set_local_password("nobody", "new").await.expect("db"));
    assert!(store.verify_local_password("alice", "new").await.is_ok());
    assert!(
        store
            .verify_local_password("alice", "correct horse")
            .await
            .is_err()
    );
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn local_account_input_is_checked(pool: PgPool) {
    let store = AuthStore::new(pool);
    assert!(matches!(
        store.create_local_user("../root", "pw").await,
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(
        store.create_local_user("alice", "").await,
        Err(StoreError::InvalidPassword { .. })
    ));
    let huge = "x".repeat(2000);
    assert!(matches!(
        store.create_local_user("alice", &huge).await,
        Err(StoreError::InvalidPassword { .. })
    ));
    assert!(matches!(
        store.verify_local_password("alice", &huge).await,
        Err(AuthError::InvalidCredentials)
    ));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn revocation_time_is_per_user_and_moves_forward(pool: PgPool) {
    let store = AuthStore::new(pool);
    assert_eq!(store.revoked_before("alice").await.expect("db"), None);
    let first = store.revoke_all("alice").await.expect("db");
    assert_eq!(
        store.revoked_before("alice").await.expect("db"),
        Some(first)
    );
    assert_eq!(store.revoked_before("bob").await.expect("db"), None);
    let second = store.revoke_all("alice").await.expect("db");
    assert!(second >= first);
    assert_eq!(
        store.revoked_before("alice").await.expect("db"),
        Some(second)
    );
}
