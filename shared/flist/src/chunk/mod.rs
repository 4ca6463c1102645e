//! Chunk codec: how file content is cut, compressed, encrypted and addressed.
//!
//! * `.flist` (flist-formats §A.6): `key = BLAKE2b-16(plain)`, Snappy raw, XXTEA with length suffix
//!   keyed by `key`, `id = BLAKE2b-16(encrypted)`.
//! * `.fl` (flist-formats §B.5): `key = BLAKE2b-32(plain)`, Snappy raw, AES-256-GCM with `key` and
//!   nonce `key[..12]` (tag appended), `id = BLAKE2b-32(encrypted)`.
//!
//! Both are convergent: equal plaintext gives equal ids, which is what deduplicates the store.

pub mod xxtea;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};

use crate::{BlockRef, Format, Hash};

/// Size of every chunk except a file's last one: 512 KiB.
pub const CHUNK_SIZE: usize = 524_288;

/// Errors of the chunk codec.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The block's id or key does not have the format's hash length.
    #[error("{what} is {got} bytes long, expected {expected}")]
    HashLength {
        /// `id` or `key`.
        what: &'static str,
        /// Actual length.
        got: usize,
        /// Length required by the format.
        expected: usize,
    },
    /// The encrypted bytes do not hash to the block id (wrong or corrupted data from the store).
    #[error("encrypted chunk does not match its id {expected}")]
    IdMismatch {
        /// The id the caller asked for.
        expected: Hash,
    },
    /// XXTEA ciphertexts are a multiple of 4 bytes and at least 8 bytes long.
    #[error("XXTEA ciphertext of invalid length {0}")]
    XxteaLength(usize),
    /// The decrypted length word does not fit the ciphertext: wrong key or corrupted data.
    #[error("XXTEA length word {stored} does not fit {capacity} decrypted bytes")]
    XxteaLengthWord {
        /// The length stored in the last word.
        stored: usize,
        /// Bytes available before the length word.
        capacity: usize,
    },
    /// AES-GCM authentication failed: wrong key or corrupted data.
    #[error("AES-GCM authentication failed")]
    Aead,
    /// The Snappy data is malformed.
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    /// The Snappy header announces more than one chunk of plaintext.
    #[error("decompressed chunk would be {0} bytes, more than {CHUNK_SIZE}")]
    TooLarge(usize),
    /// The plaintext does not hash to the block key (`.flist` integrity check, flist-formats
    /// §A.6.3).
    #[error("decrypted chunk does not match its key {expected}")]
    KeyMismatch {
        /// The key the caller gave.
        expected: Hash,
    },
}

/// One chunk ready to be stored: `data` goes under `id`; `key` decrypts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedChunk {
    /// Decryption key: BLAKE2b of the plain chunk.
    pub key: Hash,
    /// Store key: BLAKE2b of `data`.
    pub id: Hash,
    /// The compressed, encrypted chunk.
    pub data: Vec<u8>,
}

impl EncodedChunk {
    /// The block reference to record in the flist.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            id: self.id,
            key: self.key,
        }
    }
}

/// Content key of a plain chunk: BLAKE2b-16 (`.flist`) or BLAKE2b-32 (`.fl`).
pub fn plain_key(format: Format, plain: &[u8]) -> Hash {
    Hash::blake2b(format.hash_len(), plain)
}

/// Compresses, encrypts and addresses one plain chunk.
///
/// # Panics
///
/// If `plain` is 4 GiB or longer (beyond Snappy's and XXTEA's length fields). Chunks are at
/// most [`CHUNK_SIZE`] bytes.
pub fn encode(format: Format, plain: &[u8]) -> EncodedChunk {
    encode_with_key(format, plain_key(format, plain), plain)
}

/// Like [`encode`] with the content key already computed (e.g. by a deduplication cache).
///
/// `key` must be [`plain_key`] of `plain`; a different key produces a chunk that readers of the
/// `.flist` format reject.
///
/// # Panics
///
/// If `plain` is 4 GiB or longer, or if `key` does not have the format's hash length (both are
/// programming errors, not data errors).
pub fn encode_with_key(format: Format, key: Hash, plain: &[u8]) -> EncodedChunk {
    assert_eq!(key.len(), format.hash_len(), "chunk key length");
    let compressed = snap::raw::Encoder::new()
        .compress_vec(plain)
        .unwrap_or_else(|e| panic!("snappy cannot compress {} bytes: {e}", plain.len()));
    let data = match format {
        Format::Flist => xxtea::encrypt(&compressed, &xxtea_key(&key)),
        Format::Fl => {
            let (cipher, nonce) = aes_for(&key);
            // Encryption only fails for plaintexts beyond GCM's 64 GiB limit.
            cipher
                .encrypt(&nonce, compressed.as_slice())
                .unwrap_or_else(|_| panic!("AES-GCM refused {} bytes", compressed.len()))
        }
    };
    let id = Hash::blake2b(format.hash_len(), &data);
    EncodedChunk { key, id, data }
}

/// Verifies, decrypts and decompresses one stored chunk.
///
/// Checks that `encrypted` hashes to `block.id`, and for `.flist` that the plaintext hashes to
/// `block.key` (the format's only integrity protection; `.fl` relies on the GCM tag). Plaintext
/// larger than [`CHUNK_SIZE`] is refused before it is allocated.
pub fn decode(format: Format, block: &BlockRef, encrypted: &[u8]) -> Result<Vec<u8>, ChunkError> {
    check_len(format, "id", &block.id)?;
    check_len(format, "key", &block.key)?;
    if Hash::blake2b(format.hash_len(), encrypted) != block.id {
        return Err(ChunkError::IdMismatch { expected: block.id });
    }
    let compressed = match format {
        Format::Flist => xxtea::decrypt(encrypted, &xxtea_key(&block.key))?,
        Format::Fl => {
            let (cipher, nonce) = aes_for(&block.key);
            cipher
                .decrypt(&nonce, encrypted)
                .map_err(|_| ChunkError::Aead)?
        }
    };
    let len = snap::raw::decompress_len(&compressed)?;
    if len > CHUNK_SIZE {
        return Err(ChunkError::TooLarge(len));
    }
    let plain = snap::raw::Decoder::new().decompress_vec(&compressed)?;
    if format == Format::Flist && plain_key(format, &plain) != block.key {
        return Err(ChunkError::KeyMismatch {
            expected: block.key,
        });
    }
    Ok(plain)
}

/// Number of chunks of a file of `size` bytes, in integer arithmetic (flist-formats §A.6.1).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE as u64)
}

fn check_len(format: Format, what: &'static str, hash: &Hash) -> Result<(), ChunkError> {
    if hash.len() == format.hash_len() {
        Ok(())
    } else {
        Err(ChunkError::HashLength {
            what,
            got: hash.len(),
            expected: format.hash_len(),
        })
    }
}

/// The first 16 bytes of the key (all of it for `.flist`, whose keys are 16 bytes).
fn xxtea_key(key: &Hash) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(key.as_bytes()) {
        *o = *b;
    }
    out
}

/// AES-256-GCM cipher keyed by a 32-byte `.fl` key, with the nonce `key[..12]` (flist-formats
/// §B.5).
fn aes_for(key: &Hash) -> (Aes256Gcm, aes_gcm::Nonce<aes_gcm::aead::consts::U12>) {
    let mut k = [0u8; 32];
    for (o, b) in k.iter_mut().zip(key.as_bytes()) {
        *o = *b;
    }
    let mut n = [0u8; 12];
    n.copy_from_slice(&k[..12]);
    (Aes256Gcm::new(&k.into()), n.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> Hash {
        Hash::from_hex(text).unwrap_or_else(|e| panic!("bad test hash {text}: {e}"))
    }

    #[test]
    fn d1_flist_hello_world() {
        let c = encode(Format::Flist, b"hello world\n");
        assert_eq!(c.key, h("c0cdb4699cdaa9eea4c563a934f1d52b"));
        assert_eq!(
            hex::encode(&c.data),
            "893f00077aad00982c3024bda3cbe527b9e1ecb0"
        );
        assert_eq!(c.id, h("a5147f6e7cac3a7076f942cb5e00d896"));
        let plain = decode(Format::Flist, &c.block_ref(), &c.data).ok();
        assert_eq!(plain.as_deref(), Some(&b"hello world\n"[..]));
    }

    #[test]
    fn d2_fl_hello_world() {
        let c = encode(Format::Fl, b"hello world\n");
        assert_eq!(
            c.key,
            h("c71b05fd1d1c7bf7e928ff18e58db5193e9316416cc26ba9cc9094da80d7011e")
        );
        assert_eq!(
            hex::encode(&c.data),
            "e565e4a3ac6198a15bf18a61f66ca364542240205ab53f72e221a7bc1837"
        );
        assert_eq!(
            c.id,
            h("d139c46e6cc65acfa2eef1d0cd7abf014667fdc9a5ca75d9184671f97301a0db")
        );
        let plain = decode(Format::Fl, &c.block_ref(), &c.data).ok();
        assert_eq!(plain.as_deref(), Some(&b"hello world\n"[..]));
    }

    #[test]
    fn d3_chunking_of_524289_bytes() {
        let file = vec![b'a'; CHUNK_SIZE + 1];
        let chunks: Vec<&[u8]> = file.chunks(CHUNK_SIZE).collect();
        assert_eq!(chunks.len() as u64, chunk_count(file.len() as u64));
        let expected = [
            (
                Format::Flist,
                0,
                "da9affe93f54c9bffcf4d52e110aa6cb",
                24_600,
                "d83af7a14c922a206f1b0eb04e7c657e",
            ),
            (
                Format::Flist,
                1,
                "27c35e6e9373877f29e562464e46497e",
                8,
                "31c51fa9f9716022ff7b0cf9d6842fe7",
            ),
            (
                Format::Fl,
                0,
                "57790c0206b093d7b4fbdf4efb684ad6accb4695bbaffcebfc13c4bf1dc8e9b7",
                24_611,
                "a0040106c3de4700d71491c75a8b437323111a779f29f9c9321dbf9bcee46717",
            ),
            (
                Format::Fl,
                1,
                "8928aae63c84d87ea098564d1e03ad813f107add474e56aedd286349c0c03ea4",
                19,
                "4615d25c808995c1d4513aa60865cb5987dd103790583ccd1742eda3e50de182",
            ),
        ];
        for (format, index, key, len, id) in expected {
            let plain = chunks[index];
            let c = encode(format, plain);
            assert_eq!(c.key, h(key), "{format} chunk {index} key");
            assert_eq!(c.data.len(), len, "{format} chunk {index} length");
            assert_eq!(c.id, h(id), "{format} chunk {index} id");
            let back = decode(format, &c.block_ref(), &c.data).ok();
            assert_eq!(back.as_deref(), Some(plain));
        }
        let compressed = snap::raw::Encoder::new()
            .compress_vec(chunks[0])
            .unwrap_or_default();
        assert_eq!(compressed.len(), 24_595);
        assert_eq!(
            hex::encode(&compressed[..16]),
            "8080200061fe0100fe0100fe0100fe01"
        );
    }

    #[test]
    fn encode_with_key_matches_encode() {
        for format in [Format::Flist, Format::Fl] {
            let plain = b"some plain bytes";
            let key = plain_key(format, plain);
            assert_eq!(encode_with_key(format, key, plain), encode(format, plain));
        }
    }

    #[test]
    fn decode_rejects_tampering() {
        for format in [Format::Flist, Format::Fl] {
            let c = encode(format, &[42u8; 5000]);
            let mut bad = c.data.clone();
            if let Some(b) = bad.get_mut(3) {
                *b ^= 1;
            }
            assert!(matches!(
                decode(format, &c.block_ref(), &bad),
                Err(ChunkError::IdMismatch { .. })
            ));
            // Right id but a wrong key: decryption or the integrity check fails.
            let wrong = BlockRef {
                id: c.id,
                key: plain_key(format, b"other"),
            };
            assert!(decode(format, &wrong, &c.data).is_err());
        }
    }

    #[test]
    fn decode_rejects_wrong_hash_lengths() {
        let c = encode(Format::Fl, b"x");
        assert!(matches!(
            decode(Format::Flist, &c.block_ref(), &c.data),
            Err(ChunkError::HashLength {
                what: "id",
                got: 32,
                expected: 16
            })
        ));
    }

    #[test]
    fn decode_refuses_oversized_plaintext() {
        // A valid chunk whose plaintext is one byte over the limit.
        for format in [Format::Flist, Format::Fl] {
            let c = encode(format, &vec![0u8; CHUNK_SIZE + 1]);
            assert!(matches!(
                decode(format, &c.block_ref(), &c.data),
                Err(ChunkError::TooLarge(n)) if n == CHUNK_SIZE + 1
            ));
        }
    }

    #[test]
    fn counts() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_SIZE as u64), 1);
        assert_eq!(chunk_count(CHUNK_SIZE as u64 + 1), 2);
        // The float bug of zflist (A.6.1) lost a chunk here; integers do not.
        assert_eq!(chunk_count(33 * CHUNK_SIZE as u64 + 3), 34);
    }
}
