//! The hub's public endpoints, as written into the flists it publishes (hub-api 11.1 step 6,
//! flist-formats B.6).

use hub_config::{ConfigError, PublishConfig};
use hub_flist::{BACKEND_KEY, Backend, Flist, Format, Route};
use hub_store::ZdbUrl;

/// `[publish]`, parsed once: what every published flist says about where its chunks are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// Format of new flists when a job does not choose one.
    pub default_format: Format,
    /// The `backend` metadata of `.flist` files: the public, password-less 0-db endpoint.
    pub backend: Backend,
    /// Route rows of `.fl` files; empty means "the chunk store's own routes".
    pub fl_routes: Vec<Route>,
}

impl PublishSettings {
    /// Parse `config`; errors name the offending key.
    pub fn new(config: &PublishConfig) -> Result<Self, ConfigError> {
        let default_format = match config.default_format.as_str() {
            "flist" => Format::Flist,
            "fl" => Format::Fl,
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
            .flat_map(|value| value.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|token| !token.is_empty())
            .map(parse_route)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| ConfigError::invalid("publish.fl_routes", message))?;
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
                    store_routes
                        .iter()
                        .map(|route| Route {
                            start: route.start,
                            end: route.end,
                            url: route.url.clone(),
                        })
                        .collect()
                } else {
                    self.fl_routes.clone()
                };
            }
        }
    }
}

/// One `[<start hex>-<end hex>=]<url>` route (rfs syntax), its URL without password.
fn parse_route(token: &str) -> Result<Route, String> {
    let scheme_at = token
        .find("://")
        .ok_or_else(|| format!("route `{token}`: expected <scheme>://…"))?;
    // A range ends at a `=` before the scheme separator; a later `=` belongs to the URL.
    let (range, url) = match token.get(..scheme_at).and_then(|head| head.find('=')) {
        Some(eq) => (
            token.get(..eq).unwrap_or_default(),
            token.get(eq + 1..).unwrap_or_default(),
        ),
        None => ("", token),
    };
    let (start, end) = if range.is_empty() {
        (u8::MIN, u8::MAX)
    } else {
        let (start, end) = range
            .split_once('-')
            .ok_or_else(|| format!("route `{token}`: a range is written like 00-7f"))?;
        let byte = |text: &str| {
            u8::from_str_radix(text, 16)
                .map_err(|_| format!("route `{token}`: `{text}` is not a hex byte"))
        };
        (byte(start)?, byte(end)?)
    };
    if start > end {
        return Err(format!("route `{token}`: the range starts after its end"));
    }
    Ok(Route {
        start,
        end,
        url: public_url(url).map_err(|reason| format!("route `{token}`: {reason}"))?,
    })
}

/// `url` without its password: nodes read published flists without credentials, and a
/// password written into a public file would leak (rfs strips it too).
fn public_url(url: &str) -> Result<String, String> {
    if url.starts_with("zdb://") {
        return ZdbUrl::parse(url)
            .map(|parsed| parsed.public_url())
            .map_err(|err| err.to_string());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "expected <scheme>://…".to_owned())?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    Ok(match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    })
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
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0..=rows[0].1, 0x00..=0x7f);
        assert!(!rows[0].2.contains("secret"), "{}", rows[0].2);
        assert!(rows[0].2.starts_with("zdb://") && rows[0].2.contains("a.example"));
        assert_eq!(rows[1], (0x80, 0xff, "s3://key@s3.example:9000/b"));
        assert_eq!((rows[2].0, rows[2].1), (0, 255));
        Ok(())
    }

    #[test]
    fn bad_routes_are_refused() {
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
}
