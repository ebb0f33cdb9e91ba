//! One error type for the library, with the file and the problem named in every variant a user can cause.

use std::path::{Path, PathBuf};

use gdal::errors::GdalError;

/// Everything that can go wrong in jingtu's library code. Non-exhaustive, so that a new variant breaks no
/// caller's `match`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// GDAL could not open or read a file; `message` is GDAL's own.
    #[error("{}: {message}", path.display())]
    Gdal {
        /// The file GDAL was working on.
        path: PathBuf,
        /// GDAL's message (CPLGetLastErrorMsg), or ours where GDAL said nothing.
        message: String,
    },
    /// The input exists and opens but cannot be used as asked.
    #[error("{}: {problem}", path.display())]
    Input {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it, in words a user can act on.
        problem: String,
    },
    /// A band the job needs is not in the raster and no mapping names it.
    #[error("{}: no {band} band (bands are {available}); map it with --bands {band}=INDEX or pick a --sensor profile", path.display())]
    MissingBand {
        /// The raster.
        path: PathBuf,
        /// The band role that is missing (e.g. `nir`).
        band: String,
        /// What the engine did find, for the message.
        available: String,
    },
    /// Two rasters that should be compared do not share any ground.
    #[error("{} and {} do not overlap: {detail}", a.display(), b.display())]
    NoOverlap {
        /// First raster.
        a: PathBuf,
        /// Second raster.
        b: PathBuf,
        /// Their footprints, so the user can see why.
        detail: String,
    },
    /// An output exists and `--overwrite` was not given.
    #[error("{}: already exists; pass --overwrite to replace it", path.display())]
    OutputExists {
        /// The output that would have been replaced.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The command line or configuration asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The store (GeoPackage) could not be read or written.
    #[error("store {}: {message}", path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The GPU backend failed; callers fall back to the CPU.
    #[error("GPU: {0}")]
    Gpu(String),
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An input problem for `path`.
    pub fn input(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        Error::Input { path: path.as_ref().to_path_buf(), problem: problem.into() }
    }

    /// A GDAL failure on `path`, carrying GDAL's last error message.
    pub fn gdal(path: impl AsRef<Path>, err: GdalError) -> Self {
        Error::Gdal { path: path.as_ref().to_path_buf(), message: describe_gdal_at(path.as_ref(), &err) }
    }

    /// An I/O failure on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// A store failure.
    pub fn store(path: impl AsRef<Path>, message: impl std::fmt::Display) -> Self {
        Error::Store { path: path.as_ref().to_path_buf(), message: message.to_string() }
    }
}

/// GDAL's message for an error on `path`, without the path: jingtu's messages name the file once, in
/// front, and GDAL's own often repeat it ("a.tif: TIFFReadDirectory: ...", "(a.tif, band 1: ...)").
pub fn describe_gdal_at(path: &std::path::Path, err: &GdalError) -> String {
    without_path(&describe_gdal(err), &path.display().to_string())
}

fn without_path(message: &str, path: &str) -> String {
    if path.is_empty() {
        return message.to_string();
    }
    let mut m = message.to_string();
    for form in [format!("{path}: "), format!("{path}, "), format!("'{path}' "), format!("`{path}' "), path.to_string()]
    {
        m = m.replace(&form, "");
    }
    let m = m.trim().trim_start_matches([':', ',']).trim().to_string();
    if m.is_empty() { "GDAL failed without a message".to_string() } else { m }
}

/// GDAL's message for an error, without the wrapper text of the Rust bindings.
pub fn describe_gdal(err: &GdalError) -> String {
    let msg = match err {
        GdalError::CplError { msg, .. } => msg.clone(),
        GdalError::NullPointer { msg, method_name } => {
            if msg.is_empty() {
                format!("GDAL {method_name} failed")
            } else {
                msg.clone()
            }
        }
        other => other.to_string(),
    };
    let one_line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() { "GDAL failed without a message".to_string() } else { one_line }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdal_messages_lose_the_path_jingtu_already_names() {
        let p = "/data/a b.tif";
        assert_eq!(without_path("/data/a b.tif: TIFFReadDirectory: failed", p), "TIFFReadDirectory: failed");
        assert_eq!(without_path("(/data/a b.tif, band 1: IReadBlock failed)", p), "(band 1: IReadBlock failed)");
        assert_eq!(
            without_path("`/data/a b.tif' not recognized as a supported file format.", p),
            "not recognized as a supported file format."
        );
        assert_eq!(without_path("no path here", p), "no path here");
    }
}
