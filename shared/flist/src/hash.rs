//! Fixed-size binary hashes (block ids and keys) and block references.

use std::fmt;

/// Error for a byte string or hex text that is not a valid hash.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HashError {
    /// Hashes are 16 (`.flist`) or 32 (`.fl`) bytes long.
    #[error("a hash must be 16 or 32 bytes long, got {0}")]
    Length(usize),
    /// The text is not lowercase or uppercase hexadecimal.
    #[error("invalid hex: {0}")]
    Hex(#[from] hex::FromHexError),
}

/// A 16-byte (BLAKE2b-16, `.flist`) or 32-byte (BLAKE2b-32, `.fl`) hash.
///
/// `Copy` and inline: block lists hold millions of these, so no heap allocation per hash.
/// Bytes past `len` are always zero, which keeps the derived comparisons consistent.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash {
    len: u8,
    bytes: [u8; 32],
}

impl Hash {
    /// Builds a hash from 16 or 32 raw bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, HashError> {
        match bytes.len() {
            16 | 32 => {
                let mut out = [0u8; 32];
                out[..bytes.len()].copy_from_slice(bytes);
                Ok(Hash {
                    len: bytes.len() as u8,
                    bytes: out,
                })
            }
            n => Err(HashError::Length(n)),
        }
    }

    /// BLAKE2b with a digest length of `len` bytes (16 or 32), as used by both formats.
    pub(crate) fn blake2b(len: usize, data: &[u8]) -> Self {
        let digest = blake2b_simd::Params::new().hash_length(len).hash(data);
        let mut out = [0u8; 32];
        out[..len].copy_from_slice(digest.as_bytes());
        Hash {
            len: len as u8,
            bytes: out,
        }
    }

    /// Parses 32 or 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HashError> {
        Self::new(&hex::decode(text)?)
    }

    /// The raw bytes (16 or 32 of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Number of bytes: 16 or 32.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a hash has 16 or 32 bytes (present for API symmetry with `len`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lowercase hex text.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Reference to one stored chunk of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Store key of the encrypted chunk (BLAKE2b of the encrypted bytes).
    pub id: Hash,
    /// Decryption key (BLAKE2b of the plain chunk).
    pub key: Hash,
}

/// Checks that every id and key of a block list has `len` bytes, before a writer stores them.
pub(crate) fn check_lengths(blocks: &[BlockRef], len: usize) -> Result<(), crate::FlistError> {
    for b in blocks {
        for (what, h) in [("block id", &b.id), ("block key", &b.key)] {
            if h.len() != len {
                return Err(crate::FlistError::BadHashLength {
                    what,
                    got: h.len(),
                    expected: len,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(Hash::new(&[1; 16]).map(|h| h.len()), Ok(16));
        assert_eq!(Hash::new(&[1; 32]).map(|h| h.len()), Ok(32));
        assert_eq!(Hash::new(&[1; 15]), Err(HashError::Length(15)));
        assert_eq!(Hash::new(&[]), Err(HashError::Length(0)));
        assert!(Hash::from_hex("zz").is_err());
        assert!(Hash::from_hex("abcd").is_err());
    }

    #[test]
    fn hex_round_trip() -> Result<(), HashError> {
        let text = "a5147f6e7cac3a7076f942cb5e00d896";
        let h = Hash::from_hex(text)?;
        assert_eq!(h.to_hex(), text);
        assert_eq!(h.to_string(), text);
        assert_eq!(format!("{h:?}"), text);
        assert_eq!(Hash::from_hex(&text.to_uppercase())?, h);
        Ok(())
    }

    #[test]
    fn blake2b_is_parameterised_not_truncated() {
        // Spec A.3.1: BLAKE2b-16 of the empty path is the root key.
        assert_eq!(
            Hash::blake2b(16, b"").to_hex(),
            "cae66941d9efbd404e4d88758ea67670"
        );
        let full = blake2b_simd::Params::new().hash_length(64).hash(b"");
        assert_ne!(Hash::blake2b(16, b"").as_bytes(), &full.as_bytes()[..16]);
    }

    #[test]
    fn short_and_long_hashes_differ() -> Result<(), HashError> {
        let short = Hash::new(&[0; 16])?;
        let long = Hash::new(&[0; 32])?;
        assert_ne!(short, long);
        Ok(())
    }
}
