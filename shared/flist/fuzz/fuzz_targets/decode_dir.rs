//! Cap'n Proto `Dir` and `ACI` decoders of the `.flist` format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dir) = hub_flist::v1::decode_dir(data) {
        // A decoded record re-encodes and decodes to itself (unknown branches aside).
        if let Ok(bytes) = hub_flist::v1::encode_dir_record(&dir) {
            let again = hub_flist::v1::decode_dir(&bytes);
            use hub_flist::v1::InodeKind;
            let encodable = dir.contents.iter().all(|i| match &i.kind {
                InodeKind::Unknown(_) => false,
                InodeKind::Special { kind, .. } => *kind <= hub_flist::v1::special_type::UNKNOWN,
                _ => true,
            });
            if encodable {
                assert_eq!(again.ok().as_ref(), Some(&dir));
            }
        }
    }
    let _ = hub_flist::v1::decode_aci(data);
});
