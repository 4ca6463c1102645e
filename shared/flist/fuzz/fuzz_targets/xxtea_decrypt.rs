//! XXTEA decryption with the length check: first 16 bytes are the key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, body)) = data.split_first_chunk::<16>() else {
        return;
    };
    if let Ok(plain) = hub_flist::chunk::xxtea::decrypt(body, key) {
        // Whatever decrypts must re-encrypt to the same bytes.
        assert_eq!(hub_flist::chunk::xxtea::encrypt(&plain, key), body);
    }
});
