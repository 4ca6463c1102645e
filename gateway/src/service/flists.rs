//! Reading published flists: lookups with the catalogue's messages, contents dumps, the public
//! metadata, and which repositories are official.

use hub_db::entries::{self, Lookup};
use serde::Serialize;
use serde_json::Value;

use crate::compat::body::JsonBody;
use crate::compat::dump;
use crate::compat::names::{flist_name, readable};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::state::AppState;

/// Whether repository `name` is flagged `official` (hub-api §4.7: without authentication,
/// only `Administrator` is).
pub fn is_official(state: &AppState, name: &str) -> bool {
    if state.auth.is_enabled() {
        state.config.official_repositories.iter().any(|o| o == name)
    } else {
        name == hub_auth::ADMINISTRATOR
    }
}

/// Look up `flist` in `repo` (the name normalised as hub-api §3.1 says: `.flist` appended
/// unless a flist extension is there), following links, with the catalogue messages.
pub async fn lookup(state: &AppState, repo: &str, flist: &str) -> ApiResult<(String, Lookup)> {
    let repo = readable(repo, ErrorKind::USER_NOT_FOUND)?;
    let name = flist_name(readable(flist, ErrorKind::SOURCE_NOT_FOUND)?).into_owned();
    let found = entries::lookup(&state.pool, repo, &name).await?;
    Ok((name, found))
}

/// The contents dump of `repo/flist` (hub-api §6.6, and §7.2's GET); a dangling pointer is
/// `source not found`.
pub async fn contents(state: &AppState, repo: &str, flist: &str) -> ApiResult<JsonBody> {
    let (_, found) = lookup(state, repo, flist).await?;
    let target = found
        .target
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorKind::SOURCE_NOT_FOUND))?;
    dump::contents_dump(state, target).await
}

/// The `backend-forced` object, in the original's key order.
#[derive(Debug, PartialEq, Serialize)]
pub struct ForcedBackend<'a> {
    host: &'a str,
    port: u16,
    namespace: &'a str,
}

/// One metadata value as served.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetadataValue<'a> {
    /// A value of the flist's table.
    Stored(Value),
    /// The public backend applying to a flist without `backend`.
    Forced(ForcedBackend<'a>),
}

/// Metadata members in order (the table's keys sorted, then `backend-forced`).
#[derive(Debug, PartialEq)]
pub struct MetadataJson<'a>(pub Vec<(String, MetadataValue<'a>)>);

impl Serialize for MetadataJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The metadata as served: string values that hold JSON parsed (the original `json.loads`-ed every
/// value), secrets removed from `backend` (hub-api D13), and `backend-forced` naming the public
/// backend when the flist has no `backend`.
pub fn public_metadata<'a>(
    stored: &Value,
    host: &'a str,
    port: u16,
    namespace: &'a str,
) -> MetadataJson<'a> {
    let mut out = Vec::new();
    if let Value::Object(table) = stored {
        for (key, value) in table {
            let mut value = match value {
                Value::String(text) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
                other => other.clone(),
            };
            if key == hub_flist::BACKEND_KEY
                && let Value::Object(backend) = &mut value
            {
                backend.remove("password");
                backend.remove("token");
            }
            out.push((key.clone(), MetadataValue::Stored(value)));
        }
    }
    if !out.iter().any(|(key, _)| key == hub_flist::BACKEND_KEY) {
        out.push((
            "backend-forced".to_owned(),
            MetadataValue::Forced(ForcedBackend {
                host,
                port,
                namespace,
            }),
        ));
    }
    MetadataJson(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_values_are_parsed_and_backend_secrets_removed() {
        let stored = json!({
            "backend": "{\"host\": \"h\", \"port\": 9900, \"namespace\": \"ns\", \"password\": \"p\", \"token\": \"t\"}",
            "readme": "{\"readme\": \"# hi\"}",
            "plain": "not json",
        });
        let served = public_metadata(&stored, "pub", 9900, "default");
        assert_eq!(
            serde_json::to_value(&served).expect("json"),
            json!({
                "backend": {"host": "h", "port": 9900, "namespace": "ns"},
                "readme": {"readme": "# hi"},
                "plain": "not json",
            })
        );
    }

    #[test]
    fn backend_forced_when_the_flist_has_none() {
        let served = public_metadata(&json!({}), "hub.grid.tf", 9900, "default");
        assert_eq!(
            String::from_utf8(crate::pyjson::to_vec(&served).expect("json")).expect("utf-8"),
            "{\"backend-forced\": {\"host\": \"hub.grid.tf\", \"port\": 9900, \"namespace\": \"default\"}}\n"
        );
    }
}
