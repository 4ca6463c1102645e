//! Archives for upload and conversion tests: tar streams built entry by entry in memory, a
//! directory packed as `.tar.gz`, gzip, and reading one member back out of a `.tar.gz`.

use std::io::{self, Read, Write};
use std::path::Path;

/// Modification time of every entry a [`TarBuilder`] writes, so that the same entries always
/// give the same bytes (and image layers the same digests).
pub const MTIME: u64 = 1_700_000_000;

/// Permission bits and owner of a tar entry. A bare mode (`0o644`) is owned by root;
/// `(mode, uid, gid)` names the owner too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// Permission bits, with set-id and sticky bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
}

impl From<u32> for Attrs {
    fn from(mode: u32) -> Self {
        Self {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

impl From<(u32, u64, u64)> for Attrs {
    fn from((mode, uid, gid): (u32, u64, u64)) -> Self {
        Self { mode, uid, gid }
    }
}

/// A tar stream in memory, built entry by entry with GNU headers. Entries are appended in
/// call order, so an archive may name a path twice or link before or after its target.
///
/// The builder methods chain; the first failure (a path the `tar` crate refuses, say) is kept
/// and returned by [`TarBuilder::finish`].
pub struct TarBuilder {
    builder: tar::Builder<Vec<u8>>,
    error: Option<io::Error>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// A copy holding the entries appended so far, to build two archives on a common start.
impl Clone for TarBuilder {
    fn clone(&self) -> Self {
        Self {
            builder: tar::Builder::new(self.builder.get_ref().clone()),
            error: self
                .error
                .as_ref()
                .map(|err| io::Error::new(err.kind(), err.to_string())),
        }
    }
}

impl TarBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            error: None,
        }
    }

    fn header(kind: tar::EntryType, attrs: Attrs) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(attrs.mode);
        header.set_uid(attrs.uid);
        header.set_gid(attrs.gid);
        header.set_mtime(MTIME);
        header.set_size(0);
        header
    }

    fn append(mut self, write: impl FnOnce(&mut tar::Builder<Vec<u8>>) -> io::Result<()>) -> Self {
        if self.error.is_none() {
            self.error = write(&mut self.builder).err();
        }
        self
    }

    /// A regular file holding `data`.
    pub fn file(self, path: &str, attrs: impl Into<Attrs>, data: &[u8]) -> Self {
        let mut header = Self::header(tar::EntryType::Regular, attrs.into());
        header.set_size(data.len() as u64);
        self.append(|builder| builder.append_data(&mut header, path, data))
    }

    /// A directory.
    pub fn dir(self, path: &str, attrs: impl Into<Attrs>) -> Self {
        let mut header = Self::header(tar::EntryType::Directory, attrs.into());
        self.append(|builder| builder.append_data(&mut header, path, io::empty()))
    }

    /// A symbolic link to `target`, root-owned with mode 0777 as link permissions mean
    /// nothing.
    pub fn symlink(self, path: &str, target: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Symlink, Attrs::from(0o777));
        self.append(|builder| builder.append_link(&mut header, path, target))
    }

    /// A hard link to `target`. Image writers give a hard link its target's attributes
    /// (runtimes apply them to the shared inode), so the caller names them.
    pub fn hardlink(self, path: &str, target: &str, attrs: impl Into<Attrs>) -> Self {
        let mut header = Self::header(tar::EntryType::Link, attrs.into());
        self.append(|builder| builder.append_link(&mut header, path, target))
    }

    /// A character or block device (`kind`) with mode 0660.
    pub fn device(self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut header = Self::header(kind, Attrs::from(0o660));
        self.append(|builder| {
            header.set_device_major(major)?;
            header.set_device_minor(minor)?;
            builder.append_data(&mut header, path, io::empty())
        })
    }

    /// A named pipe with mode 0640.
    pub fn fifo(self, path: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Fifo, Attrs::from(0o640));
        self.append(|builder| builder.append_data(&mut header, path, io::empty()))
    }

    /// An OCI whiteout: the empty file `.wh.<name>` beside `path`, which hides `path` of the
    /// layers below.
    pub fn whiteout(self, path: &str) -> Self {
        let whiteout = match path.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/.wh.{name}"),
            None => format!(".wh.{path}"),
        };
        self.file(&whiteout, 0o644, b"")
    }

    /// Marks directory `dir` opaque (the OCI `.wh..wh..opq` file): what the layers below hold
    /// in it disappears.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, b"")
    }

    /// Appends `header` and `data` as they are, without the path checks of the other methods
    /// (see [`raw_header`]).
    pub fn raw(self, header: &tar::Header, data: &[u8]) -> Self {
        self.append(|builder| builder.append(header, data))
    }

    /// The archive's bytes, with the end-of-archive blocks; or the first error of a method.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        match self.error {
            Some(err) => Err(err),
            None => self.builder.into_inner(),
        }
    }
}

/// A GNU header for [`TarBuilder::raw`] whose name is written verbatim: the `tar` crate refuses
/// `..` components and absolute paths anywhere else, and hostile archives carry exactly those.
pub fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    let field = &mut header
        .as_gnu_mut()
        .ok_or_else(|| io::Error::other("not a GNU header"))?
        .name;
    let bytes = name.as_bytes();
    field
        .get_mut(..bytes.len())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} does not fit the 100-byte name field"),
            )
        })?
        .copy_from_slice(bytes);
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(MTIME);
    header.set_cksum();
    Ok(header)
}

/// Everything below `root` as a `.tar.gz` with `./`-relative paths, as `tar czf - -C root .`
/// writes it; symbolic links are stored as links.
pub fn tar_gz(root: &Path) -> io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", root)?;
    builder.into_inner()?.finish()
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}

/// The content of member `name` of the `.tar.gz` `archive` (a leading `./` of member paths
/// ignored), or `None` when it has no such member.
pub fn tar_gz_member(archive: &[u8], name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut entries = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in entries.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if path.trim_start_matches("./") == name {
            let mut content = Vec::new();
            entry.read_to_end(&mut content)?;
            return Ok(Some(content));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// What a test looks at of an archive member.
    #[derive(Debug, PartialEq)]
    struct Member {
        path: String,
        kind: tar::EntryType,
        mode: u32,
        owner: (u64, u64),
        data: Vec<u8>,
    }

    fn members(tar: &[u8]) -> io::Result<Vec<Member>> {
        let mut archive = tar::Archive::new(tar);
        let mut out = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            out.push(Member {
                path: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                kind: header.entry_type(),
                mode: header.mode()?,
                // Raw headers leave the owner unset, as hostile archives may.
                owner: (
                    header.uid().unwrap_or_default(),
                    header.gid().unwrap_or_default(),
                ),
                data,
            });
        }
        Ok(out)
    }

    fn sample() -> io::Result<Vec<u8>> {
        TarBuilder::new()
            .dir("etc", 0o755)
            .file("etc/keep", (0o600, 0, 42), b"kept")
            .symlink("etc/link", "keep")
            .hardlink("etc/hard", "etc/keep", (0o600, 0, 42))
            .whiteout("srv/old")
            .opaque("opt")
            .file("etc/keep", 0o644, b"again")
            .finish()
    }

    #[test]
    fn entries_keep_their_order_kinds_and_owners() -> TestResult {
        let tar = sample()?;
        let got = members(&tar)?;
        let names: Vec<&str> = got.iter().map(|member| member.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc",
                "etc/keep",
                "etc/link",
                "etc/hard",
                "srv/.wh.old",
                "opt/.wh..wh..opq",
                "etc/keep"
            ]
        );
        assert_eq!(
            got[1],
            Member {
                path: "etc/keep".into(),
                kind: tar::EntryType::Regular,
                mode: 0o600,
                owner: (0, 42),
                data: b"kept".to_vec(),
            }
        );
        assert_eq!(got[2].kind, tar::EntryType::Symlink);
        assert_eq!((got[3].kind, got[3].owner), (tar::EntryType::Link, (0, 42)));
        assert_eq!((got[6].mode, got[6].owner), (0o644, (0, 0)));
        assert_eq!(got[6].data, b"again");
        // The same entries give the same bytes.
        assert_eq!(tar, sample()?);
        Ok(())
    }

    #[test]
    fn the_first_refused_entry_is_the_error() {
        let refused = TarBuilder::new()
            .file("../escape", 0o644, b"x")
            .file("fine", 0o644, b"y")
            .finish();
        assert!(refused.is_err());
        // A clone carries the failure along.
        let start = TarBuilder::new().file("/abs/../../x", 0o644, b"x");
        assert!(start.clone().finish().is_err());
    }

    #[test]
    fn raw_headers_carry_any_name() -> TestResult {
        let header = raw_header("../../etc/evil", tar::EntryType::Regular, 4)?;
        let tar = TarBuilder::new().raw(&header, b"evil").finish()?;
        let got = members(&tar)?;
        assert_eq!(got[0].path, "../../etc/evil");
        assert_eq!(got[0].data, b"evil");
        assert!(raw_header(&"x".repeat(101), tar::EntryType::Regular, 0).is_err());
        Ok(())
    }

    #[test]
    fn directories_round_trip_through_tar_gz() -> TestResult {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("etc"))?;
        std::fs::write(dir.path().join("etc/motd"), b"hello\n")?;
        std::os::unix::fs::symlink("motd", dir.path().join("etc/link"))?;
        let archive = tar_gz(dir.path())?;
        assert_eq!(
            tar_gz_member(&archive, "etc/motd")?.as_deref(),
            Some(&b"hello\n"[..])
        );
        assert_eq!(tar_gz_member(&archive, "etc/absent")?, None);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(gzip(b"abc")?.as_slice()).read_to_end(&mut plain)?;
        assert_eq!(plain, b"abc");
        Ok(())
    }
}
