//! Content hashes of scenes: the same acquisition ingested twice (re-downloaded, renamed, listed twice)
//! counts once.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What identifies a file's version cheaply: a cached hash stays valid while these do not change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileFingerprint {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified_ns: i64,
}

impl FileFingerprint {
    /// The fingerprint of `path`.
    pub fn of(path: &Path) -> Result<FileFingerprint> {
        if crate::io::vsi::is_network_path(path) {
            // Size and Last-Modified from the server: an object replaced under the same key changes
            // one of them, and its cached hash is then computed again.
            let (size, modified_s) = crate::io::vsi::stat(path)?;
            return Ok(FileFingerprint { size, modified_ns: modified_s.saturating_mul(1_000_000_000) });
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        Ok(FileFingerprint { size: meta.len(), modified_ns })
    }
}

/// A file's hash with the fingerprint it was computed for (to cache).
pub type HashedFile = (std::path::PathBuf, FileFingerprint, String);

/// SHA-256 of the concatenated contents of `files` (in the given order), hex. `cached` may return a
/// known hash of one file for its fingerprint, which saves reading large files again every month.
pub fn content_hash(
    files: &[std::path::PathBuf],
    mut cached: impl FnMut(&Path, &FileFingerprint) -> Option<String>,
) -> Result<(String, Vec<HashedFile>)> {
    let mut scene = Sha256::new();
    let mut per_file = Vec::new();
    for f in files {
        let fp = FileFingerprint::of(f)?;
        let hex = match cached(f, &fp) {
            Some(h) => h,
            None => file_hash(f)?,
        };
        scene.update(hex.as_bytes());
        per_file.push((f.clone(), fp, hex));
    }
    let digest = scene.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), per_file))
}

fn file_hash(path: &Path) -> Result<String> {
    // A remote file is hashed from its bytes as a local one is (read through GDAL), so the same
    // acquisition is one scene whether a store first met it on disk or in a bucket. It is read once:
    // later scans find the hash in the store's cache under the same size and modification time.
    let mut file: Box<dyn Read> = if crate::io::vsi::is_network_path(path) {
        Box::new(crate::io::vsi::Reader::open(path)?)
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| Error::io(path, e))?)
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_hash_whatever_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.tif");
        let b = dir.path().join("copy-of-a.tif");
        std::fs::write(&a, b"pixels").unwrap();
        std::fs::write(&b, b"pixels").unwrap();
        let (ha, _) = content_hash(std::slice::from_ref(&a), |_, _| None).unwrap();
        let (hb, _) = content_hash(&[b], |_, _| None).unwrap();
        assert_eq!(ha, hb);
        std::fs::write(&a, b"other pixels").unwrap();
        let (hc, _) = content_hash(&[a], |_, _| None).unwrap();
        assert_ne!(ha, hc);
    }
}
