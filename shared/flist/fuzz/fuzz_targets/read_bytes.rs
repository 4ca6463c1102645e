//! Whole files: `.flist` (gzip + tar + SQLite) and `.fl` (SQLite), format detected.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small cap keeps gzip bombs from dominating the run.
    let options = hub_flist::ReadOptions { max_size: 16 << 20 };
    if let Ok(flist) = hub_flist::read_bytes_with(data, &options) {
        // Whatever was accepted must be writable and walkable.
        let _ = flist.tree.dump();
        let _ = hub_flist::write_bytes(&flist);
    }
});
