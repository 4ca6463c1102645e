//! Waiting on PostgreSQL's own view of the test's sessions.

use std::time::Duration;

use crate::wait_until;

/// Waits until some session of `pool`'s database waits on a lock (a writer queued behind a row
/// lock the test holds), for at most `timeout`.
pub async fn wait_for_lock_waiter(
    pool: &sqlx::PgPool,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    wait_until(timeout, "a session waiting on a lock", || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await?;
        Ok::<_, sqlx::Error>((waiting > 0).then_some(()))
    })
    .await
}
