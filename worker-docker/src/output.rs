//! What a finished conversion becomes: the `backend`/routes the hub writes into every flist,
//! the flist file with its statistics and contents dump, and the job's result.

use hub_config::{ConfigError, PublishConfig};
use hub_db::flists::FlistFormat;
use hub_flist::{Backend, DumpEntry, Flist, Format, Metadata, Route, Tree};
use hub_jobs::FlistFile;
use serde::Serialize;

/// `[publish]`, parsed: what every published flist says about where its chunks are
/// (hub-api 11.1 step 6, flist-formats B.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishTarget {
    /// Format when a job does not choose one.
    pub default_format: Format,
    backend: Backend,
    fl_routes: Vec<Route>,
}

impl PublishTarget {
    /// Parses `config`; errors name the offending key.
    pub fn new(config: &PublishConfig) -> Result<Self, ConfigError> {
        let default_format = match config.default_format.as_str() {
            "fl" => Format::Fl,
            "flist" => Format::Flist,
            other => {
                return Err(ConfigError::invalid(
                    "publish.default_format",
                    format!("`{other}` must be `flist` or `fl`"),
                ));
            }
        };
        let fl_routes = config
            .fl_routes
            .iter()
            .map(|r| parse_route(r))
            .collect::<Result<_, _>>()
            .map_err(|m| ConfigError::invalid("publish.fl_routes", m))?;
        Ok(Self {
            default_format,
            backend: Backend {
                host: config.backend_host.clone(),
                port: config.backend_port,
                namespace: Some(config.backend_namespace.clone()),
                password: None,
                token: None,
                socket: None,
            },
            fl_routes,
        })
    }

    /// The metadata every flist of `format` starts with: `backend` for `.flist`, the
    /// configured routes for `.fl` (none configured: the builder uses the store's own).
    pub fn metadata(&self, format: Format) -> Metadata {
        let mut meta = Metadata::default();
        match format {
            Format::Flist => meta.set_backend(&self.backend),
            Format::Fl => meta.routes = self.fl_routes.clone(),
        }
        meta
    }
}

/// One `[<start hex>-<end hex>=]<url>` route (rfs syntax). URLs must carry no password: the
/// file is public.
fn parse_route(text: &str) -> Result<Route, String> {
    let text = text.trim();
    let scheme = text
        .find("://")
        .ok_or_else(|| format!("route `{text}`: expected <scheme>://…"))?;
    let (range, url) = match text.get(..scheme).and_then(|head| head.find('=')) {
        Some(eq) => (
            text.get(..eq).unwrap_or_default(),
            text.get(eq + 1..).unwrap_or_default(),
        ),
        None => ("", text),
    };
    let (start, end) = if range.is_empty() {
        (0, 255)
    } else {
        let (a, b) = range
            .split_once('-')
            .ok_or_else(|| format!("route `{text}`: a range looks like 00-7f"))?;
        let byte = |s: &str| {
            u8::from_str_radix(s, 16)
                .map_err(|_| format!("route `{text}`: `{s}` is not a hex byte"))
        };
        (byte(a)?, byte(b)?)
    };
    if start > end {
        return Err(format!("route `{text}`: the range starts after its end"));
    }
    let authority = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = authority.split(['/', '?']).next().unwrap_or("");
    if authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
    {
        return Err(format!(
            "route `{text}`: published routes must not carry a password"
        ));
    }
    Ok(Route {
        start,
        end,
        url: url.to_owned(),
    })
}

/// The original hub's Stats object (hub-api 6), keys in its order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Regular files.
    pub regular: u64,
    /// Symbolic links.
    pub symlink: u64,
    /// Directories, root excluded.
    pub directory: u64,
    /// Devices, FIFOs and sockets.
    pub special: u64,
    /// Always 0 for a conversion.
    pub failure: u64,
    /// Sum of regular file sizes.
    pub fullsize: u64,
}

impl Stats {
    /// The counts of `tree`.
    pub fn of(tree: &Tree) -> Self {
        let s = tree.stats();
        Stats {
            regular: s.regular,
            symlink: s.symlink,
            directory: s.directory,
            special: s.special,
            failure: 0,
            fullsize: s.fullsize,
        }
    }

    /// As a JSON value.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `GET /api/flist/<repo>/<flist>` body, members in the original's order.
#[derive(Serialize)]
struct DumpBody<'a> {
    content: &'a [DumpEntry],
    #[serde(flatten)]
    stats: Stats,
}

/// Serialises `flist` and precomputes what the hub serves about it. Walks and writes the whole
/// tree: call it from a blocking thread.
pub fn flist_file(
    flist: &Flist,
    source: serde_json::Value,
    source_key: String,
) -> Result<(FlistFile, Stats), String> {
    let bytes = hub_flist::write_bytes(flist).map_err(|e| e.to_string())?;
    let stats = Stats::of(&flist.tree);
    let content = flist.tree.dump();
    let dump = hub_apijson::to_vec(&DumpBody {
        content: &content,
        stats,
    })
    .map_err(|e| e.to_string())?;
    let metadata: serde_json::Map<String, serde_json::Value> = flist
        .meta
        .values
        .keys()
        .filter_map(|k| flist.meta.get_json(k).map(|v| (k.clone(), v)))
        .collect();
    let format = match flist.format {
        Format::Flist => FlistFormat::Flist,
        Format::Fl => FlistFormat::Fl,
    };
    let file = FlistFile {
        bytes: bytes.into(),
        format,
        stats: stats.to_json(),
        metadata: serde_json::Value::Object(metadata),
        dump: Some(dump),
        source: Some(source),
        source_key: Some(source_key),
    };
    Ok((file, stats))
}

/// The final `info` event of a docker job (hub-api 9): what legacy listeners wait for.
pub fn docker_info(name: &str, stats: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"status": "success", "file": name, "flist": stats, "timing": {}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_backend() -> Result<(), String> {
        let config = PublishConfig {
            fl_routes: vec!["00-7f=zdb://a:9900/ns".into(), "zdb://b".into()],
            backend_host: "hub.example".into(),
            ..PublishConfig::default()
        };
        let target = PublishTarget::new(&config).map_err(|e| e.to_string())?;
        let fl = target.metadata(Format::Fl);
        assert_eq!(
            fl.routes,
            [
                Route {
                    start: 0,
                    end: 0x7f,
                    url: "zdb://a:9900/ns".into()
                },
                Route {
                    start: 0,
                    end: 255,
                    url: "zdb://b".into()
                }
            ]
        );
        let flist = target.metadata(Format::Flist);
        let backend = flist.backend().map_err(|e| e.to_string())?;
        assert_eq!(backend.map(|b| b.host), Some("hub.example".into()));
        for bad in [
            "80-00=zdb://x",
            "zz-ff=zdb://x",
            "nourl",
            "zdb://u:secret@h",
        ] {
            assert!(parse_route(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn dump_and_stats() -> Result<(), String> {
        let mut flist = Flist::new(Format::Fl);
        let attr = hub_flist::Attr::default_dir();
        flist
            .tree
            .mkdir_all("etc", &attr)
            .map_err(|e| e.to_string())?;
        flist
            .meta
            .set_json("entrypoint", &serde_json::json!(["/bin/sh"]));
        let (file, stats) = flist_file(&flist, serde_json::json!({}), "k".into())?;
        assert_eq!(stats.directory, 1);
        assert_eq!(file.metadata["entrypoint"], serde_json::json!(["/bin/sh"]));
        let dump = String::from_utf8(file.dump.unwrap_or_default()).map_err(|e| e.to_string())?;
        assert_eq!(
            dump,
            "{\"content\": [{\"size\": 4096, \"path\": \"/etc\"}], \"regular\": 0, \"symlink\": 0, \
             \"directory\": 1, \"special\": 0, \"failure\": 0, \"fullsize\": 0}\n"
        );
        Ok(())
    }
}
