//! Parsing of store specs: `[<start hex>-<end hex>=]<url>` entries separated by commas or
//! whitespace, as the rfs CLI takes them, and of `.fl` route rows written the same way.

use std::path::PathBuf;

use crate::error::invalid;
use crate::zdb::ZdbUrl;
use crate::{Route, StoreError};

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    /// `dir://`: the root directory, made absolute.
    Dir(PathBuf),
    /// `zdb://`
    Zdb(ZdbUrl),
    /// `http://`, `https://`: the base URL (read-only).
    Http(String),
}

/// First and last id[0] covered, inclusive.
type IdRange = (u8, u8);

/// One entry of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecEntry {
    /// The id[0] range when one was written.
    pub range: Option<IdRange>,
    pub url: StoreUrl,
}

/// Parses a whole spec; at least one entry is required.
pub(crate) fn parse_spec(spec: &str) -> Result<Vec<SpecEntry>, StoreError> {
    let entries = tokens(spec)
        .map(parse_entry)
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err(invalid(spec, "no store URL given"));
    }
    Ok(entries)
}

/// Parses `.fl` route rows written like a spec (`[<start hex>-<end hex>=]<url>` entries
/// separated by commas or whitespace); an entry without a range covers every id.
///
/// Unlike a store spec, any scheme is accepted (`s3://`, `http://`, …: the readers of the
/// flist open these URLs, not this hub), and each URL loses its password: route tables are
/// published and read without credentials (rfs strips passwords too). An empty spec gives
/// no rows; the caller decides whether that is an error.
pub fn parse_routes(spec: &str) -> Result<Vec<Route>, StoreError> {
    tokens(spec).map(parse_route).collect()
}

/// The entries of a spec.
fn tokens(spec: &str) -> impl Iterator<Item = &str> {
    spec.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|token| !token.is_empty())
}

fn parse_entry(token: &str) -> Result<SpecEntry, StoreError> {
    let (range, url) = split_range(token)?;
    Ok(SpecEntry {
        range,
        url: parse_url(url)?,
    })
}

fn parse_route(token: &str) -> Result<Route, StoreError> {
    let (range, url) = split_range(token)?;
    let (start, end) = range.unwrap_or((u8::MIN, u8::MAX));
    let url = match url.split_once("://") {
        Some(("zdb", _)) => ZdbUrl::parse(url)?.public_url(),
        Some((scheme, _)) if !scheme.is_empty() => crate::error::without_password(url),
        _ => return Err(invalid(url, "expected <scheme>://…")),
    };
    Ok(Route { start, end, url })
}

/// An entry's range (when one is written) and its URL.
fn split_range(token: &str) -> Result<(Option<IdRange>, &str), StoreError> {
    // A range prefix ends at the first `=` before the scheme separator; a `=` later on belongs
    // to the URL (e.g. `?pool=4`).
    let scheme_end = token.find("://").unwrap_or(token.len());
    let Some(eq) = token.get(..scheme_end).and_then(|head| head.find('=')) else {
        return Ok((None, token));
    };
    let (prefix, rest) = token.split_at(eq);
    let range = parse_range(token, prefix)?;
    Ok((Some(range), rest.get(1..).unwrap_or_default()))
}

fn parse_range(token: &str, prefix: &str) -> Result<IdRange, StoreError> {
    let bad = || {
        invalid(
            token,
            "a range is written <start hex>-<end hex>, e.g. 00-7f",
        )
    };
    let (start, end) = prefix.split_once('-').ok_or_else(bad)?;
    let byte = |text: &str| {
        if text.is_empty() || text.len() > 2 {
            return Err(bad());
        }
        u8::from_str_radix(text, 16).map_err(|_| bad())
    };
    let (start, end) = (byte(start)?, byte(end)?);
    if start > end {
        return Err(invalid(token, "the range start is after its end"));
    }
    Ok((start, end))
}

/// Parses one store URL.
pub(crate) fn parse_url(url: &str) -> Result<StoreUrl, StoreError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(url, "expected <scheme>://…"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "dir" => parse_dir(url, rest).map(StoreUrl::Dir),
        "zdb" => ZdbUrl::parse(url).map(StoreUrl::Zdb),
        // Checked when the store is built (`HttpStore::new`).
        "http" | "https" => Ok(StoreUrl::Http(url.to_owned())),
        other => Err(invalid(
            url,
            &format!("unsupported scheme {other:?} (supported: dir, zdb, http, https)"),
        )),
    }
}

fn parse_dir(url: &str, path: &str) -> Result<PathBuf, StoreError> {
    if path.is_empty() {
        return Err(invalid(url, "no directory given"));
    }
    if path.contains(['?', '#']) {
        return Err(invalid(url, "dir URLs take no query or fragment"));
    }
    let path = PathBuf::from(path);
    if path.is_absolute() {
        return Ok(path);
    }
    // Route URLs must name an absolute path: readers run elsewhere.
    let cwd = std::env::current_dir().map_err(|error| {
        invalid(
            url,
            &format!("cannot resolve a relative path without a current directory: {error}"),
        )
    })?;
    Ok(cwd.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zdb(url: &str) -> ZdbUrl {
        match parse_url(url) {
            Ok(StoreUrl::Zdb(zdb)) => zdb,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn single_urls() {
        assert_eq!(
            parse_url("dir:///var/lib/blocks").ok(),
            Some(StoreUrl::Dir(PathBuf::from("/var/lib/blocks")))
        );
        let relative = parse_url("dir://relative/path").ok();
        let cwd = std::env::current_dir().ok();
        assert_eq!(
            relative,
            cwd.map(|cwd| StoreUrl::Dir(cwd.join("relative/path")))
        );
        let z = zdb("zdb://hub.grid.tf");
        assert_eq!(
            (z.host(), z.port(), z.namespace()),
            ("hub.grid.tf", 9900, "default")
        );
    }

    #[test]
    fn ranges_and_separators() {
        let entries = parse_spec("00-7f=dir:///a,80-ff=zdb://h:9901/ns?pool=4  dir:///c\n")
            .expect("valid spec");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].range, Some((0x00, 0x7f)));
        assert_eq!(entries[0].url, StoreUrl::Dir(PathBuf::from("/a")));
        assert_eq!(entries[1].range, Some((0x80, 0xff)));
        let StoreUrl::Zdb(z) = &entries[1].url else {
            panic!("zdb expected");
        };
        assert_eq!(
            (z.port(), z.namespace(), z.pool_size()),
            (9901, "ns", Some(4))
        );
        assert_eq!(entries[2].range, None);
        // Single hex digits and upper case, as u8::from_str_radix takes them.
        let entries = parse_spec("0-F=dir:///x").expect("valid spec");
        assert_eq!(entries[0].range, Some((0x00, 0x0f)));
    }

    #[test]
    fn bad_specs() {
        for spec in [
            "",
            " , ",
            "7f-00=dir:///a",
            "00-100=dir:///a",
            "xx-ff=dir:///a",
            "00ff=dir:///a",
            "=dir:///a",
            "00-ff=",
            "dir://",
            "dir:///a?x=1",
            "s3://key:secret@host:9000/bucket",
            "ftp://example.com/blocks",
            "/just/a/path",
        ] {
            assert!(
                matches!(parse_spec(spec), Err(StoreError::InvalidUrl { .. })),
                "{spec:?} should be rejected"
            );
        }
    }

    #[test]
    fn routes_take_any_scheme_and_lose_passwords() -> Result<(), StoreError> {
        let routes = parse_routes(
            "00-7f=zdb://user:secret@h:9900/ns,80-ff=s3s://key:secret@s3:443/b?region=x \
             dir:///blocks",
        )?;
        let rows: Vec<(u8, u8, &str)> = routes
            .iter()
            .map(|r| (r.start, r.end, r.url.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (0x00, 0x7f, "zdb://user@h:9900/ns"),
                (0x80, 0xff, "s3s://key@s3:443/b?region=x"),
                (0x00, 0xff, "dir:///blocks"),
            ]
        );
        assert_eq!(
            parse_routes("zdb://:pw@a.example/pub")?[0].url,
            "zdb://a.example:9900/pub"
        );
        assert!(parse_routes(" , ")?.is_empty());
        Ok(())
    }

    #[test]
    fn bad_routes() {
        for spec in [
            "7f-00=dir:///a",
            "zz-ff=dir:///a",
            "00ff=dir:///a",
            "00=zdb://h",
            "/plain/path",
            "://nothing",
            "zdb://u:secret@h:notaport",
        ] {
            let error = parse_routes(spec);
            assert!(
                matches!(&error, Err(StoreError::InvalidUrl { url, .. }) if !url.contains("secret")),
                "{spec:?}: {error:?}"
            );
        }
    }

    #[test]
    fn passwords_never_reach_errors() {
        let error = parse_spec("s3://key:topsecret@host:9000/bucket")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("s3://key@host:9000/bucket"), "{error}");
        assert!(!error.contains("topsecret"), "{error}");
        let error = parse_spec("zdb://u:topsecret@host:notaport/ns")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!error.is_empty() && !error.contains("topsecret"), "{error}");
    }
}
