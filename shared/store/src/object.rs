//! Content-addressed objects: whole flist files kept in the block store, so no gateway needs
//! them on its own disk.
//!
//! An object is split into parts of at most 4 MiB (under the 8 MiB 0-db limit), each stored
//! under the BLAKE2b-256 of its bytes, and a manifest stored under `b"obj:" + id`. The 36-byte
//! manifest key cannot collide with `.flist` (16-byte) or `.fl` (32-byte) block ids. Parts go
//! in first and the manifest last, so a manifest is only ever visible with all its parts.

use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};

use crate::{SharedStore, StoreError};

/// Largest part of an object.
pub(crate) const PART_SIZE: usize = 4 * 1024 * 1024;
/// Parts transferred at the same time for one object.
const PART_CONCURRENCY: usize = 4;
/// Prefix of manifest keys.
const MANIFEST_PREFIX: &[u8] = b"obj:";
/// First bytes of a manifest, with the format version.
const MANIFEST_MAGIC: &[u8; 8] = b"HUBOBJ1\n";
/// Bytes before the part list: magic, total size (u64 LE), part count (u32 LE).
const MANIFEST_HEADER: usize = 8 + 8 + 4;
/// Length of a BLAKE2b-256 digest.
const HASH_LEN: usize = 32;
/// Initial buffer when reading an object; it grows as parts arrive, so a corrupt size cannot
/// make us allocate much up front.
const READ_BUFFER_HINT: usize = 64 * 1024 * 1024;

/// The BLAKE2b-256 of an object's content; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; HASH_LEN]);

impl ObjectId {
    /// Hashes `data` (CPU work: call from a blocking context for large inputs).
    pub fn of(data: &[u8]) -> Self {
        Self(blake2b256(data))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn manifest_key(&self) -> Vec<u8> {
        [MANIFEST_PREFIX, &self.0].concat()
    }
}

impl From<[u8; HASH_LEN]> for ObjectId {
    fn from(digest: [u8; HASH_LEN]) -> Self {
        Self(digest)
    }
}

impl FromStr for ObjectId {
    type Err = hex::FromHexError;

    /// Parses 64 hex digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut digest = [0u8; HASH_LEN];
        hex::decode_to_slice(text, &mut digest)?;
        Ok(Self(digest))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

fn blake2b256(data: &[u8]) -> [u8; HASH_LEN] {
    let hash = blake2b_simd::Params::new().hash_length(HASH_LEN).hash(data);
    let mut digest = [0u8; HASH_LEN];
    digest.copy_from_slice(hash.as_bytes());
    digest
}

/// What a manifest says about an object.
#[derive(Debug, PartialEq, Eq)]
struct Manifest {
    size: u64,
    parts: Vec<[u8; HASH_LEN]>,
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_HEADER + self.parts.len() * HASH_LEN);
        out.extend_from_slice(MANIFEST_MAGIC);
        out.extend_from_slice(&self.size.to_le_bytes());
        // Parts are ≤ 4 MiB and objects are held in memory: the count always fits.
        let count = u32::try_from(self.parts.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for part in &self.parts {
            out.extend_from_slice(part);
        }
        out
    }

    /// Parses and checks a manifest: the part count must match the size.
    fn decode(data: &[u8]) -> Result<Self, String> {
        let header = data
            .get(..MANIFEST_HEADER)
            .ok_or("manifest shorter than its header")?;
        let (magic, rest) = header.split_at(MANIFEST_MAGIC.len());
        if magic != MANIFEST_MAGIC {
            return Err("not an object manifest (bad magic)".to_owned());
        }
        let (size, count) = rest.split_at(8);
        let size = u64::from_le_bytes(size.try_into().map_err(|_| "bad size field")?);
        let count = u32::from_le_bytes(count.try_into().map_err(|_| "bad count field")?);
        let list = data.get(MANIFEST_HEADER..).unwrap_or_default();
        if list.len() != count as usize * HASH_LEN {
            return Err(format!(
                "manifest lists {} bytes of part ids for {count} parts",
                list.len()
            ));
        }
        if size.div_ceil(PART_SIZE as u64) != u64::from(count) {
            return Err(format!("{count} parts cannot hold {size} bytes"));
        }
        let parts = list
            .chunks_exact(HASH_LEN)
            .map(|chunk| {
                let mut part = [0u8; HASH_LEN];
                part.copy_from_slice(chunk);
                part
            })
            .collect();
        Ok(Self { size, parts })
    }

    /// Expected length of part `index`: full parts, then the remainder.
    fn part_len(&self, index: usize) -> u64 {
        let start = index as u64 * PART_SIZE as u64;
        (self.size - start).min(PART_SIZE as u64)
    }
}

/// Immutable content-addressed objects over a block store.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    store: SharedStore,
}

impl ObjectStore {
    /// Objects kept in `store`.
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// The block store the objects live in.
    pub(crate) fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Stores `data` and returns its id. Idempotent: storing the same bytes again only checks
    /// that the object is there.
    pub async fn put(&self, data: Bytes) -> Result<ObjectId, StoreError> {
        let hashed = data.clone();
        let (id, manifest) = tokio::task::spawn_blocking(move || {
            let parts = hashed.chunks(PART_SIZE).map(blake2b256).collect();
            let manifest = Manifest {
                size: hashed.len() as u64,
                parts,
            };
            (ObjectId::of(&hashed), manifest)
        })
        .await?;
        let manifest_key = id.manifest_key();
        // The parts go through `put_part` even when the manifest is there: its `exists` tells
        // the garbage collector they are wanted again, and stores a part it already deleted.
        // Owned keys: closures over borrowed keys make this future non-`Send`
        // (rust-lang/rust#110338), and callers await it inside spawned tasks.
        let parts: Vec<([u8; 32], Bytes)> = manifest
            .parts
            .iter()
            .enumerate()
            .map(|(index, key)| {
                let start = index * PART_SIZE;
                let end = (start + PART_SIZE).min(data.len());
                (*key, data.slice(start..end))
            })
            .collect();
        stream::iter(parts)
            .map(|(key, part)| self.put_part(key, part))
            .buffer_unordered(PART_CONCURRENCY)
            .try_collect::<()>()
            .await?;
        self.store
            .set(&manifest_key, Bytes::from(manifest.encode()))
            .await?;
        Ok(id)
    }

    async fn put_part(&self, key: [u8; 32], part: Bytes) -> Result<(), StoreError> {
        // Parts are shared between objects with common content; skip sending what is there.
        if self.store.exists(&key).await? {
            return Ok(());
        }
        self.store.set(&key, part).await
    }

    /// The object's bytes, `None` if it is not stored. The content is checked against its id.
    pub async fn get(&self, id: &ObjectId) -> Result<Option<Bytes>, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptObject {
            id: id.to_hex(),
            reason,
        };
        let Some(raw) = self.store.get(&id.manifest_key()).await? else {
            return Ok(None);
        };
        let manifest = Manifest::decode(&raw).map_err(corrupt)?;
        let capacity = usize::try_from(manifest.size)
            .unwrap_or(usize::MAX)
            .min(READ_BUFFER_HINT);
        let mut content = BytesMut::with_capacity(capacity);
        let keys: Vec<[u8; 32]> = manifest.parts.clone();
        let mut parts = stream::iter(keys.into_iter().enumerate())
            .map(|(index, key)| async move { (index, self.store.get(&key).await) })
            .buffered(PART_CONCURRENCY);
        while let Some((index, part)) = parts.next().await {
            let part = part?.ok_or_else(|| corrupt(format!("part {index} is missing")))?;
            let expected = manifest.part_len(index);
            if part.len() as u64 != expected {
                return Err(corrupt(format!(
                    "part {index} has {} bytes instead of {expected}",
                    part.len()
                )));
            }
            content.extend_from_slice(&part);
        }
        let content = content.freeze();
        let checked = content.clone();
        let actual = tokio::task::spawn_blocking(move || ObjectId::of(&checked)).await?;
        if actual != *id {
            return Err(corrupt(format!("content hashes to {actual}")));
        }
        Ok(Some(content))
    }

    /// The block keys holding the object (manifest first, then its parts), `None` if it is not
    /// stored; what the garbage collector marks for a live flist.
    pub async fn keys(&self, id: &ObjectId) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let manifest_key = id.manifest_key();
        let Some(raw) = self.store.get(&manifest_key).await? else {
            return Ok(None);
        };
        let manifest = Manifest::decode(&raw).map_err(|reason| StoreError::CorruptObject {
            id: id.to_hex(),
            reason,
        })?;
        let mut keys = Vec::with_capacity(manifest.parts.len() + 1);
        keys.push(manifest_key);
        keys.extend(manifest.parts.iter().map(|part| part.to_vec()));
        Ok(Some(keys))
    }

    /// Whether the object is stored (its manifest is present).
    pub async fn exists(&self, id: &ObjectId) -> Result<bool, StoreError> {
        self.store.exists(&id.manifest_key()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handlers and axum routes await these futures inside spawned tasks: they must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(objects: &ObjectStore, id: &ObjectId) {
        fn assert_send<T: Send>(_: T) {}
        assert_send(objects.put(Bytes::new()));
        assert_send(objects.get(id));
        assert_send(objects.exists(id));
    }

    #[test]
    fn object_id_hex_round_trip() {
        let id = ObjectId::of(b"hello");
        let parsed: ObjectId = id.to_hex().parse().expect("valid hex");
        assert_eq!(parsed, id);
        assert_eq!(id.to_hex().len(), 64);
        assert!("abc".parse::<ObjectId>().is_err());
        assert!("zz".repeat(32).parse::<ObjectId>().is_err());
    }

    #[test]
    fn blake2b256_matches_known_vector() {
        // BLAKE2b-256 of the empty string.
        assert_eq!(
            ObjectId::of(b"").to_hex(),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }

    #[test]
    fn manifest_round_trip_and_validation() {
        let manifest = Manifest {
            size: PART_SIZE as u64 + 1,
            parts: vec![[1; HASH_LEN], [2; HASH_LEN]],
        };
        let encoded = manifest.encode();
        assert_eq!(Manifest::decode(&encoded), Ok(manifest));
        let Some(cut) = encoded.get(..encoded.len() - 1) else {
            panic!("manifest too short");
        };
        assert!(Manifest::decode(cut).is_err());
        let mut bad_magic = encoded.clone();
        bad_magic[0] ^= 1;
        assert!(Manifest::decode(&bad_magic).is_err());
        // Size that does not fit the part count.
        let wrong = Manifest {
            size: 3 * PART_SIZE as u64,
            parts: vec![[1; HASH_LEN]],
        };
        assert!(Manifest::decode(&wrong.encode()).is_err());
        let empty = Manifest {
            size: 0,
            parts: vec![],
        };
        assert_eq!(Manifest::decode(&empty.encode()), Ok(empty));
    }
}
