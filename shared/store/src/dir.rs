//! Local directory (`dir://`) block store.
//!
//! Blocks are written flat, `<root>/<hex id>`: the only layout released rfs (2.0.6 and 2.0.7,
//! what Zero-OS nodes run) reads, and the one rfs's development branch falls back to. Reads
//! and existence checks also find `<root>/<hex[0:2]>/<hex id>`, written by earlier hub versions
//! and by rfs since PR #64; [`DirStore::migrate_layout`] moves those blocks flat. A flat
//! directory of millions of files is fine on ext4 and XFS (hashed directory indexes).
//! All file-system work runs on the blocking pool, one task per operation.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::{BlockStore, MAX_VALUE_SIZE, Route, StoreError, StoredBlock, check_key, check_value};

mod gc;
mod migrate;

pub use migrate::LayoutMigration;

/// Longest key whose hex name fits in a 255-byte file name.
const MAX_DIR_KEY: usize = 127;

/// Makes temp file names unique among the writers of one process (the pid covers the others).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A block store in a local directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: Arc<Path>,
}

impl DirStore {
    /// Opens (creating it if needed) the store rooted at `root`, which must be absolute so the
    /// route URL means the same thing to every reader.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root: PathBuf = root.into();
        if !root.is_absolute() {
            return Err(StoreError::InvalidUrl {
                url: format!("dir://{}", root.display()),
                reason: "the directory must be an absolute path".to_owned(),
            });
        }
        let created = root.clone();
        tokio::task::spawn_blocking(move || fs::create_dir_all(&created))
            .await?
            .map_err(|error| with_path(error, &root))?;
        Ok(Self { root: root.into() })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Moves every block stored in the sharded layout `<root>/<hex[0:2]>/<hex>` to the flat
    /// `<root>/<hex>`, removing the emptied shard directories.
    ///
    /// Safe while the store serves requests (each block moves with one atomic `rename`, and
    /// reads try both names), resumable (a run stopped halfway is finished by the next) and
    /// idempotent (a run over a flat store changes nothing). Entries of a shard directory that
    /// are not blocks of that shard are left in place and counted.
    pub async fn migrate_layout(&self) -> Result<LayoutMigration, StoreError> {
        self.blocking(migrate::run).await
    }

    /// Runs file-system work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || work(&root)).await?
    }
}

fn check_dir_key(id: &[u8]) -> Result<(), StoreError> {
    check_key(id)?;
    if id.len() > MAX_DIR_KEY {
        return Err(StoreError::InvalidKey {
            len: id.len(),
            reason: "directory stores take keys of at most 127 bytes (file name limit)",
        });
    }
    Ok(())
}

/// Where a block may be: `<root>/<hex>` (written), then `<root>/<hex[0:2]>/<hex>` (read only).
fn paths(root: &Path, id: &[u8]) -> (PathBuf, PathBuf) {
    let name = hex::encode(id);
    let shard = name.get(..2).unwrap_or(&name);
    (root.join(&name), root.join(shard).join(&name))
}

/// Whether `name` is lowercase hex, as block file names are.
fn is_hex_name(name: &str) -> bool {
    name.bytes()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Reads a whole block, `None` if there is no block file at `path`.
fn read_block(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(with_path(error, path).into()),
    };
    let meta = file.metadata().map_err(|error| with_path(error, path))?;
    // A one-byte id's flat name is also the name of its shard directory.
    if !meta.is_file() {
        return Ok(None);
    }
    let len = meta.len();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    // Never load more than a block can be, whatever landed in the directory.
    if len > MAX_VALUE_SIZE {
        return Err(StoreError::TooLarge {
            size: len,
            limit: MAX_VALUE_SIZE,
        });
    }
    let mut data = Vec::with_capacity(len);
    file.read_to_end(&mut data)
        .map_err(|error| with_path(error, path))?;
    Ok(Some(data))
}

/// Writes `data` to `target` atomically: a temp file in the same directory renamed over it,
/// so readers never see a partial block and concurrent writers of the same id cannot clash.
/// No fsync: like 0-db without `--sync`, a completed write survives a crash of the process but
/// not necessarily of the machine.
fn write_atomically(target: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = fs::File::create_new(&temp)
        .and_then(|mut file| file.write_all(data))
        .and_then(|()| fs::rename(&temp, target));
    if let Err(error) = result {
        // Best effort: a failed write must not leave a temp file behind.
        let _ = fs::remove_file(&temp);
        return Err(with_path(error, target).into());
    }
    Ok(())
}

#[async_trait]
impl BlockStore for DirStore {
    async fn get(&self, id: &[u8]) -> Result<Option<Bytes>, StoreError> {
        check_dir_key(id)?;
        let id = id.to_vec();
        let url = self.url();
        self.blocking(move |root| {
            let (flat, sharded) = paths(root, &id);
            let data = match read_block(&flat)? {
                Some(data) => Some(data),
                None => read_block(&sharded)?,
            };
            match data {
                Some(data) if data.is_empty() => Err(StoreError::EmptyValue {
                    url,
                    key: hex::encode(&id),
                }),
                data => Ok(data.map(Bytes::from)),
            }
        })
        .await
    }

    async fn set(&self, id: &[u8], data: Bytes) -> Result<(), StoreError> {
        check_dir_key(id)?;
        check_value(|| self.url(), id, &data)?;
        let id = id.to_vec();
        self.blocking(move |root| {
            let (flat, sharded) = paths(root, &id);
            // Content-addressed: a present block already holds these bytes. Touching it tells
            // the garbage collector the block is wanted again (see `gc`).
            if gc::touch(&flat)? || gc::touch(&sharded)? {
                return Ok(());
            }
            write_atomically(&flat, &data)
        })
        .await
    }

    async fn exists(&self, id: &[u8]) -> Result<bool, StoreError> {
        check_dir_key(id)?;
        let id = id.to_vec();
        self.blocking(move |root| {
            let (flat, sharded) = paths(root, &id);
            // Writers skip uploading a block that exists: refreshing its mtime keeps the
            // garbage collector from deleting it under them (see `gc`).
            Ok(gc::touch(&flat)? || gc::touch(&sharded)?)
        })
        .await
    }

    fn blocks(&self) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(gc::LIST_BUFFER);
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || gc::list(&root, &sender));
        Box::pin(futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        ))
    }

    async fn delete_if_older(
        &self,
        id: &[u8],
        cutoff: SystemTime,
    ) -> Result<Option<u64>, StoreError> {
        check_dir_key(id)?;
        let id = id.to_vec();
        self.blocking(move |root| gc::delete_if_older(root, &id, cutoff))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|root| {
            let meta = fs::metadata(root).map_err(|error| with_path(error, root))?;
            if meta.is_dir() {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", root.display()),
                )
                .into())
            }
        })
        .await
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route {
            start: u8::MIN,
            end: u8::MAX,
            url: self.url(),
        }]
    }

    fn url(&self) -> String {
        format!("dir://{}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_sharded_paths() {
        let (flat, sharded) = paths(Path::new("/s"), &[0xab, 0x01]);
        assert_eq!(sharded, Path::new("/s/ab/ab01"));
        assert_eq!(flat, Path::new("/s/ab01"));
    }

    #[test]
    fn long_keys_are_refused() {
        assert!(check_dir_key(&[1; 127]).is_ok());
        assert!(matches!(
            check_dir_key(&[1; 128]),
            Err(StoreError::InvalidKey { len: 128, .. })
        ));
    }
}
