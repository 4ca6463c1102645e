//! Flist-level settings given on the command line: `--meta`, `--readme`, `--route` and
//! `--backend`, parsed and applied to an flist's [`Metadata`].

use std::path::Path;

use anyhow::{Context, bail};
use hub_flist::{Backend, Format, Metadata, Route};
use hub_store::ZdbUrl;

/// The settings options shared by the commands that write flists.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingArgs {
    /// Metadata (`.flist`) or tag (`.fl`) value, stored as raw text; repeatable. Replaces what
    /// the source provided.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub meta: Vec<(String, String)>,
    /// File whose text becomes the `readme` setting (`{"readme": "<text>"}`), replacing a
    /// `/.README(.md)` found in the source.
    #[arg(long, value_name = "FILE")]
    pub readme: Option<std::path::PathBuf>,
    /// `.fl` route rows, replacing the store's routes: `[<start hex>-<end hex>=]<url>`,
    /// repeatable or comma-separated. Passwords are removed from the URLs.
    #[arg(long = "route", value_name = "[START-END=]URL")]
    pub routes: Vec<String>,
    /// `.flist` backend metadata: where nodes fetch the blocks (`host:port[/namespace]`).
    /// Defaults to the store when it is a single zdb:// URL.
    #[arg(long, value_name = "HOST:PORT[/NAMESPACE]", value_parser = parse_backend)]
    pub backend: Option<Backend>,
}

impl SettingArgs {
    /// Checks that the options fit the output format before any work is done.
    pub fn check(&self, format: Format) -> anyhow::Result<()> {
        match format {
            Format::Fl if self.backend.is_some() => {
                bail!("--backend sets .flist metadata; a .fl takes --route")
            }
            Format::Flist if !self.routes.is_empty() => {
                bail!("--route sets .fl route rows; a .flist takes --backend")
            }
            _ => Ok(()),
        }
    }

    /// Applies the options to `meta` of an flist of `format` written to `store_routes`.
    pub fn apply(
        &self,
        meta: &mut Metadata,
        format: Format,
        store_routes: &[hub_store::Route],
    ) -> anyhow::Result<()> {
        self.check(format)?;
        for (key, value) in &self.meta {
            meta.values.insert(key.clone(), value.clone());
        }
        if let Some(path) = &self.readme {
            set_readme(meta, path)?;
        }
        match format {
            Format::Fl if !self.routes.is_empty() => meta.routes = parse_routes(&self.routes)?,
            Format::Fl => {}
            Format::Flist => {
                if let Some(backend) = self.backend.clone().or_else(|| backend_of(store_routes)) {
                    meta.set_backend(&backend);
                }
            }
        }
        Ok(())
    }
}

fn set_readme(meta: &mut Metadata, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the readme {}", path.display()))?;
    meta.set_json("readme", &serde_json::json!({ "readme": text }));
    Ok(())
}

/// `KEY=VALUE`, the key non-empty.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// `host:port[/namespace]`; IPv6 hosts in brackets (`[::1]:9900`).
pub fn parse_backend(text: &str) -> Result<Backend, String> {
    let (address, namespace) = match text.split_once('/') {
        Some((address, ns)) if !ns.is_empty() => (address, Some(ns.to_owned())),
        Some((address, _)) => (address, None),
        None => (text, None),
    };
    let bad = || format!("expected HOST:PORT[/NAMESPACE], got {text:?}");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok(Backend {
        host: host.to_owned(),
        port,
        namespace,
        password: None,
        token: None,
        socket: None,
    })
}

/// The backend of a store that is a single zdb:// URL covering every id.
fn backend_of(routes: &[hub_store::Route]) -> Option<Backend> {
    let [route] = routes else { return None };
    if (route.start, route.end) != (0, 255) {
        return None;
    }
    let url = ZdbUrl::parse(&route.url).ok()?;
    Some(Backend {
        host: url.host().to_owned(),
        port: url.port(),
        namespace: Some(url.namespace().to_owned()),
        password: None,
        token: None,
        socket: None,
    })
}

/// Parses route specs (`[<start hex>-<end hex>=]<url>`, comma or space separated), their
/// URLs without passwords (hub-store's route syntax, shared with the hub's `[publish]`).
pub fn parse_routes(values: &[String]) -> anyhow::Result<Vec<Route>> {
    let routes = hub_store::parse_routes(&values.join(","))?;
    if routes.is_empty() {
        bail!("--route needs at least one URL");
    }
    Ok(routes
        .into_iter()
        .map(|route| Route {
            start: route.start,
            end: route.end,
            url: route.url,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("author=me=you"),
            Ok(("author".into(), "me=you".into()))
        );
        assert_eq!(
            parse_key_value("empty="),
            Ok(("empty".into(), String::new()))
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("novalue").is_err());
    }

    #[test]
    fn backends() {
        let b = parse_backend("hub.grid.tf:9900/default").ok();
        assert_eq!(
            b.map(|b| (b.host, b.port, b.namespace)),
            Some(("hub.grid.tf".into(), 9900, Some("default".into())))
        );
        let b = parse_backend("[::1]:9901").ok();
        assert_eq!(
            b.map(|b| (b.host, b.port, b.namespace)),
            Some(("::1".into(), 9901, None))
        );
        for bad in ["host", "host:port", ":9900", "host:70000/ns"] {
            assert!(parse_backend(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes() -> anyhow::Result<()> {
        let r = parse_routes(&[
            "00-7f=zdb://user:secret@h:9900/ns,80-ff=s3s://key:secret@s3:443/b?region=x".into(),
            "dir:///blocks".into(),
        ])?;
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].start, r[0].end, r[0].url.as_str()),
            (0, 0x7f, "zdb://user@h:9900/ns")
        );
        assert_eq!(r[1].url, "s3s://key@s3:443/b?region=x");
        assert_eq!(
            (r[2].start, r[2].end, r[2].url.as_str()),
            (0, 255, "dir:///blocks")
        );
        for bad in [
            "7f-00=dir:///a",
            "zz-ff=dir:///a",
            "00ff=dir:///a",
            "/plain/path",
        ] {
            assert!(parse_routes(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(parse_routes(&[" , ".into()]).is_err());
        Ok(())
    }

    #[test]
    fn apply_settings() -> anyhow::Result<()> {
        let store = vec![hub_store::Route {
            start: 0,
            end: 255,
            url: "zdb://hub:9900/public".into(),
        }];
        let args = SettingArgs {
            meta: vec![("author".into(), "me".into())],
            ..SettingArgs::default()
        };
        let mut meta = Metadata::default();
        args.apply(&mut meta, Format::Flist, &store)?;
        assert_eq!(meta.values.get("author").map(String::as_str), Some("me"));
        assert_eq!(
            meta.backend()?.map(|b| (b.host, b.port, b.namespace)),
            Some(("hub".into(), 9900, Some("public".into())))
        );

        let args = SettingArgs {
            routes: vec!["zdb://node:9900".into()],
            ..SettingArgs::default()
        };
        let mut meta = Metadata::default();
        args.apply(&mut meta, Format::Fl, &store)?;
        assert_eq!(meta.routes.len(), 1);
        assert!(args.apply(&mut meta, Format::Flist, &store).is_err());
        Ok(())
    }
}
