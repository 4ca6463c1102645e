//! Reading the protobuf job envelope.

use prost::Message;
use uuid::Uuid;

use hub_db::jobs::JobKind;
use hub_proto::v1::JobEnvelope;
use hub_proto::v1::job_envelope::Payload;

use crate::JobsError;

/// Decode an envelope from a queue message or a job row.
pub fn decode_envelope(bytes: &[u8]) -> Result<JobEnvelope, JobsError> {
    JobEnvelope::decode(bytes).map_err(|err| JobsError::InvalidEnvelope(err.to_string()))
}

/// The kind of job an envelope carries.
pub fn envelope_kind(envelope: &JobEnvelope) -> Result<JobKind, JobsError> {
    match envelope.payload {
        Some(Payload::Convert(_)) => Ok(JobKind::Convert),
        Some(Payload::Docker(_)) => Ok(JobKind::Docker),
        Some(Payload::Merge(_)) => Ok(JobKind::Merge),
        Some(Payload::Verify(_)) => Ok(JobKind::Verify),
        None => Err(JobsError::InvalidEnvelope("no payload".into())),
    }
}

/// The job id of an envelope.
pub fn envelope_job_id(envelope: &JobEnvelope) -> Result<Uuid, JobsError> {
    Uuid::try_parse(&envelope.job_id)
        .map_err(|err| JobsError::InvalidEnvelope(format!("job id `{}`: {err}", envelope.job_id)))
}

/// The staged upload a job reads, if its kind has one; it is deleted when the job ends.
pub fn staged_object(envelope: &JobEnvelope) -> Option<&str> {
    let name = match &envelope.payload {
        Some(Payload::Convert(job)) => &job.staged_object,
        Some(Payload::Verify(job)) => &job.staged_object,
        _ => return None,
    };
    (!name.is_empty()).then_some(name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_proto::v1::{ConvertJob, MergeJob};

    #[test]
    fn envelope_fields_are_read() -> Result<(), JobsError> {
        let id = Uuid::new_v4();
        let envelope = JobEnvelope {
            job_id: id.to_string(),
            payload: Some(Payload::Convert(ConvertJob {
                staged_object: "up-1".into(),
                ..ConvertJob::default()
            })),
            ..JobEnvelope::default()
        };
        let decoded = decode_envelope(&envelope.encode_to_vec())?;
        assert_eq!(envelope_job_id(&decoded)?, id);
        assert_eq!(envelope_kind(&decoded)?, JobKind::Convert);
        assert_eq!(staged_object(&decoded), Some("up-1"));

        let merge = JobEnvelope {
            payload: Some(Payload::Merge(MergeJob::default())),
            ..JobEnvelope::default()
        };
        assert_eq!(staged_object(&merge), None);
        assert!(envelope_job_id(&merge).is_err());
        assert!(envelope_kind(&JobEnvelope::default()).is_err());
        assert!(decode_envelope(&[0xff, 0xff]).is_err());
        Ok(())
    }
}
