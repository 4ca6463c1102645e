//! Parsing of store specs: `[<start hex>-<end hex>=]<url>` entries separated by commas or
//! whitespace, as the rfs CLI takes them.

use std::path::PathBuf;

use crate::StoreError;
use crate::zdb::ZdbUrl;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    /// `dir://`: the root directory, made absolute.
    Dir(PathBuf),
    /// `zdb://`
    Zdb(ZdbUrl),
}

/// One entry of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecEntry {
    /// The id[0] range when one was written.
    pub range: Option<(u8, u8)>,
    pub url: StoreUrl,
}

/// Parses a whole spec; at least one entry is required.
pub(crate) fn parse_spec(spec: &str) -> Result<Vec<SpecEntry>, StoreError> {
    let entries = spec
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|token| !token.is_empty())
        .map(parse_entry)
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err(invalid(spec, "no store URL given"));
    }
    Ok(entries)
}

fn parse_entry(token: &str) -> Result<SpecEntry, StoreError> {
    // A range prefix ends at the first `=` before the scheme separator; a `=` later on belongs
    // to the URL (e.g. `?pool=4`).
    let scheme_end = token.find("://").unwrap_or(token.len());
    let (range, url) = match token.get(..scheme_end).and_then(|head| head.find('=')) {
        Some(eq) => {
            let (prefix, rest) = token.split_at(eq);
            (
                Some(parse_range(token, prefix)?),
                rest.get(1..).unwrap_or_default(),
            )
        }
        None => (None, token),
    };
    Ok(SpecEntry {
        range,
        url: parse_url(url)?,
    })
}

fn parse_range(token: &str, prefix: &str) -> Result<(u8, u8), StoreError> {
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
        other => Err(invalid(
            url,
            &format!("unsupported scheme {other:?} (supported: dir, zdb)"),
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

pub(crate) fn invalid(url: &str, reason: &str) -> StoreError {
    StoreError::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    }
}

/// Removes a password from `scheme://user:password@…` text that failed to parse, so it never
/// reaches an error message or a log.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
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
            "http://example.com/blocks",
            "/just/a/path",
        ] {
            assert!(
                matches!(parse_spec(spec), Err(StoreError::InvalidUrl { .. })),
                "{spec:?} should be rejected"
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
