//! The files one run reads and writes, checked together before anything is written: an output that is
//! the same file as an input, the store or another output would destroy it (`--out` equal to `--store`
//! replaced the store with the flag layer, with exit status 0), and an existing output is only replaced
//! with `--overwrite`. This is the one place every command (scan, change, drone, report, export, demo)
//! makes that check.
//!
//! "The same file" is decided the way the kernel sees it, not by spelling: an existing path is its
//! device and inode (so symlinks and hard links are seen through); a path that does not exist yet is
//! its canonicalized folder plus its file name (so `./a/../flags.gpkg` and `flags.gpkg` are one output).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file's identity on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileId {
    /// An existing file (or folder): device and inode.
    Inode(u64, u64),
    /// A file not written yet: its canonical folder and name.
    Future(PathBuf),
}

fn file_id(path: &Path) -> FileId {
    if let Ok(m) = std::fs::metadata(path) {
        return FileId::Inode(m.dev(), m.ino());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folder = std::fs::canonicalize(&parent).unwrap_or_else(|_| std::path::absolute(&parent).unwrap_or(parent));
    FileId::Future(folder.join(path.file_name().unwrap_or_default()))
}

/// One file of a run, with the option or role that names it in messages.
#[derive(Debug, Clone)]
struct Entry {
    role: String,
    path: PathBuf,
    id: FileId,
}

impl Entry {
    fn new(role: &str, path: &Path) -> Entry {
        Entry { role: role.to_string(), path: path.to_path_buf(), id: file_id(path) }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.role, self.path.display())
    }
}

/// What a run reads and writes. Build it with the paths the command line names, then [`RunFiles::check`]
/// before the first write.
#[derive(Debug, Default)]
pub struct RunFiles {
    reads: Vec<Entry>,
    writes: Vec<Entry>,
    /// Outputs that must not exist unless `--overwrite` (the others are replaced by design or kept).
    exclusive: Vec<usize>,
    overwrite: bool,
}

/// The companion files GDAL reads or writes with a multi-file format.
fn shapefile_parts(path: &Path) -> Vec<PathBuf> {
    let is_shp = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("shp"));
    if is_shp { ["shx", "dbf", "prj", "cpg"].iter().map(|e| path.with_extension(e)).collect() } else { Vec::new() }
}

impl RunFiles {
    /// A run that may replace existing outputs when `overwrite` is set.
    pub fn new(overwrite: bool) -> RunFiles {
        RunFiles { overwrite, ..Default::default() }
    }

    /// A file the run reads (a Shapefile's parts count with it).
    pub fn input(mut self, role: &str, path: &Path) -> RunFiles {
        self.reads.push(Entry::new(role, path));
        for part in shapefile_parts(path) {
            if part.exists() {
                self.reads.push(Entry::new(role, &part));
            }
        }
        self
    }

    /// Files the run reads, all under one role (a scene's bands).
    pub fn inputs<'a>(mut self, role: &str, paths: impl IntoIterator<Item = &'a Path>) -> RunFiles {
        for p in paths {
            self = self.input(role, p);
        }
        self
    }

    /// A file the run reads and updates in place (the store): it may exist, but nothing else may be it.
    pub fn store(mut self, role: &str, path: &Path) -> RunFiles {
        self.writes.push(Entry::new(role, path));
        self
    }

    /// A file the run creates: an existing one is an error without `--overwrite`; `sidecars` are the
    /// extensions of the companion files a multi-file format writes with it.
    pub fn output(mut self, role: &str, path: &Path, sidecars: &[&str]) -> RunFiles {
        self.exclusive.push(self.writes.len());
        self.writes.push(Entry::new(role, path));
        for ext in sidecars {
            self.exclusive.push(self.writes.len());
            self.writes.push(Entry::new(role, &super::atomic::sidecar_path(path, ext)));
        }
        self
    }

    /// A file the run may write but keeps when it exists (a default report beside `--out`): it must
    /// still not be an input or another output.
    pub fn optional_output(mut self, role: &str, path: &Path) -> RunFiles {
        self.writes.push(Entry::new(role, path));
        self
    }

    /// Fails, before anything is written, when an output is an input, the store or another output, or
    /// when an output exists and `--overwrite` was not given.
    pub fn check(&self) -> Result<()> {
        for (i, w) in self.writes.iter().enumerate() {
            if let Some(r) = self.reads.iter().find(|r| r.id == w.id) {
                return Err(Error::Usage(format!(
                    "{} is the same file as {}: writing it would destroy the input; choose another path",
                    w.describe(),
                    r.describe()
                )));
            }
            if let Some(other) = self.writes[..i].iter().find(|o| o.id == w.id) {
                return Err(Error::Usage(format!(
                    "{} is the same file as {}: one would overwrite the other; choose another path",
                    w.describe(),
                    other.describe()
                )));
            }
        }
        // A missing folder fails the write at the end, after the store was already updated: say so now.
        for w in &self.writes {
            let parent = match w.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                return Err(Error::input(&w.path, format!("folder {} does not exist", parent.display())));
            }
        }
        if !self.overwrite {
            for &i in &self.exclusive {
                let w = &self.writes[i];
                if w.path.exists() {
                    return Err(Error::OutputExists { path: w.path.clone() });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_symlinks_and_hard_links_do_not_hide_a_collision() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.tif");
        std::fs::write(&input, b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let dotted = dir.path().join("sub/../in.tif");
        let link = dir.path().join("link.tif");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let hard = dir.path().join("hard.tif");
        std::fs::hard_link(&input, &hard).unwrap();
        for out in [&input, &dotted, &link, &hard] {
            let err = RunFiles::new(true).input("BEFORE", &input).output("--out", out, &[]).check().unwrap_err();
            assert!(err.to_string().contains("same file as BEFORE"), "{err}");
        }
        let fresh = dir.path().join("out.gpkg");
        RunFiles::new(false).input("BEFORE", &input).output("--out", &fresh, &[]).check().unwrap();
        let twice = RunFiles::new(false).output("--out", &fresh, &[]).output(
            "--report",
            &dir.path().join("sub/../out.gpkg"),
            &[],
        );
        assert!(twice.check().unwrap_err().to_string().contains("same file as --out"));
    }

    #[test]
    fn sidecars_and_existing_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let plots = dir.path().join("plots.shp");
        std::fs::write(&plots, b"x").unwrap();
        std::fs::write(dir.path().join("plots.dbf"), b"x").unwrap();
        // A CSV output named like the registry's table would replace it.
        let err = RunFiles::new(true).input("--plots", &plots).output("--out", &dir.path().join("plots.dbf"), &[]);
        assert!(err.check().is_err());
        let exists = RunFiles::new(false).output("--out", &plots, &[]).check().unwrap_err();
        assert!(matches!(exists, Error::OutputExists { .. }));
        // A store may exist; it is updated, not created.
        RunFiles::new(false).store("--store", &plots).check().unwrap();
        // A missing folder is found before the store is updated, not when --out is finally written.
        let nowhere = dir.path().join("no-such-dir/flags.gpkg");
        let err = RunFiles::new(false).output("--out", &nowhere, &[]).check().unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
