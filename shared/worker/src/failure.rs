//! How conversion failures become job failures: bad input fails at once with hub-convert's
//! code, an unreachable store is retried, anything else is a bug.

use hub_convert::ConvertError;
use hub_jobs::JobError;

/// The job failure for `err`. Input errors keep hub-convert's stable code (`invalid_archive`,
/// `unsafe_path`, …) and its message, which names the offending entry.
pub fn convert_failure(err: ConvertError) -> JobError {
    if err.is_transient() {
        return JobError::transient(err.to_string());
    }
    match &err {
        // The gateway answers `invalid archive: <message>` (hub-api §14): the detail alone,
        // after the entry it concerns, reads best there and in the job API.
        ConvertError::InvalidArchive { entry, detail } => {
            let message = match entry {
                Some(entry) => format!("{entry:?}: {detail}"),
                None => detail.clone(),
            };
            JobError::invalid_as(err.code(), message)
        }
        ConvertError::UnknownFormat
        | ConvertError::UnsafePath { .. }
        | ConvertError::LimitExceeded { .. }
        | ConvertError::DeviceNotAllowed { .. }
        | ConvertError::InvalidInput(_)
        // A source's block missing or damaged (merging across formats reads blocks): retrying
        // cannot help, and it is the data's fault, not the hub's.
        | ConvertError::MissingBlock { .. }
        | ConvertError::CorruptBlock { .. } => JobError::invalid_as(err.code(), err.to_string()),
        _ => JobError::internal(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_store::StoreError;

    #[test]
    fn input_errors_keep_their_code_and_entry() {
        let err = convert_failure(ConvertError::UnsafePath {
            entry: "../etc/passwd".into(),
            reason: "leaves the root".into(),
        });
        assert_eq!(err.code(), "unsafe_path");
        assert!(err.to_string().contains("../etc/passwd"), "{err}");
        let limit = convert_failure(ConvertError::LimitExceeded {
            limit: "max_entries",
            value: 11,
            max: 10,
        });
        assert_eq!(limit.code(), "limit_exceeded");
        assert_eq!(
            convert_failure(ConvertError::UnknownFormat).code(),
            "unknown_format"
        );
    }

    #[test]
    fn store_outages_are_retried_and_the_rest_is_internal() {
        let down = convert_failure(ConvertError::Store(StoreError::Unavailable {
            url: "zdb://h".into(),
            reason: "refused".into(),
        }));
        assert!(matches!(down, JobError::Transient { .. }));
        let bug = convert_failure(ConvertError::Internal("worker panicked".into()));
        assert!(matches!(bug, JobError::Internal(_)));
    }
}
