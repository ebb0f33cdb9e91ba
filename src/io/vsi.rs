//! Remote data through GDAL's virtual file systems: `http(s)://` hrefs read as `/vsicurl/`, `s3://` as
//! `/vsis3/` (and `gs://` as `/vsigs/`), with GDAL's own configuration (AWS_* and GDAL_HTTP_* in the
//! environment or `--config KEY VALUE`). A remote file is named everywhere by its GDAL path, so the
//! rest of jingtu passes it to GDAL as it passes a local path.
//!
//! Also the bytes fetched over the network: GDAL 3.6 has no network statistics API (3.7 added
//! `VSINetworkStats*`), but every range it downloads is announced in a debug message ("Downloading
//! 0-16383 (URL)..."), which `gdal_env`'s handler hands to [`count_download_message`].

use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

static OFFLINE: AtomicBool = AtomicBool::new(false);
static FETCHED: AtomicU64 = AtomicU64::new(0);

/// The GDAL virtual file systems that reach the network.
const NETWORK_PREFIXES: [&str; 8] =
    ["/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/", "/vsiswift/", "/vsihdfs/"];

/// Forbids (or allows again) every network href for the rest of the process (`--offline`).
pub fn set_offline(offline: bool) {
    OFFLINE.store(offline, Ordering::SeqCst);
}

/// Whether `--offline` is in force.
pub fn offline() -> bool {
    OFFLINE.load(Ordering::SeqCst)
}

/// Whether `href` names something on the network (a URL GDAL can read, or a GDAL network path).
pub fn is_remote(href: &str) -> bool {
    let lower = href.to_ascii_lowercase();
    ["http://", "https://", "s3://", "gs://"].iter().any(|p| lower.starts_with(p))
        || NETWORK_PREFIXES.iter().any(|p| href.starts_with(p))
        || href.starts_with("/vsicurl?")
}

/// Whether `path` is a GDAL network path (what [`gdal_path`] makes of a remote href).
pub fn is_network_path(path: &Path) -> bool {
    path.to_str().is_some_and(|p| NETWORK_PREFIXES.iter().any(|pre| p.starts_with(pre)))
}

/// The GDAL path of a remote href: `https://h/k` → `/vsicurl/https://h/k`, `s3://b/k` → `/vsis3/b/k`,
/// `gs://b/k` → `/vsigs/b/k`; GDAL paths are kept as they are.
pub fn gdal_path(href: &str) -> String {
    let lower = href.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        format!("/vsicurl/{href}")
    } else if lower.starts_with("s3://") {
        format!("/vsis3/{}", &href[5..])
    } else if lower.starts_with("gs://") {
        format!("/vsigs/{}", &href[5..])
    } else {
        href.to_string()
    }
}

/// `rel` (a relative href) resolved against the folder `base` of a GDAL network path, with `.` and `..`
/// segments removed: an object store takes `a/./b.tif` as a key of its own, not as `a/b.tif`.
pub fn join(base: &str, rel: &str) -> String {
    let (root, rest) = split_root(base);
    let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("{root}{}", parts.join("/"))
}

/// The folder of a GDAL network path (what relative hrefs in a document read from it resolve against).
pub fn parent(path: &str) -> String {
    let (root, rest) = split_root(path);
    match rest.rfind('/') {
        Some(i) => format!("{root}{}", &rest[..i]),
        None => root.to_string(),
    }
}

/// The server (`/vsicurl/http://host:port/`) or file system prefix (`/vsis3/`) of a network path: what
/// an href starting with `/` is relative to.
pub fn root(path: &str) -> &str {
    split_root(path).0
}

/// The part of a network path that `..` never climbs above: the file system prefix plus, for
/// `/vsicurl/`, the scheme and host; for object stores, the prefix (the bucket is the first segment).
fn split_root(path: &str) -> (&str, &str) {
    for scheme in ["https://", "http://"] {
        if let Some(i) = path.find(scheme) {
            let after = i + scheme.len();
            let host_end = path[after..].find('/').map_or(path.len(), |j| after + j + 1);
            return (&path[..host_end], &path[host_end..]);
        }
    }
    for pre in NETWORK_PREFIXES {
        if let Some(rest) = path.strip_prefix(pre) {
            return (&path[..pre.len()], rest);
        }
    }
    ("", path)
}

/// Fails, naming the href, when `--offline` is in force.
pub fn check_allowed(path: &Path) -> Result<()> {
    if offline() && (is_network_path(path) || path.to_str().is_some_and(is_remote)) {
        return Err(Error::input(
            path,
            "a network href, and --offline forbids the network; drop --offline or use local copies",
        ));
    }
    Ok(())
}

/// Size and modification time (seconds since the epoch; 0 when the server gives none) of a network
/// file, by GDAL's stat (a HEAD request, cached by GDAL for the later reads).
pub fn stat(path: &Path) -> Result<(u64, i64)> {
    check_allowed(path)?;
    crate::io::gdal_env::init();
    let c = c_path(path)?;
    // GDAL's VSIStatBufL is the C library's `struct stat64` (opaque in the bindings).
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // Exists (0x1) and size (0x4): the stat of a network file is one HEAD (or a GET of its first bytes).
    let flags = 0x1 | 0x4;
    // SAFETY: a valid C string and a zeroed `struct stat64` that GDAL fills.
    let rc = unsafe { gdal_sys::VSIStatExL(c.as_ptr(), (&mut st as *mut libc::stat64).cast(), flags) };
    if rc != 0 {
        return Err(Error::input(path, format!("cannot be reached or does not exist ({})", last_gdal_error())));
    }
    Ok((st.st_size as u64, st.st_mtime))
}

/// The whole of a network file, read through GDAL.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut reader = Reader::open(path)?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut out).map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// A network file opened through GDAL, read in order (for hashing).
pub struct Reader {
    handle: *mut gdal_sys::VSILFILE,
}

impl Reader {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<Reader> {
        check_allowed(path)?;
        crate::io::gdal_env::init();
        let c = c_path(path)?;
        // SAFETY: valid C strings; a null handle is checked.
        let handle = unsafe { gdal_sys::VSIFOpenL(c.as_ptr(), c"rb".as_ptr()) };
        if handle.is_null() {
            return Err(Error::input(path, format!("cannot be opened ({})", last_gdal_error())));
        }
        Ok(Reader { handle })
    }
}

impl std::io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: the handle is open and `buf` is writable for its length.
        let n = unsafe { gdal_sys::VSIFReadL(buf.as_mut_ptr().cast(), 1, buf.len(), self.handle) };
        if n < buf.len() {
            // SAFETY: as above.
            // GDAL 3.6 has no VSIFErrorL: a short read before the end is the error.
            let eof = unsafe { gdal_sys::VSIFEofL(self.handle) } != 0;
            if !eof {
                return Err(std::io::Error::other(last_gdal_error()));
            }
        }
        Ok(n)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: opened by VSIFOpenL, closed once.
        unsafe { gdal_sys::VSIFCloseL(self.handle) };
    }
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.to_string_lossy().as_bytes()).map_err(|_| Error::input(path, "a path with a NUL byte"))
}

fn last_gdal_error() -> String {
    // SAFETY: GDAL's thread-local last error message, copied at once.
    let msg = unsafe { CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned();
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.is_empty() { "no such object, or the server refused".to_string() } else { msg }
}

/// Adds the ranges a GDAL download debug message announces ("VSICURL: Downloading 0-16383 (URL)...",
/// also `S3:`, and comma-separated ranges of a multi-range read) to the bytes fetched.
pub fn count_download_message(message: &str) {
    let Some(at) = message.find("Downloading ") else { return };
    let rest = &message[at + "Downloading ".len()..];
    let ranges = rest.split_whitespace().next().unwrap_or("");
    let mut total = 0u64;
    for r in ranges.split(',') {
        if let Some((a, b)) = r.split_once('-') {
            if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                total += b.saturating_sub(a) + 1;
            }
        }
    }
    FETCHED.fetch_add(total, Ordering::Relaxed);
}

/// Adds bytes fetched outside GDAL's file systems (STAC API pages fetched with `CPLHTTPFetch`).
pub fn count_fetched(bytes: u64) {
    FETCHED.fetch_add(bytes, Ordering::Relaxed);
}

/// Empties GDAL's cache of downloaded ranges and file sizes of every network file system.
pub fn clear_cache() {
    // SAFETY: no arguments; GDAL locks its caches.
    unsafe { gdal_sys::VSICurlClearCache() };
}

/// Bytes GDAL has fetched over the network so far in this process (the ranges it requested).
pub fn fetched_so_far() -> u64 {
    FETCHED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_become_gdal_paths_and_resolve_without_dot_segments() {
        assert_eq!(gdal_path("https://h.example/a/b.tif"), "/vsicurl/https://h.example/a/b.tif");
        assert_eq!(gdal_path("s3://bucket/a/b.tif"), "/vsis3/bucket/a/b.tif");
        assert_eq!(gdal_path("/vsis3/bucket/k.tif"), "/vsis3/bucket/k.tif");
        assert!(is_remote("HTTPS://x/y") && is_remote("/vsicurl/http://x/y") && !is_remote("/data/x.tif"));
        let base = parent("/vsicurl/http://127.0.0.1:8080/data/catalog.json");
        assert_eq!(base, "/vsicurl/http://127.0.0.1:8080/data");
        assert_eq!(join(&base, "./scenes/B02.tif"), "/vsicurl/http://127.0.0.1:8080/data/scenes/B02.tif");
        assert_eq!(join(&base, "../../x.tif"), "/vsicurl/http://127.0.0.1:8080/x.tif");
        assert_eq!(join(&parent("/vsis3/bucket/data/c.json"), "./a/b.tif"), "/vsis3/bucket/data/a/b.tif");
    }

    #[test]
    fn download_messages_count_their_ranges() {
        let before = fetched_so_far();
        count_download_message("VSICURL: Downloading 0-16383 (http://x/a.tif)...");
        count_download_message("S3: Downloading 100-199,300-399 (http://x/b.tif)...");
        count_download_message("VSICURL: GetFileSize(http://x/a.tif)=1000 response_code=200");
        assert!(fetched_so_far() - before >= 16384 + 200);
    }
}
