//! A bi-temporal Sentinel-2-like fixture pair with known truth: the scene `jingtu change` is tested on.
//!
//! Two 256 x 256 GeoTIFFs at 10 m in EPSG:32651 (WGS 84 / UTM 51N, near Taizhou, Jiangsu), six UInt16 bands
//! of surface reflectance x 10000 described `B02 B03 B04 B08 B11 B12` (so the engine finds the band roles
//! on its own), value 0 declared as nodata. The ground is the same on both dates except for fifteen truth
//! events, A to O, each of a kind the engine must name:
//!
//! | kind | events | transitions painted |
//! | --- | --- | --- |
//! | `construction` | A B H I K N | crop or grass -> blue steel roof, bare soil -> concrete slab, crop -> concrete |
//! | `earthworks` | E F G L O | dust net removed -> soil, soil or fill -> moist excavated soil, pond -> fill |
//! | `vegetation_loss` | C D J M | crop, trees or grass -> bare soil |
//!
//! Imported fill on dry soil of about its brightness is left out on purpose: depending on the field it
//! differs by 0.03 to 0.05 RMS reflectance, the noise floor of 10 m change detection, so no truth could
//! promise it is seen; fill is dumped into a pond instead (G), as it often is.
//!
//! Events are rectangles of 900 to 4,800 m2 (3 x 3 to 8 x 6 pixels, the size of a house, a slab, a
//! stripped field corner) placed at whole metres, not on pixel edges, so their borders are mixed pixels
//! as in real imagery. Everything else is stable ground whose only differences between dates are those
//! every real pair has:
//!
//! - illumination and atmosphere: per band, `observed = gain * reflectance + haze`, with the later date
//!   8-14% darker (lower sun) and about three times hazier, the haze largest in blue and smallest in SWIR;
//! - crop vigour: each vegetated field's NIR/red contrast drifts by up to 4% between dates;
//! - misregistration: the later image sits 0.15 to 0.3 pixel off in a random direction (Sentinel-2's
//!   multi-temporal co-registration is specified within 0.3 pixel), so every sharp edge differs a little;
//! - sensor noise: 0.003 reflectance per band and pixel, independent on each date.
//!
//! Fields carry smooth value-noise texture and a field-to-field brightness spread (the same on both
//! dates, since it is the ground), so no detector can find change by edges or by flat patches.
//! Nodata holes: a cloud mask over the trees on the earlier date (rows 196-213, columns 20-47); on the
//! later date a masked cloud (disc of radius 8 px at row 104, column 20) and the edge of the orbit swath
//! (the wedge `column >= 250 - row / 16`). No hole touches an event.
//!
//! The layout (one character = 4 columns x 8 rows of pixels, sampled at pixel (8r+4, 4c+2); event letters
//! sit at their centres; north is up):
//!
//! ```text
//! ..........,,,,,,,,,,,ssssssssss=,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,
//! ..........,,,,,,,,,,,ssssssssss=,s#######sssbbbbbbbsssssssssss,,
//! ...A......,,,,,,,,,,,sssBssssss=,s#######sssbbbbbbbsssssssssss,,
//! ..........,,,,,,,,,,,ssssssssss=,s#######sssssssssssssssssssss,,
//! ..........,,,,,,,,,,,ssssssssss=,sssssssssssss~~~~ssssssssssss,,
//! ssssssssss...........tttttttttt=,snnnnnnnnnsss~G~~sss,,,,,,,,s,,
//! ssssssssss....C......tttttttttt=,snnFnnnnnnssssssssss,,,I,,,,s,,
//! ssssssssss...........ttttDttttt=,snnnnnnnnnssssssssss,,,,,,,,s,,
//! ssssssssss...........tttttttttt=,ssssssssssssssssssss,,,,,,,,s,,
//! ssssssssss...........tttttttttt=,=============================,,
//! ..........sssssssssss..........=,sssssssssssssssssssssssssssss,,
//! ..........sssssssssss..........=,sssssHssssssssssssssss######s,,
//! ..........sssssEsssss..........=,ssssssssssssnnnnnnnsss######s,,
//! ..........sssssssssss..........=,ssssssssssssnnnnnnnsss######s,,
//! ..........sssssssssss..........=,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,
//! ================================================================
//! ,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,=................................
//! ,,,,,,,,,,,,,,,,,,,,~~~~~~~~~,,=..,sssssssssssssss,,,,,,,,,.....
//! ,,bb,##,bb,##,bb,,,,~~~~~~~~~,,=..,sssssssssssssss,,,,,,,,,.....
//! ,,,,,,,,,,,,,,,,,,,,~~~~~~~~~,,=..,ssssNssssssssss,nnLnnn,,.....
//! ,,,,,,,,,,,,,,,,,,,,~~~~~~~~~,,=..,sssssssssssssss,nnnnnn,,.....
//! ,,bb,##,bb,##,bb,,,,~~~~~~~~~,,=..,sssssssssssssss,nnnnnn,,.....
//! ,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,=..,sssssssssssssss,,,,,,,,,.....
//! ,,,,,,,,,,,,,,,,,.............,=..,sssssssssssssss,,,,,,,,,.....
//! ,,ttttttttttttt,,.............,=..,,,ffffffffff,,,,,,,,,,,,.....
//! ,,ttttttttttttt,,.....K.......,=..,,,ffffOfffff,,,M,,,,,,,,.....
//! ,,ttttttttttttt,,.............,=..,,,ffffffffff,,,,,,,,,,,,.....
//! ,,ttttttttttttt,,.............,=..,,,ffffffffff,,,,,,,,,,,,.....
//! ,,ttttttJtttttt,,.............,=..,,,ffffffffff,,,,,,,,,,,,.....
//! ,,ttttttttttttt,,.............,=..,,,,,,,,,,,,,,,,,,,,,,,,,.....
//! ,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,=................................
//! ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
//! ```
//!
//! `.` crop  `,` sparse grass  `t` trees  `s` bare soil  `f` fill  `#` concrete  `b` blue steel roof
//! `=` asphalt  `~` water  `n` dust net.
//!
//! The plot registry (`plots.geojson`, WGS 84) lists three plots; changes outside them are real but not
//! on registered land:
//!
//! | plot_id | name | category | pixels (rows, columns) | events |
//! | --- | --- | --- | --- | --- |
//! | JS-TZ-001 | 化工厂旧址 (former chemical works) | legacy_industrial | 8-115, 134-247 | F G H I |
//! | JS-TZ-002 | 农药厂地块 (pesticide plant plot) | contaminated_listed | 134-237, 136-235 | L M N O |
//! | JS-TZ-003 | 电镀厂旧址 (former electroplating works, a pond) | legacy_industrial | 138-177, 78-117 | none |
//!
//! Everything is deterministic for a seed: the seed moves texture, noise, field brightness, crop vigour,
//! misregistration and the atmosphere within the ranges above, never the layout, so the picture and the truth hold for every
//! seed. [`generate`] makes the scene in memory; [`write_pair`] writes the GeoTIFFs (optionally the later
//! date warped into another CRS with GDAL, for the CRS-mismatch case), the truth change raster, a truth
//! JSON file and the plot registry. `JINGTU_FIXTURE_DIR=DIR cargo test --release --test it change::synthetic::keep_a_copy` writes one by hand.

use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::CoordTransform;
use gdal::{Dataset, DriverManager, Metadata};
use ndarray::{Array2, Array3};
use serde::Serialize;

use super::noise::ValueNoise;
use super::rng::Rng;
use super::spectra::{self, Spectrum};
use crate::change::CHANGE_PALETTE;
use crate::change::ChangeCode;
use crate::error::{Error, Result};
use crate::flags::FlagKind;
use crate::io::crs;
use crate::io::plots::Category;
use crate::raster::{Bounds, GeoTransform, Grid};

/// Columns and rows of the scene.
pub const SIZE: usize = 256;
/// Ground size of a pixel in metres (Sentinel-2's 10 m bands).
pub const PIXEL_SIZE: f64 = 10.0;
/// EPSG code of both dates as generated: WGS 84 / UTM zone 51N.
pub const EPSG: u32 = 32651;
/// Map coordinates of the scene's north-west corner: about 120.13 E, 32.5 N.
pub const ORIGIN: (f64, f64) = (230_000.0, 3_600_000.0);
/// Band descriptions, in file order: Sentinel-2 band names that `inspect` and `change` map to blue,
/// green, red, nir, swir1 and swir2.
pub const BAND_NAMES: [&str; 6] = ["B02", "B03", "B04", "B08", "B11", "B12"];
/// Acquisition date of the earlier image (in its file name and TIFFTAG_DATETIME).
pub const BEFORE_DATE: &str = "2024-03-12";
/// Acquisition date of the later image.
pub const AFTER_DATE: &str = "2024-06-20";
/// Standard deviation of the sensor noise, in reflectance.
pub const NOISE_SIGMA: f64 = 0.003;

/// What covers the ground in the fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cover {
    /// A dense green crop.
    Crop,
    /// Sparse grass, as on re-greened or abandoned land.
    SparseGrass,
    /// Trees.
    Forest,
    /// Dry bare soil.
    Soil,
    /// Freshly excavated, moist soil.
    MoistSoil,
    /// Light imported fill.
    Fill,
    /// Concrete slab or roof.
    Concrete,
    /// Blue-painted steel roof.
    BlueRoof,
    /// Asphalt road.
    Asphalt,
    /// Canal or pond.
    Water,
    /// Green dust-suppression net.
    DustNet,
}

impl Cover {
    /// Surface reflectance in blue, green, red, nir, swir1, swir2.
    pub fn spectrum(self) -> Spectrum {
        match self {
            Cover::Crop => spectra::VEGETATION,
            Cover::SparseGrass => spectra::SPARSE_VEGETATION,
            Cover::Forest => spectra::FOREST,
            Cover::Soil => spectra::SOIL,
            Cover::MoistSoil => spectra::MOIST_SOIL,
            Cover::Fill => spectra::FILL,
            Cover::Concrete => spectra::CONCRETE,
            Cover::BlueRoof => spectra::BLUE_ROOF,
            Cover::Asphalt => spectra::ASPHALT,
            Cover::Water => spectra::WATER,
            Cover::DustNet => spectra::DUST_NET,
        }
    }

    /// The character of the layout picture.
    pub fn symbol(self) -> char {
        match self {
            Cover::Crop => '.',
            Cover::SparseGrass => ',',
            Cover::Forest => 't',
            Cover::Soil => 's',
            Cover::MoistSoil => 'm',
            Cover::Fill => 'f',
            Cover::Concrete => '#',
            Cover::BlueRoof => 'b',
            Cover::Asphalt => '=',
            Cover::Water => '~',
            Cover::DustNet => 'n',
        }
    }

    /// Leaves whose vigour drifts between dates.
    fn is_vegetated(self) -> bool {
        matches!(self, Cover::Crop | Cover::SparseGrass | Cover::Forest)
    }
}

/// A rectangle of pixels, `rows.0..rows.1` by `cols.0..cols.1`, painted with one cover.
#[derive(Debug, Clone, Copy)]
struct Patch {
    rows: (usize, usize),
    cols: (usize, usize),
    cover: Cover,
}

const fn patch(r0: usize, r1: usize, c0: usize, c1: usize, cover: Cover) -> Patch {
    Patch { rows: (r0, r1), cols: (c0, c1), cover }
}

/// The ground on the earlier date, in painting order (later patches win).
fn layout() -> Vec<Patch> {
    use Cover::*;
    let mut p = vec![
        patch(0, SIZE, 0, SIZE, Crop),
        // North-west: farmland, nine fields.
        patch(0, 40, 0, 42, Crop),
        patch(0, 40, 42, 84, SparseGrass),
        patch(0, 40, 84, 125, Soil),
        patch(40, 84, 0, 42, Soil),
        patch(40, 84, 42, 84, Crop),
        patch(40, 84, 84, 125, Forest),
        patch(84, 124, 0, 42, Crop),
        patch(84, 124, 42, 84, Soil),
        patch(84, 124, 84, 125, Crop),
        // North-east: a closed chemical works (plot JS-TZ-001) in grass.
        patch(0, 124, 127, SIZE, SparseGrass),
        patch(8, 116, 134, 248, Soil),
        patch(12, 30, 138, 166, Concrete),
        patch(12, 28, 176, 206, BlueRoof),
        patch(40, 66, 138, 172, DustNet),
        patch(40, 70, 214, 244, SparseGrass),
        patch(76, 78, 134, 248, Asphalt),
        patch(94, 112, 180, 210, DustNet),
        patch(36, 49, 183, 199, Water),
        patch(88, 110, 222, 244, Concrete),
        // South-west: village, pond, trees, a crop field.
        patch(126, 246, 0, 125, SparseGrass),
    ];
    for i in 0..4 {
        for j in 0..5 {
            let cover = if (i + j) % 2 == 0 { Concrete } else { BlueRoof };
            p.push(patch(134 + 12 * i, 140 + 12 * i, 8 + 12 * j, 16 + 12 * j, cover));
        }
        p.push(patch(142 + 12 * i, 144 + 12 * i, 6, 66, Asphalt));
    }
    p.extend([
        patch(140, 176, 80, 116, Water),
        patch(190, 240, 8, 60, Forest),
        patch(186, 240, 70, 120, Crop),
        // South-east: a listed pesticide plant plot (JS-TZ-002) in farmland.
        patch(126, 246, 127, SIZE, Crop),
        patch(134, 238, 136, 236, SparseGrass),
        patch(140, 190, 140, 200, Soil),
        patch(196, 230, 150, 190, Fill),
        patch(150, 176, 206, 230, DustNet),
        // Roads, then the canal along the south with its grass bank.
        patch(124, 126, 0, SIZE, Asphalt),
        patch(0, 246, 125, 127, Asphalt),
        patch(246, 254, 0, SIZE, Water),
        patch(254, SIZE, 0, SIZE, SparseGrass),
    ]);
    p
}

/// One truth event as specified: a rectangle in metres east and south of the scene's north-west corner.
struct EventSpec {
    id: &'static str,
    kind: FlagKind,
    from: Cover,
    to: Cover,
    /// West edge, metres east of the origin.
    x: f64,
    /// North edge, metres south of the origin.
    y: f64,
    /// Width (east-west) in metres.
    w: f64,
    /// Height (north-south) in metres.
    h: f64,
}

const fn event(id: &'static str, kind: FlagKind, from: Cover, to: Cover, xywh: [f64; 4]) -> EventSpec {
    EventSpec { id, kind, from, to, x: xywh[0], y: xywh[1], w: xywh[2], h: xywh[3] }
}

const EVENTS: [EventSpec; 15] = {
    use Cover::*;
    use FlagKind::{Construction as Con, Earthworks as Ear, VegetationLoss as Veg};
    [
        event("A", Con, Crop, BlueRoof, [123.0, 142.0, 60.0, 50.0]),
        event("B", Con, Soil, Concrete, [955.0, 205.0, 40.0, 30.0]),
        event("C", Veg, Crop, Soil, [523.0, 518.0, 80.0, 60.0]),
        event("D", Veg, Forest, Soil, [1012.0, 603.0, 40.0, 40.0]),
        event("E", Ear, Soil, MoistSoil, [566.0, 944.0, 70.0, 50.0]),
        event("F", Ear, DustNet, Soil, [1445.0, 463.0, 60.0, 60.0]),
        event("G", Ear, Water, Fill, [1883.0, 403.0, 50.0, 40.0]),
        event("H", Con, Soil, Concrete, [1508.0, 862.0, 80.0, 60.0]),
        event("I", Con, SparseGrass, BlueRoof, [2232.0, 468.0, 50.0, 40.0]),
        event("J", Veg, Forest, Soil, [312.0, 2246.0, 30.0, 30.0]),
        event("K", Con, Crop, Concrete, [853.0, 2015.0, 60.0, 40.0]),
        event("L", Ear, DustNet, MoistSoil, [2102.0, 1553.0, 40.0, 50.0]),
        event("M", Veg, SparseGrass, Soil, [2004.0, 2024.0, 60.0, 50.0]),
        event("N", Con, Soil, BlueRoof, [1553.0, 1502.0, 50.0, 50.0]),
        event("O", Ear, Fill, MoistSoil, [1652.0, 2054.0, 50.0, 40.0]),
    ]
};

/// A registered plot of the fixture's registry.
struct PlotSpec {
    id: &'static str,
    name: &'static str,
    category: Category,
    works_allowed: bool,
    listed_on: &'static str,
    rows: (usize, usize),
    cols: (usize, usize),
}

const PLOTS: [PlotSpec; 3] = [
    PlotSpec {
        id: "JS-TZ-001",
        name: "化工厂旧址",
        category: Category::LegacyIndustrial,
        works_allowed: false,
        listed_on: "2019-06-30",
        rows: (8, 116),
        cols: (134, 248),
    },
    PlotSpec {
        id: "JS-TZ-002",
        name: "农药厂地块",
        category: Category::ContaminatedListed,
        works_allowed: false,
        listed_on: "2021-03-15",
        rows: (134, 238),
        cols: (136, 236),
    },
    PlotSpec {
        id: "JS-TZ-003",
        name: "电镀厂旧址",
        category: Category::LegacyIndustrial,
        works_allowed: true,
        listed_on: "2022-11-01",
        rows: (138, 178),
        cols: (78, 118),
    },
];

/// Nodata on the earlier date: a masked cloud over the trees.
fn before_hole(row: usize, col: usize) -> bool {
    (196..214).contains(&row) && (20..48).contains(&col)
}

/// Nodata on the later date: a masked cloud over a crop field and the edge of the orbit swath.
fn after_hole(row: usize, col: usize) -> bool {
    let (dr, dc) = (row as f64 - 104.0, col as f64 - 20.0);
    dr * dr + dc * dc <= 64.0 || col as f64 >= 250.0 - row as f64 / 16.0
}

/// How the fixture is made.
#[derive(Debug, Clone, PartialEq)]
pub struct PairOptions {
    /// Seed of texture, noise, field brightness, crop vigour and atmosphere.
    pub seed: u64,
    /// Write the later date warped (bilinear) into this CRS instead of EPSG:32651.
    pub after_epsg: Option<u32>,
    /// Cut the nodata holes (on by default).
    pub nodata_holes: bool,
}

impl PairOptions {
    /// Options for `seed`: both dates in EPSG:32651, with nodata holes.
    pub fn new(seed: u64) -> Self {
        PairOptions { seed, after_epsg: None, nodata_holes: true }
    }

    /// Writes the later date in `epsg` (e.g. 4326 or 32650) by warping it with GDAL.
    pub fn with_after_crs(&mut self, epsg: u32) -> &mut Self {
        self.after_epsg = Some(epsg);
        self
    }

    /// Whether to cut nodata holes.
    pub fn with_nodata_holes(&mut self, holes: bool) -> &mut Self {
        self.nodata_holes = holes;
        self
    }
}

/// Per-band radiometry of one acquisition: `observed = gain * reflectance + haze`.
#[derive(Debug, Clone, Serialize)]
pub struct Atmosphere {
    /// Multiplier per band (illumination and residual calibration).
    pub gain: [f64; 6],
    /// Path radiance per band, in reflectance.
    pub haze: [f64; 6],
}

/// One truth event: where, what kind, from what to what.
#[derive(Debug, Clone, Serialize)]
pub struct TruthEvent {
    /// Letter of the layout picture.
    pub id: String,
    /// The flag kind the engine must give it.
    pub kind: FlagKind,
    /// Cover on the earlier date.
    pub from: Cover,
    /// Cover on the later date.
    pub to: Cover,
    /// The rectangle in EPSG:32651.
    pub bounds: Bounds,
    /// Its area in square metres.
    pub area_m2: f64,
    /// The registered plot it lies in.
    pub plot_id: Option<String>,
}

impl TruthEvent {
    /// The rectangle as WKT, in EPSG:32651.
    pub fn wkt(&self) -> String {
        rectangle_wkt(&self.bounds)
    }
}

/// One registered plot.
#[derive(Debug, Clone, Serialize)]
pub struct TruthPlot {
    /// Registry id.
    pub plot_id: String,
    /// Name (Chinese, as registries write them).
    pub name: String,
    /// Registry category.
    pub category: Category,
    /// Whether approved works may disturb the ground.
    pub works_allowed: bool,
    /// The plot rectangle in EPSG:32651.
    pub bounds: Bounds,
}

impl TruthPlot {
    /// The rectangle as WKT, in EPSG:32651.
    pub fn wkt(&self) -> String {
        rectangle_wkt(&self.bounds)
    }
}

/// What really happened between the two dates.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// The seed the scene was made with.
    pub seed: u64,
    /// The grid both dates were generated on (EPSG:32651).
    pub grid: Grid,
    /// The events, A to O.
    pub events: Vec<TruthEvent>,
    /// The plot registry.
    pub plots: Vec<TruthPlot>,
    /// Radiometry of the earlier date.
    pub atmosphere_before: Atmosphere,
    /// Radiometry of the later date.
    pub atmosphere_after: Atmosphere,
    /// Misregistration of the later date, (columns, rows) in pixels.
    pub after_shift_px: (f64, f64),
    /// Per pixel: `ChangeCode` of the event covering at least half the pixel, 0 for stable ground, 255
    /// where either date has no data.
    #[serde(skip)]
    pub codes: Array2<u8>,
}

impl Truth {
    /// Events of one kind.
    pub fn events_of(&self, kind: FlagKind) -> impl Iterator<Item = &TruthEvent> {
        self.events.iter().filter(move |e| e.kind == kind)
    }
}

/// The two acquisitions as they leave the sensor (UInt16, reflectance x 10000, 0 = nodata), with the truth.
#[derive(Debug, Clone)]
pub struct PairScene {
    /// Earlier date, (band, row, col).
    pub before: Array3<u16>,
    /// Later date, (band, row, col).
    pub after: Array3<u16>,
    /// What changed.
    pub truth: Truth,
}

/// The fixture files, as [`write_pair`] wrote them.
#[derive(Debug, Clone)]
pub struct FixturePair {
    /// Earlier date GeoTIFF.
    pub before: PathBuf,
    /// Later date GeoTIFF (in `PairOptions::after_epsg` where given).
    pub after: PathBuf,
    /// The truth change raster (UInt8 GeoTIFF, codes as `jingtu change --change-raster` writes them).
    pub truth_raster: PathBuf,
    /// The truth as JSON: events, plots, radiometry.
    pub truth_json: PathBuf,
    /// The plot registry (GeoJSON, WGS 84).
    pub plots: PathBuf,
    /// The truth in memory.
    pub truth: Truth,
}

/// The grid the fixture is generated on.
pub fn fixture_grid() -> Grid {
    let wkt = crs::srs_from_epsg(EPSG).and_then(|s| s.to_wkt().ok()).unwrap_or_else(|| format!("EPSG:{EPSG}"));
    Grid {
        crs_wkt: wkt,
        epsg: Some(EPSG),
        transform: GeoTransform::north_up(ORIGIN.0, ORIGIN.1, PIXEL_SIZE, PIXEL_SIZE),
        width: SIZE,
        height: SIZE,
    }
}

/// Makes the scene in memory. Deterministic for `options.seed`.
pub fn generate(options: &PairOptions) -> PairScene {
    let root = Rng::new(options.seed);
    let patches = layout();
    let mut cover = Array2::from_elem((SIZE, SIZE), Cover::Crop);
    let mut field = Array2::<usize>::zeros((SIZE, SIZE));
    for (i, p) in patches.iter().enumerate() {
        for r in p.rows.0..p.rows.1 {
            for c in p.cols.0..p.cols.1 {
                cover[[r, c]] = p.cover;
                field[[r, c]] = i;
            }
        }
    }
    // Field-to-field brightness (soil moisture, crop density) and crop vigour drift between dates.
    let mut field_rng = root.fork(1);
    let brightness: Vec<f64> = patches.iter().map(|_| field_rng.range(0.93, 1.07)).collect();
    let vigour: Vec<f64> = patches.iter().map(|_| field_rng.range(0.96, 1.04)).collect();
    let texture = ValueNoise::new(root.fork(2).next_u64(), 12.0, 3);
    let leaf_texture = ValueNoise::new(root.fork(3).next_u64(), 7.0, 2);
    let new_surface = ValueNoise::new(root.fork(4).next_u64(), 5.0, 2);

    let mut ground_before = Array3::<f64>::zeros((6, SIZE, SIZE));
    let mut ground_after = Array3::<f64>::zeros((6, SIZE, SIZE));
    for r in 0..SIZE {
        for c in 0..SIZE {
            let cv = cover[[r, c]];
            let f = field[[r, c]];
            let s = cv.spectrum();
            let (x, y) = (c as f64, r as f64);
            let bright = brightness[f] * (1.0 + 0.05 * texture.at(x, y));
            let leaf = if cv.is_vegetated() { 0.05 * leaf_texture.at(x, y) } else { 0.0 };
            for b in 0..6 {
                let mut v = s[b] as f64 * bright;
                // NIR and red move against each other with leaf density.
                if b == 3 {
                    v *= 1.0 + leaf;
                } else if b == 2 {
                    v *= 1.0 - leaf;
                }
                ground_before[[b, r, c]] = v;
                let drift = if cv.is_vegetated() {
                    match b {
                        3 => vigour[f],
                        2 => 1.0 / vigour[f],
                        _ => 1.0,
                    }
                } else {
                    1.0
                };
                ground_after[[b, r, c]] = v * drift;
            }
        }
    }

    let grid = fixture_grid();
    let mut codes = Array2::<u8>::zeros((SIZE, SIZE));
    let mut events = Vec::with_capacity(EVENTS.len());
    for e in &EVENTS {
        let (r0, r1) = ((e.y / PIXEL_SIZE).floor() as usize, ((e.y + e.h) / PIXEL_SIZE).ceil() as usize);
        let (c0, c1) = ((e.x / PIXEL_SIZE).floor() as usize, ((e.x + e.w) / PIXEL_SIZE).ceil() as usize);
        let to = e.to.spectrum();
        for r in r0..r1.min(SIZE) {
            for c in c0..c1.min(SIZE) {
                let f = coverage(e, r, c);
                if f <= 0.0 {
                    continue;
                }
                let surface = 1.0 + 0.02 * new_surface.at(c as f64, r as f64);
                for b in 0..6 {
                    let old = ground_after[[b, r, c]];
                    ground_after[[b, r, c]] = old * (1.0 - f) + to[b] as f64 * surface * f;
                }
                if f >= 0.5 {
                    codes[[r, c]] = kind_code(e.kind) as u8;
                }
            }
        }
        let bounds = Bounds {
            min_x: ORIGIN.0 + e.x,
            max_x: ORIGIN.0 + e.x + e.w,
            min_y: ORIGIN.1 - e.y - e.h,
            max_y: ORIGIN.1 - e.y,
        };
        let (cr, cc) = ((e.y + e.h / 2.0) / PIXEL_SIZE, (e.x + e.w / 2.0) / PIXEL_SIZE);
        let plot_id = PLOTS
            .iter()
            .find(|p| {
                (p.rows.0 as f64..p.rows.1 as f64).contains(&cr) && (p.cols.0 as f64..p.cols.1 as f64).contains(&cc)
            })
            .map(|p| p.id.to_string());
        events.push(TruthEvent {
            id: e.id.to_string(),
            kind: e.kind,
            from: e.from,
            to: e.to,
            bounds,
            area_m2: e.w * e.h,
            plot_id,
        });
    }

    // Sentinel-2's multi-temporal co-registration is within about 0.3 pixel: the later image sits a
    // fraction of a pixel off, which makes every sharp edge (roads, roofs, field borders) differ a little.
    let mut shift_rng = root.fork(8);
    let (shift, angle) = (shift_rng.range(0.15, 0.3), shift_rng.range(0.0, std::f64::consts::TAU));
    let after_shift_px = (shift * angle.cos(), shift * angle.sin());
    let ground_after = shifted(&ground_after, after_shift_px);

    let mut atmo_rng = root.fork(5);
    let atmosphere_before = Atmosphere {
        gain: std::array::from_fn(|_| atmo_rng.range(0.98, 1.02)),
        haze: [0.010, 0.007, 0.005, 0.003, 0.002, 0.001].map(|h| h * atmo_rng.range(0.8, 1.2)),
    };
    let illumination = atmo_rng.range(0.86, 0.92);
    let atmosphere_after = Atmosphere {
        gain: std::array::from_fn(|_| illumination * atmo_rng.range(0.97, 1.03)),
        haze: [0.035, 0.025, 0.016, 0.009, 0.004, 0.002].map(|h| h * atmo_rng.range(0.8, 1.2)),
    };
    let before_mask = |r, c| options.nodata_holes && before_hole(r, c);
    let after_mask = |r, c| options.nodata_holes && after_hole(r, c);
    let before = observe(&ground_before, &atmosphere_before, root.fork(6), before_mask);
    let after = observe(&ground_after, &atmosphere_after, root.fork(7), after_mask);
    for r in 0..SIZE {
        for c in 0..SIZE {
            if before_mask(r, c) || after_mask(r, c) {
                codes[[r, c]] = ChangeCode::NoData as u8;
            }
        }
    }
    let plots = PLOTS
        .iter()
        .map(|p| TruthPlot {
            plot_id: p.id.to_string(),
            name: p.name.to_string(),
            category: p.category,
            works_allowed: p.works_allowed,
            bounds: pixel_bounds(p.rows, p.cols),
        })
        .collect();
    PairScene {
        before,
        after,
        truth: Truth {
            seed: options.seed,
            grid,
            events,
            plots,
            atmosphere_before,
            atmosphere_after,
            after_shift_px,
            codes,
        },
    }
}

/// The change code of a flag kind.
fn kind_code(kind: FlagKind) -> ChangeCode {
    match kind {
        FlagKind::Construction => ChangeCode::Construction,
        FlagKind::Earthworks => ChangeCode::Earthworks,
        FlagKind::VegetationLoss => ChangeCode::VegetationLoss,
        _ => ChangeCode::Other,
    }
}

/// Share of pixel (`row`, `col`) that the event rectangle covers.
fn coverage(e: &EventSpec, row: usize, col: usize) -> f64 {
    let overlap = |a0: f64, a1: f64, p: usize| {
        let (p0, p1) = (p as f64 * PIXEL_SIZE, (p + 1) as f64 * PIXEL_SIZE);
        (a1.min(p1) - a0.max(p0)).max(0.0) / PIXEL_SIZE
    };
    overlap(e.x, e.x + e.w, col) * overlap(e.y, e.y + e.h, row)
}

/// `ground` resampled (bilinear, edges clamped) at positions shifted by (`dx`, `dy`) pixels.
fn shifted(ground: &Array3<f64>, (dx, dy): (f64, f64)) -> Array3<f64> {
    let (bands, h, w) = ground.dim();
    let clamp = |v: f64, n: usize| v.clamp(0.0, (n - 1) as f64);
    Array3::from_shape_fn((bands, h, w), |(b, r, c)| {
        let (x, y) = (clamp(c as f64 + dx, w), clamp(r as f64 + dy, h));
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let top = ground[[b, y0, x0]] * (1.0 - fx) + ground[[b, y0, x1]] * fx;
        let bottom = ground[[b, y1, x0]] * (1.0 - fx) + ground[[b, y1, x1]] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Ground reflectance seen through an atmosphere by a noisy sensor, as UInt16 reflectance x 10000 with 0
/// reserved for nodata.
fn observe(
    ground: &Array3<f64>,
    atmosphere: &Atmosphere,
    mut rng: Rng,
    hole: impl Fn(usize, usize) -> bool,
) -> Array3<u16> {
    let mut out = Array3::<u16>::zeros(ground.dim());
    for b in 0..6 {
        for r in 0..SIZE {
            for c in 0..SIZE {
                // Draw noise for every pixel, hole or not, so holes do not reshuffle the noise elsewhere.
                let noise = NOISE_SIGMA * rng.normal();
                if hole(r, c) {
                    continue;
                }
                let v = atmosphere.gain[b] * ground[[b, r, c]] + atmosphere.haze[b] + noise;
                out[[b, r, c]] = (v * 10_000.0).round().clamp(1.0, 65_535.0) as u16;
            }
        }
    }
    out
}

fn pixel_bounds(rows: (usize, usize), cols: (usize, usize)) -> Bounds {
    Bounds {
        min_x: ORIGIN.0 + cols.0 as f64 * PIXEL_SIZE,
        max_x: ORIGIN.0 + cols.1 as f64 * PIXEL_SIZE,
        min_y: ORIGIN.1 - rows.1 as f64 * PIXEL_SIZE,
        max_y: ORIGIN.1 - rows.0 as f64 * PIXEL_SIZE,
    }
}

fn rectangle_wkt(b: &Bounds) -> String {
    format!(
        "POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))",
        x0 = b.min_x,
        y0 = b.min_y,
        x1 = b.max_x,
        y1 = b.max_y
    )
}

/// The layout picture of the module docs, rendered from the layout itself.
pub fn layout_picture() -> String {
    let mut cover = Array2::from_elem((SIZE, SIZE), Cover::Crop);
    for p in layout() {
        for r in p.rows.0..p.rows.1 {
            for c in p.cols.0..p.cols.1 {
                cover[[r, c]] = p.cover;
            }
        }
    }
    let mut rows: Vec<Vec<char>> =
        (0..SIZE / 8).map(|r| (0..SIZE / 4).map(|c| cover[[8 * r + 4, 4 * c + 2]].symbol()).collect()).collect();
    for e in &EVENTS {
        let (r, c) = ((e.y + e.h / 2.0) / PIXEL_SIZE, (e.x + e.w / 2.0) / PIXEL_SIZE);
        rows[r as usize / 8][c as usize / 4] = e.id.chars().next().unwrap_or('?');
    }
    rows.into_iter().map(|r| r.into_iter().collect::<String>()).collect::<Vec<_>>().join("\n")
}

/// Writes the fixture into `dir` (which must exist), replacing files of an earlier run:
/// `s2-2024-03-12.tif`, `s2-2024-06-20.tif` (`s2-2024-06-20-epsgNNNN.tif` when reprojected), `truth.tif`,
/// `truth.json` and `plots.geojson`.
pub fn write_pair(dir: &Path, options: &PairOptions) -> Result<FixturePair> {
    crate::io::gdal_env::init();
    if !dir.is_dir() {
        return Err(Error::input(dir, "is not a folder"));
    }
    let scene = generate(options);
    let grid = &scene.truth.grid;
    let before = dir.join(format!("s2-{BEFORE_DATE}.tif"));
    let after = match options.after_epsg {
        Some(code) => dir.join(format!("s2-{AFTER_DATE}-epsg{code}.tif")),
        None => dir.join(format!("s2-{AFTER_DATE}.tif")),
    };
    write_geotiff(&before, &scene.before, grid, BEFORE_DATE, None)?;
    write_geotiff(&after, &scene.after, grid, AFTER_DATE, options.after_epsg)?;
    let truth_raster = dir.join("truth.tif");
    crate::export::raster::write_codes(&truth_raster, grid, scene.truth.codes.view(), &CHANGE_PALETTE, true)?;
    let truth_json = dir.join("truth.json");
    let mut json = serde_json::to_value(&scene.truth).map_err(|e| Error::input(&truth_json, e.to_string()))?;
    json["options"] = serde_json::json!({
        "seed": options.seed,
        "after_epsg": options.after_epsg,
        "nodata_holes": options.nodata_holes,
    });
    json["files"] = serde_json::json!({
        "before": file_name(&before),
        "after": file_name(&after),
        "truth_raster": "truth.tif",
        "plots": "plots.geojson",
    });
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::input(&truth_json, e.to_string()))?;
    std::fs::write(&truth_json, text + "\n").map_err(|e| Error::io(&truth_json, e))?;
    let plots = dir.join("plots.geojson");
    write_plots(&plots, &scene.truth.plots)?;
    Ok(FixturePair { before, after, truth_raster, truth_json, plots, truth: scene.truth })
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A UInt16 GeoTIFF with band descriptions, nodata 0 and the acquisition time, optionally warped to
/// `epsg` first (bilinear, as a provider delivering the scene in another projection would).
fn write_geotiff(path: &Path, data: &Array3<u16>, grid: &Grid, date: &str, epsg: Option<u32>) -> Result<()> {
    let fail = |e: gdal::errors::GdalError| Error::gdal(path, e);
    let (bands, h, w) = data.dim();
    let mem = DriverManager::get_driver_by_name("MEM").map_err(fail)?;
    let mut ds = mem.create_with_band_type::<u16, _>("", w, h, bands).map_err(fail)?;
    ds.set_geo_transform(&grid.transform.0).map_err(fail)?;
    ds.set_projection(&grid.crs_wkt).map_err(fail)?;
    for b in 0..bands {
        let mut band = ds.rasterband(b + 1).map_err(fail)?;
        band.set_no_data_value(Some(0.0)).map_err(fail)?;
        let plane: Vec<u16> = data.index_axis(ndarray::Axis(0), b).iter().copied().collect();
        let mut buffer = Buffer::new((w, h), plane);
        band.write((0, 0), (w, h), &mut buffer).map_err(fail)?;
    }
    let mut ds = match epsg {
        None => ds,
        Some(code) => {
            let args: Vec<String> = [
                "-of",
                "MEM",
                "-t_srs",
                &format!("EPSG:{code}"),
                "-r",
                "bilinear",
                "-srcnodata",
                "0",
                "-dstnodata",
                "0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            crate::align::warp::warp_dataset(&ds, &args, path)?
        }
    };
    // Set after warping: the warper does not carry band descriptions over.
    for (b, name) in BAND_NAMES.iter().enumerate().take(bands) {
        let mut band = ds.rasterband(b + 1).map_err(fail)?;
        band.set_description(name).map_err(fail)?;
    }
    ds.set_metadata_item("TIFFTAG_DATETIME", &format!("{} 02:35:00", date.replace('-', ":")), "").map_err(fail)?;
    ds.set_metadata_item("TIFFTAG_IMAGEDESCRIPTION", "jingtu synthetic Sentinel-2 L2A fixture (synth::pair)", "")
        .map_err(fail)?;
    let gtiff = DriverManager::get_driver_by_name("GTiff").map_err(fail)?;
    let options = RasterCreationOptions::from_iter(["COMPRESS=DEFLATE", "PREDICTOR=2", "TILED=YES"]);
    let copy: Dataset = ds.create_copy(&gtiff, path, &options).map_err(fail)?;
    copy.close().map_err(fail)?;
    Ok(())
}

/// The plot registry as RFC 7946 GeoJSON (WGS 84 longitude/latitude), as a registry service would export it.
fn write_plots(path: &Path, plots: &[TruthPlot]) -> Result<()> {
    let utm = crs::srs_from_epsg(EPSG).ok_or_else(|| Error::input(path, "EPSG:32651 unknown to PROJ"))?;
    let wgs84 = crs::srs_from_epsg(4326).ok_or_else(|| Error::input(path, "EPSG:4326 unknown to PROJ"))?;
    let transform = CoordTransform::new(&utm, &wgs84).map_err(|e| Error::gdal(path, e))?;
    let mut features = Vec::new();
    for (p, spec) in plots.iter().zip(PLOTS.iter()) {
        let b = &p.bounds;
        // Counter-clockwise exterior ring (RFC 7946 section 3.1.6).
        let mut xs = [b.min_x, b.max_x, b.max_x, b.min_x, b.min_x];
        let mut ys = [b.min_y, b.min_y, b.max_y, b.max_y, b.min_y];
        transform.transform_coords(&mut xs, &mut ys, &mut []).map_err(|e| Error::gdal(path, e))?;
        let ring: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(x, y)| [round9(*x), round9(*y)]).collect();
        features.push(serde_json::json!({
            "type": "Feature",
            "properties": {
                "plot_id": p.plot_id,
                "name": p.name,
                "category": p.category.name(),
                "works_allowed": p.works_allowed,
                "listed_on": spec.listed_on,
            },
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }));
    }
    let doc = serde_json::json!({"type": "FeatureCollection", "features": features});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::input(path, e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}

/// Nine decimals of a degree are about 0.1 mm: more than enough, and stable text.
fn round9(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{BandSelection, Raster};
    use crate::raster::BandRole;

    #[test]
    fn the_docs_picture_is_the_layout() {
        let source = include_str!("pair.rs");
        for line in layout_picture().lines() {
            assert!(source.contains(&format!("//! {line}\n")), "picture line missing from the docs:\n{line}");
        }
    }

    #[test]
    fn events_sit_on_the_cover_they_change_and_clear_of_holes_and_each_other() {
        let mut cover = Array2::from_elem((SIZE, SIZE), Cover::Crop);
        for p in layout() {
            for r in p.rows.0..p.rows.1 {
                for c in p.cols.0..p.cols.1 {
                    cover[[r, c]] = p.cover;
                }
            }
        }
        let mut owner = Array2::<usize>::zeros((SIZE, SIZE));
        for (i, e) in EVENTS.iter().enumerate() {
            // One pixel of margin: the detector smooths over 3x3, so neighbours must be stable too.
            for r in (e.y / PIXEL_SIZE) as usize - 1..((e.y + e.h) / PIXEL_SIZE).ceil() as usize + 1 {
                for c in (e.x / PIXEL_SIZE) as usize - 1..((e.x + e.w) / PIXEL_SIZE).ceil() as usize + 1 {
                    assert_eq!(cover[[r, c]], e.from, "event {} at ({r}, {c})", e.id);
                    assert!(!before_hole(r, c) && !after_hole(r, c), "event {} touches a hole at ({r}, {c})", e.id);
                    assert_eq!(owner[[r, c]], 0, "events {} and {} touch", EVENTS[owner[[r, c]] - 1].id, e.id);
                    owner[[r, c]] = i + 1;
                }
            }
            assert!((900.0..=4800.0).contains(&(e.w * e.h)), "event {} is {} m2", e.id, e.w * e.h);
        }
    }

    #[test]
    fn truth_lists_every_kind_and_the_plots_that_hold_events() {
        let truth = generate(&PairOptions::new(1)).truth;
        for kind in [FlagKind::Construction, FlagKind::Earthworks, FlagKind::VegetationLoss] {
            assert!(truth.events_of(kind).count() >= 4, "{kind:?}");
        }
        let in_plot = |id: &str| truth.events.iter().filter(|e| e.plot_id.as_deref() == Some(id)).count();
        assert_eq!((in_plot("JS-TZ-001"), in_plot("JS-TZ-002"), in_plot("JS-TZ-003")), (4, 4, 0));
        // Truth pixels (at least half covered) per event add up to about its area.
        for (e, spec) in truth.events.iter().zip(EVENTS.iter()) {
            let code = kind_code(e.kind) as u8;
            let (r0, c0) = ((spec.y / PIXEL_SIZE) as usize, (spec.x / PIXEL_SIZE) as usize);
            let pixels =
                truth.codes.slice(ndarray::s![r0..r0 + 10, c0..c0 + 10]).iter().filter(|v| **v == code).count() as f64;
            let expected = e.area_m2 / (PIXEL_SIZE * PIXEL_SIZE);
            assert!((pixels - expected).abs() <= expected * 0.5 + 1.0, "event {}: {pixels} px for {expected}", e.id);
        }
    }

    #[test]
    fn same_seed_same_scene_other_seed_other_noise() {
        let a = generate(&PairOptions::new(7));
        let b = generate(&PairOptions::new(7));
        let c = generate(&PairOptions::new(8));
        assert_eq!(a.before, b.before);
        assert_eq!(a.after, b.after);
        assert_ne!(a.after, c.after);
        assert_eq!(a.truth.codes, c.truth.codes, "the seed never moves the layout");
    }

    #[test]
    fn holes_are_zero_and_only_holes_are_zero() {
        let scene = generate(&PairOptions::new(3));
        for r in 0..SIZE {
            for c in 0..SIZE {
                assert_eq!(scene.before[[0, r, c]] == 0, before_hole(r, c), "before ({r}, {c})");
                assert_eq!(scene.after[[5, r, c]] == 0, after_hole(r, c), "after ({r}, {c})");
            }
        }
        let whole = generate(PairOptions::new(3).with_nodata_holes(false));
        assert!(whole.before.iter().chain(whole.after.iter()).all(|v| *v > 0));
    }

    #[test]
    fn later_date_is_darker_and_hazier_in_blue_than_in_swir() {
        let t = generate(&PairOptions::new(11)).truth;
        let (b, a) = (&t.atmosphere_before, &t.atmosphere_after);
        assert!(a.gain.iter().zip(&b.gain).all(|(a, b)| a < b));
        assert!(a.haze[0] > 2.0 * b.haze[0] && a.haze[0] > 5.0 * a.haze[5]);
    }

    #[test]
    fn written_files_read_back_as_sentinel2_with_roles_dates_and_nodata() {
        let dir = tempfile::tempdir().unwrap();
        let pair = write_pair(dir.path(), &PairOptions::new(5)).unwrap();
        let before = Raster::open(&pair.before).unwrap();
        let info = before.info();
        assert_eq!((info.grid.width, info.grid.height, info.grid.epsg), (SIZE, SIZE, Some(EPSG)));
        assert_eq!(info.acquired.map(|d| d.to_string()).as_deref(), Some(BEFORE_DATE));
        assert!(info.bands.iter().all(|b| b.nodata.as_deref() == Some("0") && b.data_type == "UInt16"));
        let map = before.band_map(&BandSelection::default(), &[]).unwrap();
        use BandRole::*;
        assert_eq!(map.roles(), vec![Blue, Green, Red, Nir, Swir1, Swir2]);
        assert!(map.surface_reflectance && (map.bands[0].scale - 1e-4).abs() < 1e-12);
        let stack = before.read_raw(&map, before.full_window()).unwrap();
        assert_eq!(stack.valid_count(), SIZE * SIZE - 18 * 28, "the cloud hole is nodata");
        let truth = Raster::open(&pair.truth_raster).unwrap();
        assert_eq!(truth.info().grid.epsg, Some(EPSG));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&pair.truth_json).unwrap()).unwrap();
        assert_eq!(json["events"].as_array().unwrap().len(), EVENTS.len());
        assert_eq!(json["events"][0]["kind"], "construction");
    }

    #[test]
    fn later_date_can_be_written_in_another_crs() {
        let dir = tempfile::tempdir().unwrap();
        let pair = write_pair(dir.path(), PairOptions::new(5).with_after_crs(4326)).unwrap();
        let after = Raster::open(&pair.after).unwrap();
        assert_eq!(after.info().grid.epsg, Some(4326));
        assert_eq!(after.info().bands[3].description, "B08");
        let b = after.info().grid.bounds();
        assert!((120.0..120.3).contains(&b.min_x) && (32.4..32.6).contains(&b.max_y), "{b}");
    }
}
