//! Reading what a job asks for from its envelope.

use hub_flist::Format;
use hub_proto::v1::{FlistFormat, JobEnvelope};

/// The output format the job asks for; `None` leaves the choice to the worker.
pub fn requested_format(envelope: &JobEnvelope) -> Option<Format> {
    // Unspecified, or a value from a newer gateway this worker does not know: the worker's.
    FlistFormat::try_from(envelope.format)
        .ok()
        .and_then(Option::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_map_and_unknown_values_mean_unspecified() {
        let with = |format: i32| JobEnvelope {
            format,
            ..JobEnvelope::default()
        };
        assert_eq!(
            requested_format(&with(FlistFormat::Flist as i32)),
            Some(Format::Flist)
        );
        assert_eq!(
            requested_format(&with(FlistFormat::Fl as i32)),
            Some(Format::Fl)
        );
        assert_eq!(requested_format(&with(0)), None);
        assert_eq!(requested_format(&with(42)), None);
    }
}
