//! What a job is and where it stands: kinds, states, merge modes, each with one spelling used
//! by the database, the queue subjects and the APIs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that names none of the values of a closed set (a job kind, state or merge mode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    /// What was being named: `job kind`, `job state`, `merge mode`.
    pub what: &'static str,
    /// The string that was given.
    pub value: String,
}

/// Declares a closed set of names: the enum, `ALL`, `as_str`, `Display`, `FromStr` and serde as
/// that string (and, with the `utoipa` feature, its OpenAPI schema: an enum of those strings),
/// from one table.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident, $what:literal, $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The one spelling of the value (database, subjects, APIs).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Written out rather than derived: the derive does not see the `serde(rename)` of a
        // macro argument and would spell the variants' Rust names.
        #[cfg(feature = "utoipa")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::ALL.map(Self::as_str)))
                    .description(Some(concat!("A ", $what)))
                    .into()
            }
        }

        #[cfg(feature = "utoipa")]
        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| UnknownName { what: $what, value: s.to_owned() })
            }
        }
    };
}

named! {
    /// The four job families, one queue subject and one worker binary each.
    JobKind, "job kind",
    /// `.tar.gz` upload → flist.
    Convert => "convert",
    /// Container image → flist.
    Docker => "docker",
    /// Several flists → one.
    Merge => "merge",
    /// Homemade flist upload: check its chunks, publish it unchanged.
    Verify => "verify",
}

named! {
    /// Where a job is in its life.
    JobState, "job state",
    /// Waiting for a worker (also between retries).
    Queued => "queued",
    /// A worker holds it.
    Running => "running",
    /// Done; the result is published.
    Succeeded => "succeeded",
    /// Gave up; its failure says why.
    Failed => "failed",
    /// Cancelled by a user before it finished.
    Cancelled => "cancelled",
}

impl JobState {
    /// Whether the state is final.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

named! {
    /// How the sources of a merge are combined.
    MergeMode, "merge mode",
    /// The first source wins per path (the original hub's merge, and the default).
    Union => "union",
    /// Later sources replace earlier ones per path.
    Overlay => "overlay",
}

impl MergeMode {
    /// The mode a request names; an absent or empty parameter is the default, [`Self::Union`].
    pub fn from_request(text: Option<&str>) -> Result<Self, UnknownName> {
        match text {
            None | Some("") => Ok(Self::Union),
            Some(text) => text.parse(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for kind in JobKind::ALL {
            assert_eq!(kind.as_str().parse::<JobKind>().ok(), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
        for state in JobState::ALL {
            assert_eq!(state.to_string().parse::<JobState>().ok(), Some(state));
        }
        for mode in MergeMode::ALL {
            assert_eq!(mode.as_str().parse::<MergeMode>().ok(), Some(mode));
        }
        let names: Vec<_> = JobKind::ALL.map(JobKind::as_str).to_vec();
        assert_eq!(names, ["convert", "docker", "merge", "verify"]);
        assert_eq!(
            "build".parse::<JobKind>().map_err(|e| e.to_string()),
            Err("unknown job kind `build`".to_owned())
        );
    }

    #[test]
    fn only_final_states_are_terminal() {
        let terminal: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|state| state.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [JobState::Succeeded, JobState::Failed, JobState::Cancelled]
        );
    }

    #[test]
    fn merge_mode_defaults_to_union() {
        assert_eq!(MergeMode::from_request(None), Ok(MergeMode::Union));
        assert_eq!(MergeMode::from_request(Some("")), Ok(MergeMode::Union));
        assert_eq!(
            MergeMode::from_request(Some("overlay")),
            Ok(MergeMode::Overlay)
        );
        assert!(MergeMode::from_request(Some("Union")).is_err());
    }
}
