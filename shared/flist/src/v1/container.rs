//! The `.flist` container: a single-member gzip of a tar holding `flistdb.sqlite3` (flist-formats
//! §A.1).

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::FlistError;

/// Name of the database member as zflist writes it.
const DB_MEMBER: &str = "./flistdb.sqlite3";

/// Extracts the database image from a `.flist` file.
///
/// Decompresses at most `limit` bytes (gzip bombs stop there with [`FlistError::TooLarge`]).
/// Accepts `./flistdb.sqlite3` and `flistdb.sqlite3`, and a tar without end-of-archive blocks.
pub(crate) fn extract_db(bytes: &[u8], limit: u64) -> Result<Vec<u8>, FlistError> {
    let tar = gunzip(bytes, limit)?;
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().map_err(FlistError::Tar)? {
        let mut entry = entry.map_err(FlistError::Tar)?;
        let path = entry.path_bytes();
        let name = path.strip_prefix(b"./").unwrap_or(&path);
        if name != b"flistdb.sqlite3" || !entry.header().entry_type().is_file() {
            continue;
        }
        // The member lies inside the already bounded buffer, so its size is bounded too.
        let mut db = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(tar.len()));
        entry.read_to_end(&mut db).map_err(FlistError::Tar)?;
        return Ok(db);
    }
    Err(FlistError::MissingDatabase)
}

/// Decompresses one gzip member, refusing more than `limit` bytes of output.
fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, FlistError> {
    let mut out = Vec::new();
    let mut decoder = GzDecoder::new(bytes).take(limit.saturating_add(1));
    decoder.read_to_end(&mut out).map_err(FlistError::Gzip)?;
    if out.len() as u64 > limit {
        return Err(FlistError::TooLarge { limit });
    }
    Ok(out)
}

/// Wraps a database image as zflist does: gzip of a GNU tar with `./` (0700) and
/// `./flistdb.sqlite3` (0644), owned by root, plus the end-of-archive blocks.
pub(crate) fn pack_db(db: &[u8]) -> Result<Vec<u8>, FlistError> {
    let mtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Fast compression: the database is mostly hashes, which barely compress anyway, and
    // writing must stay well below the hub's merge budget.
    let gz = GzEncoder::new(Vec::with_capacity(db.len() / 2 + 1024), Compression::fast());
    let mut builder = tar::Builder::new(gz);
    builder.append(
        &header("./", tar::EntryType::Directory, 0o700, 0, mtime)?,
        &[][..],
    )?;
    builder.append(
        &header(
            DB_MEMBER,
            tar::EntryType::Regular,
            0o644,
            db.len() as u64,
            mtime,
        )?,
        db,
    )?;
    let gz = builder.into_inner()?;
    let mut out = gz.finish()?;
    out.flush()?;
    Ok(out)
}

fn header(
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    size: u64,
    mtime: u64,
) -> Result<tar::Header, FlistError> {
    let mut h = tar::Header::new_gnu();
    // `set_path` would normalise `./` away; zflist's names are written verbatim.
    let field = &mut h.as_old_mut().name;
    let bytes = name.as_bytes();
    field
        .get_mut(..bytes.len())
        .ok_or_else(|| FlistError::Unwritable(format!("tar name {name} too long")))?
        .copy_from_slice(bytes);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root")?;
    h.set_groupname("root")?;
    h.set_cksum();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_then_extract() -> Result<(), FlistError> {
        let db = b"SQLite format 3\0pretend".repeat(100);
        let packed = pack_db(&db)?;
        assert_eq!(packed.get(..2), Some(&[0x1f, 0x8b][..]));
        assert_eq!(extract_db(&packed, 1 << 20)?, db);

        // Layout: two members with the exact names, modes and the end-of-archive blocks.
        let tar = gunzip(&packed, 1 << 20)?;
        assert_eq!(tar.len(), 512 + 512 + db.len().div_ceil(512) * 512 + 1024);
        assert!(tar[tar.len() - 1024..].iter().all(|b| *b == 0));
        let mut archive = tar::Archive::new(tar.as_slice());
        let members: Vec<(Vec<u8>, u32, tar::EntryType)> = archive
            .entries()?
            .filter_map(Result::ok)
            .map(|e| {
                let h = e.header();
                (
                    e.path_bytes().to_vec(),
                    h.mode().unwrap_or(0),
                    h.entry_type(),
                )
            })
            .collect();
        assert_eq!(
            members,
            vec![
                (b"./".to_vec(), 0o700, tar::EntryType::Directory),
                (
                    b"./flistdb.sqlite3".to_vec(),
                    0o644,
                    tar::EntryType::Regular
                ),
            ]
        );
        assert_eq!(&tar[257..265], b"ustar  \0", "GNU magic");
        Ok(())
    }

    #[test]
    fn accepts_bare_member_name_and_missing_trailer() -> Result<(), FlistError> {
        let db = b"database bytes".to_vec();
        let mut h = tar::Header::new_gnu();
        h.set_path("flistdb.sqlite3")?;
        h.set_size(db.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&db);
        tar.resize(1024, 0); // pad the data block, no end-of-archive blocks
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar)?;
        let packed = gz.finish()?;
        assert_eq!(extract_db(&packed, 1 << 20)?, db);
        Ok(())
    }

    #[test]
    fn errors_are_typed() -> Result<(), FlistError> {
        let packed = pack_db(&[7u8; 5000])?;
        assert!(matches!(
            extract_db(&packed[..packed.len() / 2], 1 << 20),
            Err(FlistError::Gzip(_))
        ));
        assert!(matches!(
            extract_db(&packed, 100),
            Err(FlistError::TooLarge { limit: 100 })
        ));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&[0u8; 2048])?;
        assert!(matches!(
            extract_db(&gz.finish()?, 1 << 20),
            Err(FlistError::MissingDatabase)
        ));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&[0x41u8; 700])?;
        assert!(matches!(
            extract_db(&gz.finish()?, 1 << 20),
            Err(FlistError::Tar(_))
        ));
        Ok(())
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() -> Result<(), FlistError> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&zeros)?;
        }
        let bomb = gz.finish()?;
        assert!(bomb.len() < 200_000);
        assert!(matches!(
            extract_db(&bomb, 1 << 22),
            Err(FlistError::TooLarge { .. })
        ));
        Ok(())
    }
}
