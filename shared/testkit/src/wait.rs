//! Polling for a condition that becomes true asynchronously.

use std::future::Future;
use std::time::Duration;

use crate::TestkitError;

/// Poll `condition` every 20 ms until it yields `Some`, for at most `timeout`; `what` names the
/// condition in the timeout error.
pub async fn wait_until<T, E, F, Fut>(
    timeout: Duration,
    what: &str,
    mut condition: F,
) -> Result<T, Box<dyn std::error::Error + Send + Sync>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await.map_err(Into::into)? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TestkitError::Timeout(timeout, what.to_owned()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
