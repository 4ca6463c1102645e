//! Chunk stores for tests: a `dir://` store in a temporary directory, and a 0-db double with a
//! namespace, as the hub's stores are configured; and flists unpacked from a store.

use hub_store::SharedStore;
use hub_zdb_double::{DoubleConfig, NamespaceSettings, ZdbDouble};

use crate::BoxError;

/// A `dir://` store in a new temporary directory; the directory lives as long as the returned
/// guard.
pub async fn dir_store() -> Result<(tempfile::TempDir, SharedStore), BoxError> {
    let dir = tempfile::tempdir()?;
    let store = hub_store::open(&format!("dir://{}", dir.path().display())).await?;
    Ok((dir, store))
}

/// A 0-db double on a loopback port with `namespace` created (no password), and a store on
/// that namespace. Stopping the double is an outage of the store.
pub async fn zdb_store(namespace: &str) -> Result<(ZdbDouble, SharedStore), BoxError> {
    let zdb = ZdbDouble::start(DoubleConfig::default()).await?;
    zdb.create_namespace(namespace, NamespaceSettings::default())?;
    let store = hub_store::open(&zdb.url(namespace)).await?;
    Ok((zdb, store))
}

/// Unpack `flist` into a new temporary directory, its blocks read from `store` (default options:
/// owners are not restored), as a node would see it; the directory lives as long as the
/// returned guard.
#[cfg(feature = "convert")]
pub async fn unpack_to_tempdir(
    flist: &hub_flist::Flist,
    store: &SharedStore,
) -> Result<tempfile::TempDir, BoxError> {
    let out = tempfile::tempdir()?;
    hub_convert::unpack(
        flist,
        SharedStore::clone(store),
        out.path(),
        &hub_convert::UnpackOptions::default(),
    )
    .await?;
    Ok(out)
}
