//! One error type for the library, with the file and the problem named in every variant a user can cause.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in jingtu's library code.
#[derive(Debug, thiserror::Error)]
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
    pub fn gdal(path: impl AsRef<Path>, err: gdal::errors::GdalError) -> Self {
        Error::Gdal {
            path: path.as_ref().to_path_buf(),
            message: crate::io::gdal_env::describe_at(path.as_ref(), &err),
        }
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
