//! Names of the NATS streams, subjects, consumers and buckets of one hub.

use uuid::Uuid;

use hub_db::jobs::JobKind;

/// The NATS names of a hub, all derived from its `nats_prefix` so several hubs (or test runs)
/// can share a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix` (letters, digits, `_` and `-`, as `hub-config` validates).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The work-queue stream holding every kind's jobs.
    pub fn stream(&self) -> String {
        format!("{}_jobs", self.prefix)
    }

    /// The subject of `kind`'s jobs.
    pub fn job_subject(&self, kind: JobKind) -> String {
        format!("{}.jobs.{kind}", self.prefix)
    }

    /// The durable pull consumer shared by `kind`'s workers.
    pub fn consumer(&self, kind: JobKind) -> String {
        format!("{}_{kind}", self.prefix)
    }

    /// The object-store bucket of staged uploads.
    pub fn uploads_bucket(&self) -> String {
        format!("{}_uploads", self.prefix)
    }

    /// The live events of job `id`.
    pub fn events_subject(&self, id: Uuid) -> String {
        format!("{}.events.{id}", self.prefix)
    }

    /// The live events of every job.
    pub fn all_events(&self) -> String {
        format!("{}.events.*", self.prefix)
    }

    /// Cancellation of job `id`.
    pub fn cancel_subject(&self, id: Uuid) -> String {
        format!("{}.cancel.{id}", self.prefix)
    }

    /// Cancellations of every job.
    pub fn all_cancels(&self) -> String {
        format!("{}.cancel.*", self.prefix)
    }

    /// The job id at the end of an events or cancel subject.
    pub(crate) fn job_id_of(subject: &str) -> Option<Uuid> {
        let (_, id) = subject.rsplit_once('.')?;
        Uuid::try_parse(id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_the_prefix() {
        let names = Names::new("hub");
        assert_eq!(names.stream(), "hub_jobs");
        assert_eq!(names.job_subject(JobKind::Docker), "hub.jobs.docker");
        assert_eq!(names.consumer(JobKind::Merge), "hub_merge");
        assert_eq!(names.uploads_bucket(), "hub_uploads");
        let id = Uuid::new_v4();
        assert_eq!(Names::job_id_of(&names.events_subject(id)), Some(id));
        assert_eq!(Names::job_id_of(&names.cancel_subject(id)), Some(id));
        assert_eq!(Names::job_id_of("hub.events.nope"), None);
    }
}
