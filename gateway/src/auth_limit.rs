//! Throttling of failed authentications per client address, kept in Redis so every gateway
//! replica shares the count and concurrent requests cannot overshoot it.
//!
//! A fixed one-minute window per address (`limits.auth_failures_per_minute`, 0 = off): every
//! presented credential that does not authenticate ([`AuthError::is_credential_failure`]) adds
//! one, atomically (`INCR`, with the window's expiry set in the same Lua script). The failure
//! that goes over the budget and every request from that address after it, valid credentials
//! included, are answered `429` with `Retry-After` = the seconds left in the window: a guess
//! must not be able to tell a right token from a wrong one while the address is throttled.
//!
//! IPv6 clients are counted per /64, the block one subscriber usually gets, so rotating
//! through one's own addresses does not reset the budget.
//!
//! When Redis is unreachable the throttle fails open (logged at `warn`), like the other limits
//! ([`crate::limits`]).

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use axum::http::HeaderValue;
use hub_auth::{AuthError, Identity};

use crate::error::{ApiError, ErrorKind};
use crate::limits::COUNT_IN_WINDOW;
use crate::state::AppState;

/// Length of the counting window.
const WINDOW: Duration = Duration::from_secs(60);

/// `KEYS[1]` counter. Returns `{count, ms left}` without counting.
static PEEK_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
return {count, redis.call('PTTL', KEYS[1])}
",
    )
});

/// The API guard ([`hub_auth::Authenticator::authenticate`]) for a request from `client`,
/// with failed authentications throttled per address. `client` is `None` when the address is
/// unknown; the request is then not throttled.
pub async fn authenticate(
    state: &AppState,
    client: Option<IpAddr>,
    authorization: Option<&HeaderValue>,
    active_user_cookie: Option<&str>,
) -> Result<Identity, ApiError> {
    let throttle = Throttle::check(state, client).await?;
    match state
        .auth
        .authenticate(authorization, active_user_cookie)
        .await
    {
        Ok(identity) => Ok(identity),
        Err(error) if error.is_credential_failure() => Err(throttle.failed(state, error).await),
        Err(error) => Err(error.into()),
    }
}

/// The failed-authentication budget of one client address, checked before authenticating.
#[derive(Debug)]
pub struct Throttle {
    /// `None` when throttling is off, authentication disabled or the address unknown.
    key: Option<String>,
    budget: u32,
}

impl Throttle {
    /// Refuse with `429` a `client` that already used up its budget; otherwise the handle to
    /// count a failure with.
    pub async fn check(state: &AppState, client: Option<IpAddr>) -> Result<Self, ApiError> {
        let budget = state.config.limits.auth_failures_per_minute;
        // Without authentication nothing can fail; spare Redis the round trip.
        let key = client
            .filter(|_| budget > 0 && state.auth.is_enabled())
            .map(|client| key(state, client));
        if let Some(key) = &key
            && let Some((count, ttl_ms)) = run(state, &PEEK_SCRIPT, key).await
            && count >= u64::from(budget)
        {
            return Err(throttled(ttl_ms));
        }
        Ok(Self { key, budget })
    }

    /// Count a failed authentication; the answer is `error` itself within the budget, `429`
    /// beyond it.
    pub async fn failed(&self, state: &AppState, error: AuthError) -> ApiError {
        let Some(key) = &self.key else {
            return error.into();
        };
        match run(state, &COUNT_IN_WINDOW, key).await {
            // The count is atomic: of N failures racing in parallel exactly the first `budget`
            // are told why, the rest are throttled.
            Some((count, ttl_ms)) if count > u64::from(self.budget) => throttled(ttl_ms),
            _ => error.into(),
        }
    }
}

/// Redis key of `client`'s failures, under the deployment's namespace.
fn key(state: &AppState, client: IpAddr) -> String {
    format!(
        "{}:limits:auth-failures:{}",
        state.config.common.nats_prefix,
        counted_address(client)
    )
}

/// The address a failure is counted against: IPv4 (also when IPv4-mapped in IPv6) as is,
/// IPv6 as its /64 prefix.
fn counted_address(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Run one of the scripts; `None` (fail open, logged) when Redis does not answer.
async fn run(state: &AppState, script: &redis::Script, key: &str) -> Option<(u64, i64)> {
    let mut redis = state.redis.clone();
    let result: redis::RedisResult<(u64, i64)> = script
        .key(key)
        .arg(u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX))
        .invoke_async(&mut redis)
        .await;
    match result {
        Ok(answer) => Some(answer),
        Err(error) => {
            tracing::warn!(%error, "failed-authentication throttle unavailable; request allowed");
            None
        }
    }
}

/// `429` with `Retry-After` = the seconds left in the window (at least 1).
fn throttled(ttl_ms: i64) -> ApiError {
    let retry_after = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000).max(1);
    ApiError::new(ErrorKind::AuthThrottled).with_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let address = |text: &str| counted_address(text.parse().expect("address"));
        assert_eq!(address("203.0.113.7"), "203.0.113.7");
        assert_eq!(address("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            address("2001:db8:1:2:aaaa::1"),
            address("2001:db8:1:2:bbbb::2")
        );
        assert_eq!(address("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(address("2001:db8:1:2::1"), address("2001:db8:1:3::1"));
    }

    #[test]
    fn throttled_answers_429_with_retry_after() {
        let error = throttled(12_345);
        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        let response = axum::response::IntoResponse::into_response(error);
        assert_eq!(response.headers()["retry-after"], "13");
        assert_eq!(
            axum::response::IntoResponse::into_response(throttled(-2)).headers()["retry-after"],
            "1"
        );
    }
}
