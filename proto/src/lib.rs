//! Protobuf messages and the gRPC service of the hub, generated from `proto/hub/v1/*.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]

/// Version 1 of the hub's protobuf package `hub.v1`.
pub mod v1 {
    tonic::include_proto!("hub.v1");
}

/// Conversions between the protobuf enums and hub-model's types: one `From` each way, the
/// only place the two vocabularies meet. The protobuf enums' `UNSPECIFIED` (proto3's zero)
/// converts to `None`.
mod convert {
    use super::v1;

    impl From<hub_model::Format> for v1::FlistFormat {
        fn from(format: hub_model::Format) -> Self {
            match format {
                hub_model::Format::Flist => Self::Flist,
                hub_model::Format::Fl => Self::Fl,
            }
        }
    }

    impl From<v1::FlistFormat> for Option<hub_model::Format> {
        fn from(format: v1::FlistFormat) -> Self {
            match format {
                v1::FlistFormat::Flist => Some(hub_model::Format::Flist),
                v1::FlistFormat::Fl => Some(hub_model::Format::Fl),
                v1::FlistFormat::Unspecified => None,
            }
        }
    }

    impl From<hub_model::MergeMode> for v1::MergeMode {
        fn from(mode: hub_model::MergeMode) -> Self {
            match mode {
                hub_model::MergeMode::Union => Self::Union,
                hub_model::MergeMode::Overlay => Self::Overlay,
            }
        }
    }

    impl From<v1::MergeMode> for hub_model::MergeMode {
        fn from(mode: v1::MergeMode) -> Self {
            match mode {
                v1::MergeMode::Union => Self::Union,
                v1::MergeMode::Overlay => Self::Overlay,
            }
        }
    }

    impl From<hub_model::JobKind> for v1::JobKind {
        fn from(kind: hub_model::JobKind) -> Self {
            match kind {
                hub_model::JobKind::Convert => Self::Convert,
                hub_model::JobKind::Docker => Self::Docker,
                hub_model::JobKind::Merge => Self::Merge,
                hub_model::JobKind::Verify => Self::Verify,
            }
        }
    }

    impl From<v1::JobKind> for Option<hub_model::JobKind> {
        fn from(kind: v1::JobKind) -> Self {
            match kind {
                v1::JobKind::Convert => Some(hub_model::JobKind::Convert),
                v1::JobKind::Docker => Some(hub_model::JobKind::Docker),
                v1::JobKind::Merge => Some(hub_model::JobKind::Merge),
                v1::JobKind::Verify => Some(hub_model::JobKind::Verify),
                v1::JobKind::Unspecified => None,
            }
        }
    }

    impl From<hub_model::JobState> for v1::JobState {
        fn from(state: hub_model::JobState) -> Self {
            match state {
                hub_model::JobState::Queued => Self::Queued,
                hub_model::JobState::Running => Self::Running,
                hub_model::JobState::Succeeded => Self::Succeeded,
                hub_model::JobState::Failed => Self::Failed,
                hub_model::JobState::Cancelled => Self::Cancelled,
            }
        }
    }

    impl From<v1::JobState> for Option<hub_model::JobState> {
        fn from(state: v1::JobState) -> Self {
            match state {
                v1::JobState::Queued => Some(hub_model::JobState::Queued),
                v1::JobState::Running => Some(hub_model::JobState::Running),
                v1::JobState::Succeeded => Some(hub_model::JobState::Succeeded),
                v1::JobState::Failed => Some(hub_model::JobState::Failed),
                v1::JobState::Cancelled => Some(hub_model::JobState::Cancelled),
                v1::JobState::Unspecified => None,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::v1;

        #[test]
        fn model_values_round_trip_through_the_protobuf_enums() {
            for format in hub_model::Format::ALL {
                assert_eq!(Option::from(v1::FlistFormat::from(format)), Some(format));
            }
            for mode in hub_model::MergeMode::ALL {
                assert_eq!(hub_model::MergeMode::from(v1::MergeMode::from(mode)), mode);
            }
            for kind in hub_model::JobKind::ALL {
                assert_eq!(Option::from(v1::JobKind::from(kind)), Some(kind));
            }
            for state in hub_model::JobState::ALL {
                assert_eq!(Option::from(v1::JobState::from(state)), Some(state));
            }
            let unspecified: Option<hub_model::Format> = v1::FlistFormat::Unspecified.into();
            assert_eq!(unspecified, None);
        }
    }
}
