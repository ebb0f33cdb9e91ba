//! Outputs written atomically: into a hidden temporary folder beside the target, then renamed into place,
//! so a crash or a bad input never leaves a half-written file where a good one was.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where a sidecar of `target` lies: `ext` replaces the extension (`"dbf"`: `a.shp` -> `a.dbf`, `"qml"`:
/// `change.tif` -> `change.qml`, where QGIS looks for a default style), except that a name starting
/// with a dot is appended to the whole file name (`".aux.xml"`: `change.tif` -> `change.tif.aux.xml`,
/// where GDAL looks for it).
pub fn sidecar_path(target: &Path, ext: &str) -> PathBuf {
    if ext.starts_with('.') {
        let mut name = target.as_os_str().to_os_string();
        name.push(ext);
        PathBuf::from(name)
    } else {
        target.with_extension(ext)
    }
}

/// A pending output: write to `temp_path()`, then `commit()`. Dropped without commit, it cleans up.
pub struct AtomicOutput {
    target: PathBuf,
    temp_dir: PathBuf,
    temp_path: PathBuf,
    sidecars: Vec<&'static str>,
    committed: bool,
}

impl AtomicOutput {
    /// Prepares to write `target`. Fails with `OutputExists` when it (or one of its `sidecars`, for
    /// multi-file formats such as Shapefile) exists and `overwrite` is false.
    pub fn new(target: &Path, sidecars: &[&'static str], overwrite: bool) -> Result<Self> {
        let name = target.file_name().ok_or_else(|| Error::Usage(format!("{}: not a file name", target.display())))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(Error::input(target, format!("folder {} does not exist", parent.display())));
        }
        if !overwrite {
            for p in std::iter::once(target.to_path_buf()).chain(sidecars.iter().map(|ext| sidecar_path(target, ext))) {
                if p.exists() {
                    return Err(Error::OutputExists { path: p });
                }
            }
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_dir = parent.join(format!(".jingtu-tmp-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&temp_dir).map_err(|e| Error::io(&temp_dir, e))?;
        let temp_path = temp_dir.join(name);
        Ok(AtomicOutput {
            target: target.to_path_buf(),
            temp_dir,
            temp_path,
            sidecars: sidecars.to_vec(),
            committed: false,
        })
    }

    /// Where to write.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Moves the written file (and its sidecars) into place.
    pub fn commit(mut self) -> Result<()> {
        for ext in &self.sidecars {
            let from = sidecar_path(&self.temp_path, ext);
            let to = sidecar_path(&self.target, ext);
            if from.exists() {
                std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            } else if to.exists() {
                // A stale sidecar of an older output would be read with the new one.
                std::fs::remove_file(&to).map_err(|e| Error::io(&to, e))?;
            }
        }
        std::fs::rename(&self.temp_path, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        let _ = std::fs::remove_dir_all(&self.temp_dir);
        Ok(())
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp_dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_output_is_kept_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("flags.geojson");
        std::fs::write(&target, "old").unwrap();
        let err = AtomicOutput::new(&target, &[], false).err().unwrap();
        assert!(matches!(err, Error::OutputExists { .. }));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
    }

    #[test]
    fn uncommitted_output_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("flags.geojson");
        {
            let out = AtomicOutput::new(&target, &[], false).unwrap();
            std::fs::write(out.temp_path(), "partial").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn commit_replaces_with_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.shp");
        std::fs::write(&target, "old").unwrap();
        std::fs::write(target.with_extension("cpg"), "stale").unwrap();
        let out = AtomicOutput::new(&target, &["dbf", "cpg"], true).unwrap();
        std::fs::write(out.temp_path(), "new").unwrap();
        std::fs::write(out.temp_path().with_extension("dbf"), "dbf").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert!(target.with_extension("dbf").exists());
        assert!(!target.with_extension("cpg").exists(), "stale sidecar removed");
    }

    #[test]
    fn dotted_sidecars_follow_the_whole_name() {
        assert_eq!(sidecar_path(Path::new("d/change.tif"), ".aux.xml"), Path::new("d/change.tif.aux.xml"));
        assert_eq!(sidecar_path(Path::new("d/change.tif"), "qml"), Path::new("d/change.qml"));
    }
}
