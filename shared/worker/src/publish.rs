//! The hub's public endpoints, as written into the flists it publishes (hub-api §11.1 step 6,
//! flist-formats B.6).

use hub_config::{ConfigError, PublishConfig};
use hub_flist::{BACKEND_KEY, Backend, Flist, Format, Route};

/// `[publish]`, parsed once: what every published flist says about where its chunks are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// Format of new flists when a job does not choose one.
    pub default_format: Format,
    /// The `backend` metadata of `.flist` files: the public, password-less 0-db endpoint.
    pub backend: Backend,
    /// Route rows of `.fl` files; empty means "the chunk store's own routes". With
    /// `publish.block_url` set, its single row (ids 00-ff at the hub's public block URL).
    pub fl_routes: Vec<Route>,
}

impl PublishSettings {
    /// Parse `config`; errors name the offending key.
    pub fn new(config: &PublishConfig) -> Result<Self, ConfigError> {
        let default_format = config.default_format;
        // Each value may itself hold several comma- or space-separated routes (rfs syntax).
        let fl_routes = match &config.block_url {
            // Both set would leave one silently ignored: refuse instead.
            Some(_) if !config.fl_routes.is_empty() => {
                return Err(ConfigError::invalid(
                    "publish.block_url",
                    "cannot be combined with publish.fl_routes (it replaces them)",
                ));
            }
            Some(url) => vec![hub_store::Route {
                start: u8::MIN,
                end: u8::MAX,
                url: url.clone(),
            }],
            None => hub_store::parse_routes(&config.fl_routes.join(","))
                .map_err(|err| ConfigError::invalid("publish.fl_routes", err.to_string()))?,
        };
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
            fl_routes: flist_routes(fl_routes),
        })
    }

    /// Point `flist` at the hub's public store: `backend` for `.flist` (replacing any), the
    /// configured routes for `.fl` (or, when none are configured, `store_routes`, the chunk
    /// store's own routes without passwords). A `.fl` carries no `backend` key.
    pub fn apply(&self, flist: &mut Flist, store_routes: &[hub_store::Route]) {
        match flist.format {
            Format::Flist => {
                flist.meta.set_backend(&self.backend);
                flist.meta.routes.clear();
            }
            Format::Fl => {
                flist.meta.values.remove(BACKEND_KEY);
                flist.meta.routes = if self.fl_routes.is_empty() {
                    flist_routes(store_routes.to_vec())
                } else {
                    self.fl_routes.clone()
                };
            }
        }
    }
}

/// hub-store's route rows as `.fl` route rows (the same three columns).
fn flist_routes(routes: Vec<hub_store::Route>) -> Vec<Route> {
    routes
        .into_iter()
        .map(|route| Route {
            start: route.start,
            end: route.end,
            url: route.url,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes: &[&str]) -> PublishConfig {
        PublishConfig {
            fl_routes: routes.iter().map(|r| (*r).to_owned()).collect(),
            backend_host: "hub.example".into(),
            ..PublishConfig::default()
        }
    }

    #[test]
    fn routes_parse_with_ranges_and_lose_passwords() -> Result<(), ConfigError> {
        let settings = PublishSettings::new(&config(&[
            "00-7f=zdb://:secret@a.example:9900/pub, 80-ff=s3://key:secret@s3.example:9000/b",
            "zdb://b.example",
        ]))?;
        let rows: Vec<(u8, u8, &str)> = settings
            .fl_routes
            .iter()
            .map(|r| (r.start, r.end, r.url.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (0x00, 0x7f, "zdb://a.example:9900/pub"),
                (0x80, 0xff, "s3://key@s3.example:9000/b"),
                (0x00, 0xff, "zdb://b.example:9900"),
            ]
        );
        Ok(())
    }

    #[test]
    fn bad_settings_are_refused_by_key() {
        for bad in ["7f-00=zdb://h", "0-zz=zdb://h", "nothing", "00=zdb://h"] {
            let err = PublishSettings::new(&config(&[bad]));
            assert!(
                matches!(&err, Err(ConfigError::Invalid { key, .. }) if key == "publish.fl_routes"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn flist_gets_the_public_backend_and_fl_the_routes() -> Result<(), ConfigError> {
        let settings = PublishSettings::new(&config(&[]))?;
        let store_routes = [hub_store::Route {
            start: 0,
            end: 255,
            url: "dir:///srv/store".into(),
        }];
        let mut flist = Flist::new(Format::Flist);
        flist
            .meta
            .values
            .insert(BACKEND_KEY.into(), "{\"host\": \"evil\"}".into());
        settings.apply(&mut flist, &store_routes);
        let backend = flist.meta.backend().ok().flatten();
        assert_eq!(
            backend.as_ref().map(|b| b.host.as_str()),
            Some("hub.example")
        );
        assert_eq!(backend.and_then(|b| b.namespace), Some("default".into()));

        let mut fl = Flist::new(Format::Fl);
        fl.meta.values.insert(BACKEND_KEY.into(), "{}".into());
        settings.apply(&mut fl, &store_routes);
        assert!(!fl.meta.values.contains_key(BACKEND_KEY));
        assert_eq!(fl.meta.routes.len(), 1);
        assert_eq!(fl.meta.routes[0].url, "dir:///srv/store");

        let configured = PublishSettings::new(&config(&["zdb://pub.example:9900/ns"]))?;
        configured.apply(&mut fl, &store_routes);
        assert_eq!(fl.meta.routes.len(), 1);
        assert!(fl.meta.routes[0].url.contains("pub.example"));
        Ok(())
    }

    #[test]
    fn block_url_is_the_only_route() -> Result<(), ConfigError> {
        let url = "https://hub.example/api/blocks";
        let settings = PublishSettings::new(&PublishConfig {
            block_url: Some(url.into()),
            ..PublishConfig::default()
        })?;
        let store_routes = [hub_store::Route {
            start: 0,
            end: 0x7f,
            url: "dir:///srv/store".into(),
        }];
        let mut fl = Flist::new(Format::Fl);
        settings.apply(&mut fl, &store_routes);
        let rows: Vec<(u8, u8, &str)> = fl
            .meta
            .routes
            .iter()
            .map(|r| (r.start, r.end, r.url.as_str()))
            .collect();
        assert_eq!(rows, [(0x00, 0xff, url)]);
        // `.flist` files keep their 0-db backend: g8ufs reads no HTTP.
        let mut flist = Flist::new(Format::Flist);
        settings.apply(&mut flist, &store_routes);
        assert!(flist.meta.routes.is_empty());
        assert!(flist.meta.backend().ok().flatten().is_some());

        let both = PublishSettings::new(&PublishConfig {
            block_url: Some(url.into()),
            ..config(&["zdb://pub.example"])
        });
        assert!(
            matches!(&both, Err(ConfigError::Invalid { key, .. }) if key == "publish.block_url"),
            "{both:?}"
        );
        Ok(())
    }
}
