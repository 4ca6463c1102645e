//! Chunk decoding of both formats. The id is computed from the input so that fuzzing gets past
//! the id check into decryption and decompression.
#![no_main]

use hub_flist::{BlockRef, Format, Hash, chunk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::Flist
    } else {
        Format::Fl
    };
    let n = format.hash_len();
    if rest.len() < n {
        return;
    }
    let (key, encrypted) = rest.split_at(n);
    let Ok(key) = Hash::new(key) else {
        return;
    };
    // The id is BLAKE2b of the encrypted bytes, the same function as the plain key.
    let id = chunk::plain_key(format, encrypted);
    if let Ok(plain) = chunk::decode(format, &BlockRef { id, key }, encrypted) {
        assert!(plain.len() <= chunk::CHUNK_SIZE);
    }
});
