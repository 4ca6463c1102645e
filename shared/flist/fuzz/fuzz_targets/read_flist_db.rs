//! The `.flist` database image alone (no gzip or tar), so that mutations reach SQLite rows and
//! Cap'n Proto values directly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hub_flist::v1::read_database(data);
});
