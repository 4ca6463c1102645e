//! Errors of the guard ([`AuthError`], rendered to clients) and of the account and token
//! operations ([`StoreError`], for the gateway's handlers and the admin CLI).

use http::StatusCode;

use hub_model::names::NameError;

/// Why a request was not authenticated. `status()` and `message()` give the HTTP status and the
/// exact message clients match on (hub-api §14: error message catalogue) for the
/// `{"status": "error", "message": …}` body.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Read-only mode refuses every authenticated route, with 403 (the original's 400 was its
    /// known defect D24).
    #[error("readonly mode")]
    ReadOnly,
    /// No `Authorization` header.
    #[error("no authorization provided")]
    NoAuthorization,
    /// The header is not `bearer <token>`.
    #[error("invalid authorization header")]
    InvalidHeader,
    /// A dotted bearer value that is not a valid JWT of a configured issuer.
    #[error("invalid token")]
    InvalidToken,
    /// A hub token whose signature or payload does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// A hub token older than the configured maximum age.
    #[error("token expired")]
    TokenExpired,
    /// A hub token dated further in the future than the allowed clock skew: it would outlive
    /// `revoke-all` and never age.
    #[error("token not yet valid")]
    TokenNotYetValid,
    /// A token issued before its user's revocation time, or revoked by `jti`.
    #[error("token revoked")]
    TokenRevoked,
    /// The `active-user` cookie names an account the caller does not have.
    #[error("active user not allowed")]
    Forbidden,
    /// A local account login failed; the message never says whether the user exists.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The database or a background task failed; details stay in the source chain.
    #[error("internal error")]
    Internal(#[from] StoreError),
}

impl AuthError {
    /// HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ReadOnly | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::InvalidHeader => StatusCode::BAD_REQUEST,
            Self::NoAuthorization
            | Self::InvalidToken
            | Self::InvalidSignature
            | Self::TokenExpired
            | Self::TokenNotYetValid
            | Self::TokenRevoked
            | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message for the client. For [`AuthError::Internal`] it is generic on purpose: log the
    /// error's source instead.
    pub fn message(&self) -> &'static str {
        match self {
            Self::ReadOnly => "readonly mode",
            Self::NoAuthorization => "no authorization provided",
            Self::InvalidHeader => "invalid authorization header",
            Self::InvalidToken => "invalid token",
            Self::InvalidSignature => "invalid signature",
            Self::TokenExpired => "token expired",
            Self::TokenNotYetValid => "token not yet valid",
            Self::TokenRevoked => "token revoked",
            Self::Forbidden => "active user not allowed",
            Self::InvalidCredentials => "invalid username or password",
            Self::Internal(_) => "internal error",
        }
    }

    /// Whether the caller presented a credential that did not authenticate (a wrong, forged,
    /// expired or revoked token, a wrong password): what a guessing attack produces, and what
    /// the gateway throttles per client address. A missing or malformed header, read-only mode,
    /// a refused `active-user` and internal failures are not.
    pub fn is_credential_failure(&self) -> bool {
        matches!(
            self,
            Self::InvalidToken
                | Self::InvalidSignature
                | Self::TokenExpired
                | Self::TokenNotYetValid
                | Self::TokenRevoked
                | Self::InvalidCredentials
        )
    }
}

/// An account or token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL failed.
    #[error("database error: {0}")]
    Database(#[from] hub_db::DbError),
    /// A user, organisation or local account name is not a valid repository name.
    #[error("{0}")]
    InvalidName(#[from] NameError),
    /// The local account already exists.
    #[error("user {0} already exists")]
    UserExists(String),
    /// A password is empty or longer than the accepted maximum.
    #[error("password must be 1 to {max} bytes")]
    InvalidPassword {
        /// Longest accepted password in bytes.
        max: usize,
    },
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// A token lifetime is zero or too large to represent.
    #[error("invalid token lifetime")]
    InvalidLifetime,
    /// Signing a JWT failed.
    #[error("token signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
    /// A feature needs configuration that is absent.
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// A blocking task (password hashing) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_errors_map_to_catalogue_statuses() {
        let cases = [
            (AuthError::ReadOnly, 403, "readonly mode"),
            (AuthError::NoAuthorization, 401, "no authorization provided"),
            (
                AuthError::InvalidHeader,
                400,
                "invalid authorization header",
            ),
            (AuthError::InvalidToken, 401, "invalid token"),
            (AuthError::InvalidSignature, 401, "invalid signature"),
            (AuthError::TokenExpired, 401, "token expired"),
            (AuthError::TokenNotYetValid, 401, "token not yet valid"),
            (AuthError::TokenRevoked, 401, "token revoked"),
            (AuthError::Forbidden, 403, "active user not allowed"),
            (
                AuthError::InvalidCredentials,
                401,
                "invalid username or password",
            ),
            (
                AuthError::Internal(StoreError::NotConfigured("x")),
                500,
                "internal error",
            ),
        ];
        for (error, status, message) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.message(), message);
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn only_presented_credentials_count_as_failures() {
        assert!(AuthError::InvalidToken.is_credential_failure());
        assert!(AuthError::InvalidSignature.is_credential_failure());
        assert!(AuthError::InvalidCredentials.is_credential_failure());
        assert!(!AuthError::NoAuthorization.is_credential_failure());
        assert!(!AuthError::InvalidHeader.is_credential_failure());
        assert!(!AuthError::Forbidden.is_credential_failure());
        assert!(!AuthError::ReadOnly.is_credential_failure());
        assert!(!AuthError::Internal(StoreError::NotConfigured("x")).is_credential_failure());
    }
}
