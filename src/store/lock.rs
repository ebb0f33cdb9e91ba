//! One writer at a time per store. Two scans on one store at once broke it both ways: on a new store the
//! second saw the first's half-created file ("exists but is not a jingtu store"), and on an existing one
//! both read the same ingested scenes and both recorded them (26 scenes new for 13). SQLite's own
//! locking only serializes single transactions; a scan reads the store, works for minutes, then writes,
//! so the whole read-work-write must be exclusive.
//!
//! The lock is an advisory `flock` on `STORE.lock` beside the store (`store.gpkg.lock`), held for the
//! scan's life and released by the kernel when the process ends, however it ends (a `kill -9` leaves no
//! stale lock). The file holds the holder's pid, host and command line for the message of whoever waits.
//! It is never deleted: removing a lock file while another process waits on it would let a third lock a
//! new file of the same name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// An exclusive hold on a store, released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

/// The lock file of `store`.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    store.with_file_name(name)
}

/// Who holds a lock, as its file says.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() { "another process".to_string() } else { text.to_string() }
}

/// `flock(2)` (std's `File::lock` is newer than the crate's minimum Rust), retried when a signal
/// interrupts the wait.
fn flock(file: &File, operation: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: the descriptor is open for as long as `file` lives; flock has no other preconditions.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl StoreLock {
    /// Takes the writer lock of `store`. When another process holds it: with `wait`, says so through
    /// `progress` and waits for it; without, fails at once naming the holder.
    pub fn acquire(store: &Path, wait: bool, progress: &dyn Progress) -> Result<StoreLock> {
        let path = lock_path(store);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::store(store, format!("cannot create its lock file {}: {e}", path.display())))?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let who = holder(&mut file);
                if !wait {
                    return Err(Error::store(
                        store,
                        format!(
                            "is being written by {who} (lock {}); run again when it is done, or without --no-wait to wait",
                            path.display()
                        ),
                    ));
                }
                progress.warn(&format!(
                    "store {} is being written by {who}; waiting for it to finish (--no-wait fails instead)",
                    store.display()
                ));
                flock(&file, libc::LOCK_EX)
                    .map_err(|e| Error::store(store, format!("lock {}: {e}", path.display())))?;
            }
            Err(e) => {
                return Err(Error::store(store, format!("lock {}: {e}", path.display())));
            }
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let command: String = std::env::args().collect::<Vec<_>>().join(" ").chars().take(300).collect();
        let me = format!("pid {} on {} ({command})", std::process::id(), host.trim());
        // The holder's note is a courtesy to waiters: failing to write it does not stop the scan.
        let _ = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(me.as_bytes()));
        Ok(StoreLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn a_second_holder_is_refused_without_wait_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.gpkg");
        let first = StoreLock::acquire(&store, false, &Silent).unwrap();
        assert_eq!(first.path(), dir.path().join("s.gpkg.lock"));
        let err = StoreLock::acquire(&store, false, &Silent).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        StoreLock::acquire(&store, false, &Silent).unwrap();
    }
}
