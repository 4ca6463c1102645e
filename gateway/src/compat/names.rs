//! Names taken from URLs by the original hub's routes (hub-api §3.1, §3.5).
//!
//! Created names go through hub-model's validators; names that only read are looked up exactly
//! as given, except that a name PostgreSQL cannot even store (a NUL byte) is answered as
//! missing right away instead of failing the query.

pub use hub_model::names::flist_name;
use hub_model::names::{created_flist_name, validate_repository_name, validate_tag_name};

use crate::error::{ApiError, ApiResult, ErrorKind};

/// A name read from the URL that can be looked up; otherwise the `missing` answer (no stored
/// entry can have a NUL byte, and PostgreSQL refuses it in a query).
pub fn readable(name: &str, missing: ErrorKind) -> ApiResult<&str> {
    if name.contains('\0') {
        Err(ApiError::new(missing))
    } else {
        Ok(name)
    }
}

/// A flist or link name about to be created, normalised (hub-api §3.1) and validated (hub-api
/// §3.5).
pub fn created_flist(name: &str) -> ApiResult<String> {
    Ok(created_flist_name(name)?)
}

/// A tag name about to be created (hub-api §3.5).
pub fn created_tag(name: &str) -> ApiResult<&str> {
    validate_tag_name(name)?;
    Ok(name)
}

/// The caller's repository, which a write is about to create on demand (hub-api D16): it must be a
/// valid, non-reserved repository name (hub-api §3.4, §3.5).
pub fn writable_repository(name: &str) -> ApiResult<&str> {
    validate_repository_name(name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_names_are_validated() {
        assert_eq!(created_flist("app").ok().as_deref(), Some("app.flist"));
        assert_eq!(created_flist("x@1:2").ok().as_deref(), Some("x@1:2.flist"));
        for bad in ["..", ".hidden", "a/b", "a\0b", "<b>", ""] {
            let err = created_flist(bad).expect_err(bad);
            assert_eq!(err.message(), "invalid flist name");
        }
        // 251 bytes pass alone, but not with `.flist` appended (257 bytes).
        assert!(created_flist(&"a".repeat(251)).is_err());
        assert!(created_tag("v1.0").is_ok());
        assert_eq!(
            created_tag("../x").expect_err("tag").message(),
            "invalid tag name"
        );
        assert_eq!(
            writable_repository("upload")
                .expect_err("reserved")
                .message(),
            "invalid repository name"
        );
    }

    #[test]
    fn nul_bytes_are_missing() {
        assert!(readable("ok", ErrorKind::SOURCE_NOT_FOUND).is_ok());
        let err = readable("a\0", ErrorKind::USER_NOT_FOUND).expect_err("nul");
        assert_eq!(err.status(), http::StatusCode::NOT_FOUND);
        assert_eq!(err.message(), "user not found");
    }
}
