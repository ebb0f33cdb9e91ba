//! The library's front door: change detection and scans called from Rust, their flags handed back in
//! memory, writing a separate step.
//!
//! [`ChangeJob`] and [`ScanJob`] build the requests that `jingtu change` and `jingtu scan` build from
//! their flags and run the same job code; [`ChangeOutcome::write`] and [`ScanOutcome::write`] write what
//! `--out` writes. [`change_two_files`] and [`scan_registry`] are the logic of the examples of the same
//! names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::change::ChangeOptions;
use crate::compute::{Backend, BackendChoice, select};
use crate::error::Result;
use crate::export::{VectorFormat, write_flags};
use crate::flags::{Flag, FlagSet};
use crate::io::BandSelection;
use crate::io::plots::PlotFields;
use crate::progress::Silent;
use crate::scan::ScanOptions;
use crate::synth::area::{AreaSpec, DemoArea};
use crate::synth::pair::{FixturePair, PairOptions, write_pair};

use super::change::{ChangeOutcome, ChangeRequest, compute};
use super::scan::{ScanRequest, ScanSummary, scan};

/// Change detection between two rasters, as `jingtu change BEFORE AFTER` runs it.
///
/// ```
/// # fn main() -> jingtu::Result<()> {
/// use jingtu::{BackendChoice, ChangeJob, FlagKind};
///
/// let dir = tempfile::tempdir().unwrap();
/// // A synthetic pair with known truth (the test fixture): fields turned into buildings and earthworks.
/// let pair = jingtu::synth::pair::write_pair(dir.path(), &jingtu::synth::pair::PairOptions::new(7))?;
/// let outcome = ChangeJob::new(&pair.before, &pair.after).backend(BackendChoice::Cpu).run()?;
/// assert!(outcome.flags.iter().any(|f| f.kind == FlagKind::Construction));
/// assert_eq!(outcome.codes.dim(), (outcome.grid.height, outcome.grid.width));
/// // Writing is a separate step: the same file `jingtu change --out flags.geojson` writes.
/// outcome.write(dir.path().join("flags.geojson"))?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChangeJob {
    req: ChangeRequest,
    backend: BackendChoice,
}

impl ChangeJob {
    /// A job comparing `before` with `after`, with the command line's defaults.
    pub fn new(before: impl AsRef<Path>, after: impl AsRef<Path>) -> Self {
        ChangeJob {
            req: ChangeRequest {
                before: before.as_ref().to_path_buf(),
                after: after.as_ref().to_path_buf(),
                bands: BandSelection::default(),
                plots: None,
                plot_fields: PlotFields::default(),
                // Outputs are the outcome's to write; the computation never reads these.
                out: PathBuf::new(),
                format: None,
                change_raster: None,
                pixel_grid: false,
                overwrite: false,
                options: ChangeOptions::default(),
            },
            backend: BackendChoice::default(),
        }
    }

    /// Sensor profile, band mapping and scaling (`--sensor`, `--bands`, `--scale`).
    pub fn bands(&mut self, bands: BandSelection) -> &mut Self {
        self.req.bands = bands;
        self
    }

    /// Keeps only changes inside the plots of this registry (`--plots`).
    pub fn plots(&mut self, registry: impl AsRef<Path>) -> &mut Self {
        self.req.plots = Some(registry.as_ref().to_path_buf());
        self
    }

    /// The registry's field names.
    pub fn plot_fields(&mut self, fields: PlotFields) -> &mut Self {
        self.req.plot_fields = fields;
        self
    }

    /// Compares inputs without georeferencing pixel by pixel (`--pixel-grid`).
    pub fn pixel_grid(&mut self, yes: bool) -> &mut Self {
        self.req.pixel_grid = yes;
        self
    }

    /// Detector settings (the `[change]` section of the configuration).
    pub fn options(&mut self, options: ChangeOptions) -> &mut Self {
        self.req.options = options;
        self
    }

    /// Which backend [`ChangeJob::run`] selects (`--backend`; `auto` by default).
    pub fn backend(&mut self, choice: BackendChoice) -> &mut Self {
        self.backend = choice;
        self
    }

    /// Runs the job on the backend chosen.
    pub fn run(&self) -> Result<ChangeOutcome> {
        self.run_on(select(self.backend)?.as_ref())
    }

    /// Runs the job on `backend`.
    pub fn run_on(&self, backend: &dyn Backend) -> Result<ChangeOutcome> {
        compute(backend, &self.req, true, &Silent)
    }
}

/// A scan of a plot registry over scenes, as `jingtu scan --plots PLOTS --scenes SCENES` runs it.
///
/// ```
/// # fn main() -> jingtu::Result<()> {
/// use jingtu::{BackendChoice, ScanJob};
/// use jingtu::synth::area::{AreaSpec, generate};
///
/// let dir = tempfile::tempdir().unwrap();
/// // A small synthetic area: plots and two years of monthly scenes, as `jingtu demo` makes them.
/// let spec = AreaSpec { size: 128, plots_per_category: 1, ..AreaSpec::default() };
/// let area = generate(&dir.path().join("area"), &spec)?;
/// let outcome = ScanJob::new(&area.plots, &area.stac)
///     .store(dir.path().join("store.gpkg"))
///     .backend(BackendChoice::Cpu)
///     .run()?;
/// assert!(outcome.summary.scenes_new > 0);
/// // The flags are those the store holds after the scan.
/// let stored = jingtu::store::Store::open(Some(&dir.path().join("store.gpkg")))?.flags()?;
/// assert_eq!(outcome.flags.len(), stored.len());
/// outcome.write(dir.path().join("flags.gpkg"))?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ScanJob {
    req: ScanRequest,
    backend: BackendChoice,
}

impl ScanJob {
    /// A scan of the registry `plots` over `scenes` (a folder, a STAC catalogue or a CSV list), in a store
    /// in memory unless [`ScanJob::store`] names one.
    pub fn new(plots: impl AsRef<Path>, scenes: impl AsRef<Path>) -> Self {
        ScanJob {
            req: ScanRequest {
                plots: plots.as_ref().to_path_buf(),
                plot_fields: PlotFields::default(),
                scenes: scenes.as_ref().to_path_buf(),
                collection: None,
                bands: BandSelection::default(),
                store: None,
                as_of: None,
                out: None,
                format: None,
                overwrite: false,
                no_wait: false,
                options: ScanOptions::default(),
            },
            backend: BackendChoice::default(),
        }
    }

    /// The GeoPackage store that carries state between scans (`--store`); created when missing.
    pub fn store(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.req.store = Some(path.as_ref().to_path_buf());
        self
    }

    /// Scans only acquisitions up to `date` (`--as-of`).
    pub fn as_of(&mut self, date: NaiveDate) -> &mut Self {
        self.req.as_of = Some(date);
        self
    }

    /// Scan settings (the `[scan]` section of the configuration).
    pub fn options(&mut self, options: ScanOptions) -> &mut Self {
        self.req.options = options;
        self
    }

    /// Sensor profile, band mapping and scaling.
    pub fn bands(&mut self, bands: BandSelection) -> &mut Self {
        self.req.bands = bands;
        self
    }

    /// The registry's field names.
    pub fn plot_fields(&mut self, fields: PlotFields) -> &mut Self {
        self.req.plot_fields = fields;
        self
    }

    /// Searches the STAC API at the `scenes` URL for this collection (`--collection`).
    pub fn collection(&mut self, collection: impl Into<String>) -> &mut Self {
        self.req.collection = Some(collection.into());
        self
    }

    /// Fails at once when another scan holds the store, instead of waiting (`--no-wait`).
    pub fn no_wait(&mut self, yes: bool) -> &mut Self {
        self.req.no_wait = yes;
        self
    }

    /// Which backend [`ScanJob::run`] selects (`auto` by default).
    pub fn backend(&mut self, choice: BackendChoice) -> &mut Self {
        self.backend = choice;
        self
    }

    /// Runs the scan on the backend chosen; the store is committed when it returns.
    pub fn run(&self) -> Result<ScanOutcome> {
        self.run_on(select(self.backend)?.as_ref())
    }

    /// Runs the scan on `backend`.
    pub fn run_on(&self, backend: &dyn Backend) -> Result<ScanOutcome> {
        let (summary, _store, FlagSet { flags, crs_wkt }) = scan(backend, &self.req, &Silent)?;
        Ok(ScanOutcome { summary, flags, crs_wkt })
    }
}

/// What a scan found, in memory.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// The summary `jingtu scan --json` prints.
    pub summary: ScanSummary,
    /// Every plot's flags as the store holds them after this scan (open, resolved, dismissed), sorted by
    /// id: what `--out` writes.
    pub flags: Vec<Flag>,
    /// CRS of the flags' geometries (the scan's analysis frame), as WKT.
    pub crs_wkt: String,
}

impl ScanOutcome {
    /// Writes the flags as `jingtu scan --out PATH` does (the format from the extension); refuses an
    /// existing file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        self.write_to(path, None, false)
    }

    /// Writes the flags in `format` (else from the extension), replacing an existing file when `overwrite`.
    pub fn write_to(&self, path: impl AsRef<Path>, format: Option<VectorFormat>, overwrite: bool) -> Result<PathBuf> {
        let path = path.as_ref();
        let format = crate::export::resolve_format(path, format)?;
        write_flags(path, format, &FlagSet { flags: self.flags.clone(), crs_wkt: self.crs_wkt.clone() }, overwrite)?;
        Ok(path.to_path_buf())
    }
}

/// Flags counted by kind name, for printing.
pub fn count_by_kind(flags: &[Flag]) -> BTreeMap<&'static str, usize> {
    let mut by_kind = BTreeMap::new();
    for f in flags {
        *by_kind.entry(f.kind.name()).or_insert(0) += 1;
    }
    by_kind
}

/// The `change_two_files` example: a change between `before` and `after`, or, without them, between the
/// two dates of the synthetic fixture pair written into `scratch`.
pub fn change_two_files(inputs: Option<(PathBuf, PathBuf)>, scratch: &Path) -> Result<ChangeOutcome> {
    let (before, after) = match inputs {
        Some(pair) => pair,
        None => {
            std::fs::create_dir_all(scratch).map_err(|e| crate::error::Error::io(scratch, e))?;
            let FixturePair { before, after, .. } = write_pair(scratch, &PairOptions::new(7))?;
            (before, after)
        }
    };
    ChangeJob::new(before, after).run()
}

/// The area the `scan_registry` example scans when given none: the demo's layout, smaller (a quarter of
/// its pixels, a quarter of its plots), so that it runs in seconds.
pub fn example_area() -> AreaSpec {
    AreaSpec { size: 320, plots_per_category: 5, ..AreaSpec::default() }
}

/// The `scan_registry` example: a scan of `plots` over `scenes`, or, without them, of the synthetic area
/// [`example_area`] generated into `scratch`, into a store in `scratch`.
pub fn scan_registry(inputs: Option<(PathBuf, PathBuf)>, scratch: &Path) -> Result<ScanOutcome> {
    let (plots, scenes) = match inputs {
        Some(pair) => pair,
        None => {
            let DemoArea { plots, stac, .. } = crate::synth::area::generate(&scratch.join("area"), &example_area())?;
            (plots, stac)
        }
    };
    ScanJob::new(plots, scenes).store(scratch.join("store.gpkg")).run()
}
