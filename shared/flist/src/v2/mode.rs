//! Linux `st_mode` file types and `st_rdev` encoding used by the `.fl` format.

use crate::tree::NodeKind;

/// File-type mask of `st_mode`.
pub const S_IFMT: u32 = 0o170_000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140_000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// Regular file.
pub const S_IFREG: u32 = 0o100_000;
/// Block device.
pub const S_IFBLK: u32 = 0o060_000;
/// Directory.
pub const S_IFDIR: u32 = 0o040_000;
/// Character device.
pub const S_IFCHR: u32 = 0o020_000;
/// FIFO.
pub const S_IFIFO: u32 = 0o010_000;

/// File-type bits of a node kind.
pub fn type_bits(kind: &NodeKind) -> u32 {
    match kind {
        NodeKind::Dir { .. } => S_IFDIR,
        NodeKind::File { .. } => S_IFREG,
        NodeKind::Symlink { .. } => S_IFLNK,
        NodeKind::CharDevice { .. } => S_IFCHR,
        NodeKind::BlockDevice { .. } => S_IFBLK,
        NodeKind::Fifo => S_IFIFO,
        NodeKind::Socket => S_IFSOCK,
    }
}

/// glibc `makedev`: the 64-bit Linux `dev_t` of a major/minor pair.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0000_0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x0000_00ff)
}

/// glibc `major`/`minor` of a Linux `dev_t`.
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    // Both expressions are masked to 32 bits.
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_devices() {
        assert_eq!(makedev(1, 3), 0x103); // /dev/null
        assert_eq!(makedev(8, 1), 0x801); // /dev/sda1
        assert_eq!(makedev(259, 0), 0x10300);
        assert_eq!(makedev(4, 300), 0x10_042c); // minor above 255 spills to bits 20+
        assert_eq!(split_dev(0x103), (1, 3));
    }

    proptest! {
        #[test]
        fn round_trip(major in any::<u32>(), minor in any::<u32>()) {
            prop_assert_eq!(split_dev(makedev(major, minor)), (major, minor));
        }
    }
}
