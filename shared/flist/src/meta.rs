//! Flist-level settings: the `.flist` `metadata` table, the `.fl` `tag` and `route` tables.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FlistError;

/// Key of the `.flist` backend setting (flist-formats §A.8).
pub const BACKEND_KEY: &str = "backend";

/// The settings whose values have a defined JSON shape (flist-formats §A.8). Readers parse them
/// strictly (a malformed `backend` makes rfs v1 refuse the mount), so the hub writes them itself
/// and never takes them from user-supplied metadata (hub-api §7.9).
pub const STRUCTURED_KEYS: &[&str] = &[
    "readme",
    BACKEND_KEY,
    "entrypoint",
    "environ",
    "port",
    "volume",
];

/// A `.fl` route: block ids whose first byte is in `start..=end` live at `url` (flist-formats
/// §B.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// First id byte covered (inclusive).
    pub start: u8,
    /// Last id byte covered (inclusive).
    pub end: u8,
    /// Store URL (`zdb://…`, `dir://…`, `s3://…`).
    pub url: String,
}

/// Settings stored next to the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `.flist` `metadata` rows or `.fl` `tag` rows, raw TEXT values.
    pub values: BTreeMap<String, String>,
    /// `.fl` routes, in table order (`.flist` has none).
    pub routes: Vec<Route>,
}

/// The `.flist` `backend` setting: where the chunks are (flist-formats §A.8).
///
/// Deserialisation is as strict as rfs v1's: `host` a string, `port` an integer 0–65535.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// 0-db host name or address.
    pub host: String,
    /// 0-db port.
    pub port: u16,
    /// Namespace; `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Namespace password (flists meant for nodes must not carry one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Upload-gateway token (zflist only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix socket path (ignored by node readers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

impl Metadata {
    /// The value parsed as JSON, or as a JSON string when it is not JSON (what the tools do).
    pub fn get_json(&self, key: &str) -> Option<serde_json::Value> {
        let raw = self.values.get(key)?;
        Some(serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.clone())))
    }

    /// Stores `value` as JSON text.
    pub fn set_json(&mut self, key: &str, value: &serde_json::Value) {
        self.values.insert(key.to_owned(), value.to_string());
    }

    /// The `backend` setting: `None` when absent, an error when present but invalid (rfs v1
    /// would then refuse to mount).
    pub fn backend(&self) -> Result<Option<Backend>, FlistError> {
        match self.values.get(BACKEND_KEY) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw)
                .map(Some)
                .map_err(FlistError::BadBackend),
        }
    }

    /// Replaces the `backend` setting.
    pub fn set_backend(&mut self, backend: &Backend) {
        // Serialising a struct of strings and integers cannot fail.
        let text = serde_json::to_string(backend).unwrap_or_default();
        self.values.insert(BACKEND_KEY.to_owned(), text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values() {
        let mut m = Metadata::default();
        m.set_json("entrypoint", &json!(["/bin/sh", "-c"]));
        m.values.insert("note".into(), "plain text".into());
        assert_eq!(m.get_json("entrypoint"), Some(json!(["/bin/sh", "-c"])));
        assert_eq!(m.get_json("note"), Some(json!("plain text")));
        assert_eq!(m.get_json("missing"), None);
    }

    #[test]
    fn backend_round_trip() -> Result<(), FlistError> {
        let mut m = Metadata::default();
        assert_eq!(m.backend()?, None);
        let b = Backend {
            host: "hub.grid.tf".into(),
            port: 9900,
            namespace: Some("default".into()),
            password: None,
            token: None,
            socket: None,
        };
        m.set_backend(&b);
        assert_eq!(
            m.values.get(BACKEND_KEY).map(String::as_str),
            Some(r#"{"host":"hub.grid.tf","port":9900,"namespace":"default"}"#)
        );
        assert_eq!(m.backend()?, Some(b));
        Ok(())
    }

    #[test]
    fn backend_is_strict() {
        for bad in [
            r#"{"host": "h", "port": "9900"}"#,
            r#"{"host": "h", "port": 70000}"#,
            r#"{"host": "h", "port": 9900.5}"#,
            r#"{"host": 1, "port": 9900}"#,
            r#"{"port": 9900}"#,
            "not json",
        ] {
            let mut m = Metadata::default();
            m.values.insert(BACKEND_KEY.into(), bad.into());
            assert!(
                matches!(m.backend(), Err(FlistError::BadBackend(_))),
                "{bad}"
            );
        }
        let mut m = Metadata::default();
        m.values.insert(
            BACKEND_KEY.into(),
            r#"{"host": "h", "port": 1, "extra": true, "socket": null}"#.into(),
        );
        assert!(matches!(m.backend(), Ok(Some(b)) if b.port == 1 && b.socket.is_none()));
    }
}
