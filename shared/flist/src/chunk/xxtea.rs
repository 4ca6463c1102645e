//! XXTEA ("corrected block TEA") in the xxtea-c "include length" byte mode (flist-formats §A.6.2).
//!
//! The 16-byte key is used as raw binary (`xxtea_encrypt_bkey`): chunk keys are hashes and often
//! contain zero bytes, which the string-key entry point of xxtea-c would truncate.

use super::ChunkError;

const DELTA: u32 = 0x9E37_79B9;

/// Encrypts `data`, appending its length as a final 32-bit word before encryption.
///
/// The output is `4 * ceil(len / 4) + 4` bytes. Empty input gives empty output, as in xxtea-c
/// (the chunk codec never encrypts an empty buffer: Snappy output is at least one byte).
pub fn encrypt(data: &[u8], key: &[u8; 16]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let Ok(len) = u32::try_from(data.len()) else {
        // The length suffix is a u32; a chunk is at most 512 KiB, so this is a caller bug.
        panic!("xxtea::encrypt: input longer than u32::MAX bytes");
    };
    let mut words = to_words(data);
    words.push(len);
    encrypt_words(&mut words, &key_words(key));
    to_bytes(&words)
}

/// Decrypts data produced by [`encrypt`] and checks the length word.
///
/// Fails (never panics) when the input is not a multiple of 4 bytes, shorter than 8 bytes, or
/// when the decrypted length word is not within the last word's range: the usual sign of a wrong
/// key or corrupted data.
pub fn decrypt(data: &[u8], key: &[u8; 16]) -> Result<Vec<u8>, ChunkError> {
    if data.len() < 8 || !data.len().is_multiple_of(4) {
        return Err(ChunkError::XxteaLength(data.len()));
    }
    let mut words = to_words(data);
    decrypt_words(&mut words, &key_words(key));
    let Some((&len_word, body)) = words.split_last() else {
        return Err(ChunkError::XxteaLength(data.len()));
    };
    let stored = len_word as usize;
    let capacity = body.len() * 4;
    // Valid only if the plaintext needed exactly this many words (spec: N - 3 <= M <= N).
    if stored > capacity || stored + 3 < capacity {
        return Err(ChunkError::XxteaLengthWord { stored, capacity });
    }
    let mut out = to_bytes(body);
    out.truncate(stored);
    Ok(out)
}

fn key_words(key: &[u8; 16]) -> [u32; 4] {
    let mut k = [0u32; 4];
    for (word, bytes) in k.iter_mut().zip(key.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    k
}

/// Little-endian words, the last one zero-padded.
fn to_words(data: &[u8]) -> Vec<u32> {
    let mut words = Vec::with_capacity(data.len().div_ceil(4) + 1);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        words.push(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 4];
        last[..rest.len()].copy_from_slice(rest);
        words.push(u32::from_le_bytes(last));
    }
    words
}

fn to_bytes(words: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len() * 4);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

#[inline(always)]
fn mx(sum: u32, y: u32, z: u32, p: usize, e: usize, k: &[u32; 4]) -> u32 {
    (((z >> 5) ^ (y << 2)).wrapping_add((y >> 3) ^ (z << 4)))
        ^ ((sum ^ y).wrapping_add(k[(p & 3) ^ e] ^ z))
}

fn rounds(n: usize) -> u32 {
    // n >= 2 here, so the quotient fits easily.
    6 + (52 / n) as u32
}

/// Core encryption over `n >= 2` words (fewer words are left unchanged, as in xxtea-c).
fn encrypt_words(v: &mut [u32], k: &[u32; 4]) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let mut sum: u32 = 0;
    let mut z = v[n - 1];
    for _ in 0..rounds(n) {
        sum = sum.wrapping_add(DELTA);
        let e = ((sum >> 2) & 3) as usize;
        for p in 0..n - 1 {
            let y = v[p + 1];
            v[p] = v[p].wrapping_add(mx(sum, y, z, p, e, k));
            z = v[p];
        }
        let y = v[0];
        v[n - 1] = v[n - 1].wrapping_add(mx(sum, y, z, n - 1, e, k));
        z = v[n - 1];
    }
}

fn decrypt_words(v: &mut [u32], k: &[u32; 4]) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let mut sum = rounds(n).wrapping_mul(DELTA);
    let mut y = v[0];
    while sum != 0 {
        let e = ((sum >> 2) & 3) as usize;
        for p in (1..n).rev() {
            let z = v[p - 1];
            v[p] = v[p].wrapping_sub(mx(sum, y, z, p, e, k));
            y = v[p];
        }
        let z = v[n - 1];
        v[0] = v[0].wrapping_sub(mx(sum, y, z, 0, e, k));
        y = v[0];
        sum = sum.wrapping_sub(DELTA);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap_or_default()
    }

    #[test]
    fn vector_binary_key_with_zero_byte() {
        // Spec D.3: the key contains 0x00, which must not truncate it.
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let ct = encrypt(b"abcdefg", &key);
        assert_eq!(hex::encode(&ct), "7ce4a942a0027ee534590a0c");
        assert_eq!(decrypt(&ct, &key).ok(), Some(b"abcdefg".to_vec()));
    }

    #[test]
    fn vector_xxtea_c_example() {
        // Spec D.3: the published xxtea-c example, key "1234567890" padded with zeros.
        let mut key = [0u8; 16];
        key[..10].copy_from_slice(b"1234567890");
        let plain = "Hello World! 你好，中国！".as_bytes();
        let ct = encrypt(plain, &key);
        // Base64 "QncB1C0rHQoZ1eRiPM4dsZtRi9pNrp7sqvX76cFXvrrIHXL6", decoded.
        let expected =
            unhex("427701d42d2b1d0a19d5e4623cce1db19b518bda4dae9eecaaf5fbe9c157bebac81d72fa");
        assert_eq!(ct, expected);
        assert_eq!(decrypt(&ct, &key).ok().as_deref(), Some(plain));
    }

    #[test]
    fn vector_hello_world_chunk() {
        // Spec D.1: snappy("hello world\n") encrypted with its BLAKE2b-16 key.
        let key: [u8; 16] = unhex("c0cdb4699cdaa9eea4c563a934f1d52b")
            .try_into()
            .unwrap_or([0; 16]);
        let compressed = unhex("0c2c68656c6c6f20776f726c640a");
        assert_eq!(
            hex::encode(encrypt(&compressed, &key)),
            "893f00077aad00982c3024bda3cbe527b9e1ecb0"
        );
    }

    #[test]
    fn rejects_bad_lengths_and_length_words() {
        let key = [7u8; 16];
        assert!(matches!(
            decrypt(&[], &key),
            Err(ChunkError::XxteaLength(0))
        ));
        assert!(matches!(
            decrypt(&[0; 4], &key),
            Err(ChunkError::XxteaLength(4))
        ));
        assert!(matches!(
            decrypt(&[0; 9], &key),
            Err(ChunkError::XxteaLength(9))
        ));
        // Decrypting with the wrong key yields a random length word.
        let ct = encrypt(&[1u8; 100], &key);
        assert!(matches!(
            decrypt(&ct, &[8u8; 16]),
            Err(ChunkError::XxteaLengthWord { .. })
        ));
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert!(encrypt(&[], &[1; 16]).is_empty());
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 1..2000), key in any::<[u8; 16]>()) {
            let ct = encrypt(&data, &key);
            prop_assert_eq!(ct.len(), data.len().div_ceil(4) * 4 + 4);
            prop_assert_eq!(decrypt(&ct, &key).ok(), Some(data));
        }

        #[test]
        fn decrypt_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), key in any::<[u8; 16]>()) {
            let _ = decrypt(&data, &key);
        }
    }
}
