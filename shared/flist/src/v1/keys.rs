//! Row keys of the `entries` table (flist-formats §A.3).

use crate::Hash;

/// Normalises a directory path relative to the flist root: no leading, trailing or repeated
/// slashes (`"/usr//bin/"` → `"usr/bin"`). zflist only strips one slash at each end (A.3.1).
pub fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(part);
    }
    out
}

/// Directory key: lowercase hex of BLAKE2b-16 of the normalised relative path (A.3.1).
pub fn dir_key(path: &str) -> String {
    Hash::blake2b(16, normalize_path(path).as_bytes()).to_hex()
}

/// Directory key of an already normalised path (no allocation for the path).
pub(crate) fn dir_key_normalized(path: &str) -> String {
    Hash::blake2b(16, path.as_bytes()).to_hex()
}

/// Current-form ACL key (A.3.2): BLAKE2b-8 of
/// `user:<uname>\ngroup:<gname>\nmode:0o<octal>\nuid:<uid>\ngid:<gid>`, `mode & 0o7777`.
pub fn acl_key(uname: &str, gname: &str, mode: u32, uid: i64, gid: i64) -> String {
    let text = format!(
        "user:{uname}\ngroup:{gname}\nmode:0o{:o}\nuid:{uid}\ngid:{gid}",
        mode & 0o7777
    );
    hex::encode(
        blake2b_simd::Params::new()
            .hash_length(8)
            .hash(text.as_bytes())
            .as_bytes(),
    )
}

/// Legacy ACL key of flists built before 0-flist commit 72d599a: the mode string lost its first
/// four characters (A.3.2). Only for tests and diagnostics: readers never recompute keys.
pub fn legacy_acl_key(uname: &str, gname: &str, mode: u32, uid: i64, gid: i64) -> String {
    let current = format!("0o{:o}", mode & 0o7777);
    let m = current.get(4..).unwrap_or("");
    let text = format!("user:{uname}\ngroup:{gname}\nmode:{m}\nuid:{uid}\ngid:{gid}");
    hex::encode(
        blake2b_simd::Params::new()
            .hash_length(8)
            .hash(text.as_bytes())
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_keys() {
        assert_eq!(dir_key(""), "cae66941d9efbd404e4d88758ea67670");
        assert_eq!(dir_key("/"), "cae66941d9efbd404e4d88758ea67670");
        assert_eq!(dir_key("app"), "dae0b89ba4f982fd3e5bbc594b64aa2b");
        assert_eq!(dir_key("etc"), "9308da158ed557db704826796bca9f68");
        assert_eq!(dir_key("usr"), "577f16f80745b1ed8114271d9f365991");
        assert_eq!(dir_key("usr/bin"), "46c939da162118cf47886fe40f8b5600");
        assert_eq!(dir_key("/usr/bin/"), "46c939da162118cf47886fe40f8b5600");
        assert_eq!(dir_key("usr//bin"), "46c939da162118cf47886fe40f8b5600");
    }

    #[test]
    fn acl_keys_current_and_legacy() {
        let table = [
            (0o755, "d7683de000c13689", "1eee8b016c47ed55"),
            (0o644, "5f64cf1389d15471", "88817b65c38f19f2"),
            (0o1777, "e09bc332f4a1ff3e", "ccf9e62f0c546858"),
            (0o777, "73e6e9d75d19d7da", "f79b4cc8304ad952"),
        ];
        for (mode, current, legacy) in table {
            assert_eq!(acl_key("root", "root", mode, 0, 0), current, "{mode:o}");
            assert_eq!(
                legacy_acl_key("root", "root", mode, 0, 0),
                legacy,
                "{mode:o}"
            );
        }
        // File-type bits never enter the key.
        assert_eq!(acl_key("root", "root", 0o100755, 0, 0), "d7683de000c13689");
        // Reference hub flist (Part E.1) legacy keys.
        assert_eq!(
            legacy_acl_key("1000", "1000", 0o755, 1000, 1000),
            "414003790d7f0e16"
        );
        assert_eq!(
            legacy_acl_key("root", "shadow", 0o2755, 0, 42),
            "54d42f8313ecd57d"
        );
    }
}
