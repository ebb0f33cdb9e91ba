//! The raw command line, as clap parses it. Resolution into run settings happens in `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// jingtu: surveillance of development and idle bare ground on contaminated land from satellite and
/// drone imagery.
#[derive(Debug, Parser)]
#[command(name = "jingtu", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands (CONTRACT.md).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the bundled demo area and run the main job on it.
    Demo(DemoArgs),
    /// Monthly scan of registered plots over all scenes up to a date, incremental against the store.
    Scan(ScanArgs),
    /// Compare two rasters of the same place (satellite or drone orthomosaic).
    Change(ChangeArgs),
    /// The changefeed for registry services: flags changed since a cursor.
    Export(ExportArgs),
    /// Compare two drone flights: height change from surface models, with orthomosaics for context.
    Drone(DroneArgs),
    /// The HTML scan report (image chips, charts, map) and PNG quicklooks of a store's flags.
    Report(ReportArgs),
    /// Show what the engine sees in a raster or a plot file, or (--backends) where kernels would run.
    Inspect(InspectArgs),
    /// Serve a store over HTTP: OGC API - Features (plots, flags), the changefeed, flag reviews.
    Serve(ServeArgs),
    /// API tokens of `jingtu serve`: create (printed once), revoke, list.
    Token(TokenArgs),
    /// Record what a field check of a flag found (as POST /flags/{flag_id}/reviews does).
    Review(ReviewArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output, or write one page per command into --out DIR.
    Man(ManArgs),
}

/// `jingtu completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `jingtu man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write jingtu.1 and jingtu-COMMAND.1 into this folder instead of printing jingtu.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Options every command shares.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// Band mapping override, e.g. blue=1,green=2,red=3,nir=4,swir1=5,swir2=6.
    #[arg(long, value_name = "NAME=INDEX,...", global = true)]
    pub bands: Option<String>,
    /// Sensor profile: sentinel2-l2a, landsat-tm, landsat8-c2l2, gaofen, drone-rgb, drone-ms.
    #[arg(long, value_name = "PROFILE", global = true)]
    pub sensor: Option<String>,
    /// Where per-pixel work runs: auto, gpu or cpu.
    #[arg(long, value_name = "auto|gpu|cpu", global = true)]
    pub backend: Option<String>,
    /// Settings file (TOML): detector thresholds, registry field names, backend. `--config KEY VALUE`
    /// with an upper-case GDAL option name (`--config AWS_S3_ENDPOINT minio:9000`, `--config
    /// GDAL_HTTP_MAX_RETRY 5`) sets a GDAL configuration option instead, as GDAL's own tools do.
    #[arg(long, value_name = "FILE.toml", global = true)]
    pub config: Option<PathBuf>,
    /// GeoTIFF creation option for raster outputs (repeatable), e.g. --co COMPRESS=ZSTD --co
    /// BLOCKSIZE=256: passed to GDAL's COG driver, replacing jingtu's default for the same option.
    #[arg(long = "co", value_name = "NAME=VALUE", global = true)]
    pub creation_options: Vec<String>,
    /// Refuse every network href (`http(s)://`, `s3://`, `/vsicurl/`, `/vsis3/`): only local files are read.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Output format: gpkg, geojson, shp, fgb or csv (default: from the extension).
    #[arg(long, value_name = "FORMAT", global = true)]
    pub format: Option<String>,
    /// Replace existing outputs.
    #[arg(long, global = true)]
    pub overwrite: bool,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Machine-readable progress and summary on stdout, one JSON object per line.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `jingtu demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo data and results (store.gpkg, flags.gpkg, report.html, chips/).
    #[arg(long, value_name = "DIR", default_value = "jingtu-demo")]
    pub out: PathBuf,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu change`.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// The earlier raster.
    pub before: PathBuf,
    /// The later raster.
    pub after: PathBuf,
    /// Plot registry: keep only changes inside plots, each flag carrying its plot_id.
    #[arg(long, value_name = "VECTOR")]
    pub plots: Option<PathBuf>,
    /// Flags output (.gpkg, .geojson, .shp, .fgb, .csv).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the per-pixel change raster (GeoTIFF, UInt8: 0 none, 1 construction, 2 earthworks,
    /// 3 vegetation_loss, 4 other change, 255 nodata).
    #[arg(long, value_name = "FILE.tif")]
    pub change_raster: Option<PathBuf>,
    /// Compare images without georeferencing (plain PNG or JPEG of the same size) pixel by pixel; areas
    /// are then in pixels and outputs carry no CRS.
    #[arg(long)]
    pub pixel_grid: bool,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu drone`.
#[derive(Debug, Args)]
pub struct DroneArgs {
    /// Surface model (DSM, heights in metres) of the earlier flight.
    #[arg(long, value_name = "DSM.tif")]
    pub before_dsm: PathBuf,
    /// Surface model of the later flight.
    #[arg(long, value_name = "DSM.tif")]
    pub after_dsm: PathBuf,
    /// Orthomosaic of the earlier flight (RGB, RGBA or multispectral): registration and vegetation.
    #[arg(long, value_name = "ORTHO.tif", requires = "after_ortho")]
    pub before_ortho: Option<PathBuf>,
    /// Orthomosaic of the later flight.
    #[arg(long, value_name = "ORTHO.tif", requires = "before_ortho")]
    pub after_ortho: Option<PathBuf>,
    /// Plot registry: keep only changes inside plots, each flag carrying its plot_id.
    #[arg(long, value_name = "VECTOR")]
    pub plots: Option<PathBuf>,
    /// Flags output (.gpkg, .geojson, .shp, .fgb, .csv).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the registered height change (GeoTIFF, Float32 metres, after - before, NaN nodata).
    #[arg(long, value_name = "FILE.tif")]
    pub height_raster: Option<PathBuf>,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Plot registry (any OGR source: GeoPackage, Shapefile, GeoJSON, FlatGeobuf, KML).
    #[arg(long, value_name = "VECTOR")]
    pub plots: PathBuf,
    /// Scenes: a STAC Catalog, Collection, ItemCollection or Item (a file, or an http(s):// or s3://
    /// href), a folder of STAC Item JSON files, a folder of dated rasters; or, with --collection, the URL
    /// of a STAC API.
    #[arg(long, value_name = "SOURCE")]
    pub scenes: PathBuf,
    /// Search this collection of the STAC API given as --scenes, over the plots' bounding box and up to
    /// --as-of (following the `next` links).
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    /// The store (GeoPackage) that keeps state between monthly scans; created when missing.
    #[arg(long, value_name = "FILE.gpkg")]
    pub store: Option<PathBuf>,
    /// Only acquisitions up to and including this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Write the flags here too (.gpkg, .geojson, .shp, .fgb, .csv).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the HTML report here. Default: beside --out with the extension .html, or without --out
    /// beside --store as STORE-AS_OF.html (one per month); an existing default is kept unless --overwrite.
    #[arg(long, value_name = "FILE.html", conflicts_with = "no_report")]
    pub report: Option<PathBuf>,
    /// Write no HTML report.
    #[arg(long)]
    pub no_report: bool,
    /// When another scan is writing the store, fail at once (exit 2, naming it) instead of waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Write a PNG quicklook per flag (before and after, outlines drawn) and an index.json into DIR.
    #[arg(long, value_name = "DIR")]
    pub chips: Option<PathBuf>,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The store written by `jingtu scan`.
    #[arg(long, value_name = "FILE.gpkg")]
    pub store: PathBuf,
    /// The scan to report on (a scan id from the store's `scans` table; default: the latest).
    #[arg(long, value_name = "ID")]
    pub scan: Option<String>,
    /// The HTML report (one self-contained file).
    #[arg(long, value_name = "FILE.html", required_unless_present = "chips")]
    pub out: Option<PathBuf>,
    /// Write a PNG quicklook per flag (before and after, outlines drawn) and an index.json into DIR.
    #[arg(long, value_name = "DIR")]
    pub chips: Option<PathBuf>,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The store written by `jingtu scan`.
    #[arg(long, value_name = "FILE.gpkg")]
    pub store: PathBuf,
    /// Cursor from the previous export's last line (0 or omitted: everything).
    #[arg(long, value_name = "CURSOR", default_value = "0")]
    pub since: String,
    /// Write to this file instead of stdout (required for gpkg).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Shared options (`--format ndjson|geojson|gpkg`).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A raster or a vector file.
    #[arg(required_unless_present = "backends")]
    pub path: Option<PathBuf>,
    /// List the GPU adapters found and say what --backend auto and --backend gpu would run on.
    #[arg(long, conflicts_with = "path")]
    pub backends: bool,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store written by `jingtu scan` (switched to SQLite's write-ahead log so scans run while it serves).
    #[arg(long, value_name = "FILE.gpkg")]
    pub store: PathBuf,
    /// Address and port to listen on (port 0: any free port, said on stderr).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Serve reads without a token (reviews still need a review token).
    #[arg(long)]
    pub public_read: bool,
    /// TLS certificate chain (PEM): serve HTTPS.
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Longest a request may take, reading it included (seconds); a slower client gets 408.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `jingtu token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokenAction,
}

/// `jingtu token create|revoke|list`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (the only time it is shown; the store keeps its SHA-256).
    Create {
        /// The store.
        #[arg(long, value_name = "FILE.gpkg")]
        store: PathBuf,
        /// read (collections, changefeed) or review (also record reviews).
        #[arg(long, value_name = "read|review")]
        scope: String,
        /// A name to know it by (who or what uses it); unique in the store.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Shared options.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Revoke a token by name; it stops working on the next request.
    Revoke {
        /// The store.
        #[arg(long, value_name = "FILE.gpkg")]
        store: PathBuf,
        /// The token's name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Shared options.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List tokens (names, scopes, dates; never the tokens).
    List {
        /// The store.
        #[arg(long, value_name = "FILE.gpkg")]
        store: PathBuf,
        /// Shared options.
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// `jingtu review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The store.
    #[arg(long, value_name = "FILE.gpkg")]
    pub store: PathBuf,
    /// The flag checked (its flag_id).
    pub flag_id: String,
    /// What was found: confirmed, false_alarm, permitted or remediated.
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: String,
    /// What was seen.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Who checked.
    #[arg(long, value_name = "NAME")]
    pub reviewer: String,
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}
