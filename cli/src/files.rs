//! Flist files and block stores as commands use them: read, written and opened with errors
//! that name the file or URL.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hub_flist::{Flist, Format};
use hub_store::SharedStore;

/// Reads and parses an flist file (format detected from its content) off the async threads.
pub async fn load_flist(path: &Path) -> anyhow::Result<Flist> {
    let owned: PathBuf = path.to_owned();
    tokio::task::spawn_blocking(move || read_flist(&owned))
        .await
        .context("flist reader task failed")?
}

/// Blocking variant of [`load_flist`] for code already on a blocking thread.
pub fn read_flist(path: &Path) -> anyhow::Result<Flist> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    // Flists are read whole; hub-flist caps what it accepts at the same size, so refusing
    // bigger files before loading them keeps a wrong argument from filling the memory.
    if size > hub_flist::DEFAULT_MAX_SIZE {
        bail!(
            "{} is {size} bytes, more than an flist can be ({} bytes)",
            path.display(),
            hub_flist::DEFAULT_MAX_SIZE
        );
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    hub_flist::read_bytes(&bytes)
        .with_context(|| format!("{} is not a valid flist", path.display()))
}

/// Serialises and writes an flist atomically, off the async threads.
///
/// The file gets the mode of the file it replaces, else `0644`: hub-flist writes through a
/// private temporary file (`0600`), which is not what a command-line user expects to get.
pub async fn save_flist(flist: Flist, out: &Path) -> anyhow::Result<()> {
    let path = out.to_owned();
    tokio::task::spawn_blocking(move || {
        let mode = fs::metadata(&path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        hub_flist::write_file(&flist, &path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        Ok::<_, anyhow::Error>(())
    })
    .await
    .context("flist writer task failed")?
    .with_context(|| format!("cannot write {}", out.display()))
}

/// Opens the store given on the command line or, without one, the store the flist names: its
/// route table (`.fl`) or its `backend` setting (`.flist`).
pub async fn open_store(spec: Option<&str>, flist: &Flist) -> anyhow::Result<SharedStore> {
    let spec = match spec {
        Some(spec) => spec.to_owned(),
        None => store_of(flist)?,
    };
    hub_store::open(&spec)
        .await
        .with_context(|| format!("cannot open store {spec:?}"))
}

/// Opens a store spec given on the command line.
pub async fn open_spec(spec: &str) -> anyhow::Result<SharedStore> {
    hub_store::open(spec)
        .await
        .with_context(|| format!("cannot open store {spec:?}"))
}

/// The store spec recorded in an flist, if any.
fn store_of(flist: &Flist) -> anyhow::Result<String> {
    match flist.format {
        Format::Fl => {
            if flist.meta.routes.is_empty() {
                bail!("the .fl has no route table: pass --store");
            }
            Ok(flist
                .meta
                .routes
                .iter()
                .map(|r| format!("{:02x}-{:02x}={}", r.start, r.end, r.url))
                .collect::<Vec<_>>()
                .join(","))
        }
        Format::Flist => {
            let backend = flist
                .meta
                .backend()
                .context("the .flist backend metadata is invalid")?
                .context("the .flist has no backend metadata: pass --store")?;
            // A password is never taken from the file: flists for nodes must not carry one.
            let namespace = backend.namespace.as_deref().unwrap_or("default");
            Ok(format!(
                "zdb://{}:{}/{namespace}",
                backend.host, backend.port
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_flist::{Backend, Route};

    #[test]
    fn store_from_routes_and_backend() -> anyhow::Result<()> {
        let mut fl = Flist::new(Format::Fl);
        assert!(store_of(&fl).is_err());
        fl.meta.routes = vec![
            Route {
                start: 0,
                end: 0x7f,
                url: "dir:///a".into(),
            },
            Route {
                start: 0x80,
                end: 0xff,
                url: "zdb://h:9900/ns".into(),
            },
        ];
        assert_eq!(store_of(&fl)?, "00-7f=dir:///a,80-ff=zdb://h:9900/ns");

        let mut flist = Flist::new(Format::Flist);
        assert!(store_of(&flist).is_err());
        flist.meta.set_backend(&Backend {
            host: "hub.grid.tf".into(),
            port: 9900,
            namespace: None,
            password: Some("secret".into()),
            token: None,
            socket: None,
        });
        assert_eq!(store_of(&flist)?, "zdb://hub.grid.tf:9900/default");
        Ok(())
    }
}
