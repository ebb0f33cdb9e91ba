//! Synthetic drone flights with known truth: surface models and RGBA orthomosaics of a site on two dates,
//! written as GeoTIFFs the way OpenDroneMap and Pix4D write them (Float32 heights with a -9999 nodata,
//! 8-bit RGBA with an alpha mask, and on request Pix4D's -10000 nodata on the 8-bit bands).
//!
//! The default site (200 m x 160 m, UTM zone 51N), seen from above:
//!
//! ```text
//!   x: 0 m                                                   200 m
//!   +------------------------------------------------------------+ y: 0
//!   |  [old hall 8 m]          [B2 6 m, new]          trees (old) |
//!   |                                                             |
//!   |                 (truck)                   trees that grew   |
//!   |       [B1 3.5 m, new]                                       |
//!   |                                       [B3 12 m, gable, new] |
//!   |   \pit 3 m/              (spoil heap 4 m)                   |
//!   +------------------------------------------------------------+ y: 160 m
//! ```
//!
//! Every flight can carry a georeferencing error (the whole flight displaced) and a vertical offset, as
//! flights without shared ground control do.

use std::path::Path;

use gdal::raster::{Buffer, ColorInterpretation, RasterCreationOptions};
use gdal::{DriverManager, Metadata};

use rayon::prelude::*;

use super::noise::ValueNoise;
use super::rng::Rng;
use crate::io::crs;

/// What a feature of the site is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureKind {
    /// A flat-roofed building standing on both dates.
    ExistingBuilding {
        /// Height above ground (m).
        height: f64,
    },
    /// A building that appears on the later date; `gable` roofs rise by a third of the height to a ridge.
    NewBuilding {
        /// Eaves height above ground (m).
        height: f64,
        /// Pitched roof.
        gable: bool,
        /// Roof colour (RGB).
        roof: [u8; 3],
    },
    /// An excavation on the later date with side slopes of 1:1.
    Pit {
        /// Depth (m).
        depth: f64,
    },
    /// A mound of spoil on the later date, smooth (cosine profile).
    SpoilHeap {
        /// Height at the centre (m).
        height: f64,
    },
    /// A group of trees, `before` m tall on the earlier date and `after` m on the later.
    Trees {
        /// Height on the earlier date (m).
        before: f64,
        /// Height on the later date (m).
        after: f64,
    },
    /// A truck parked on the later date only.
    Truck {
        /// Height (m).
        height: f64,
    },
}

/// A rectangle on the site with a kind; coordinates in metres from the site's north-west corner (x east,
/// y south).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature {
    /// What it is.
    pub kind: FeatureKind,
    /// West edge (m).
    pub x0: f64,
    /// North edge (m).
    pub y0: f64,
    /// East edge (m).
    pub x1: f64,
    /// South edge (m).
    pub y1: f64,
}

impl Feature {
    fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    /// Height this feature adds to the ground at (x, y) on the earlier (`later = false`) or later date.
    fn height(&self, x: f64, y: f64, later: bool, crown: &[ValueNoise; 2]) -> f64 {
        if !self.contains(x, y) {
            return 0.0;
        }
        let (cx, cy) = ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0);
        let (hw, hh) = ((self.x1 - self.x0) / 2.0, (self.y1 - self.y0) / 2.0);
        match self.kind {
            FeatureKind::ExistingBuilding { height } => height,
            FeatureKind::NewBuilding { height, gable, .. } if later => {
                if gable {
                    height + height / 3.0 * (1.0 - (y - cy).abs() / hh)
                } else {
                    height
                }
            }
            FeatureKind::Pit { depth } if later => {
                // Distance inwards from the nearest edge, 1:1 slopes down to the floor.
                let inset = (hw - (x - cx).abs()).min(hh - (y - cy).abs());
                -inset.min(depth)
            }
            FeatureKind::SpoilHeap { height } if later => {
                let r = ((x - cx) / hw).hypot((y - cy) / hh);
                if r >= 1.0 { 0.0 } else { height * 0.5 * (1.0 + (std::f64::consts::PI * r).cos()) }
            }
            FeatureKind::Trees { before, after } => {
                let top = if later { after } else { before };
                tree_crowns(x, y, self, top, &crown[usize::from(later)])
            }
            FeatureKind::Truck { height } if later => height,
            _ => 0.0,
        }
    }
}

/// Crowns of about 3.5 m radius packed in the feature's rectangle, with irregular outlines and branch
/// clumps of about a metre that stand up to a metre proud of the crown, as photogrammetric canopy
/// surfaces show; `crown` differs between dates (trees grow unevenly).
fn tree_crowns(x: f64, y: f64, f: &Feature, top: f64, crown: &ValueNoise) -> f64 {
    let spacing = 7.0;
    let (gx, gy) = (((x - f.x0) / spacing).floor(), ((y - f.y0) / spacing).floor());
    let (cx, cy) = (f.x0 + (gx + 0.5) * spacing, f.y0 + (gy + 0.5) * spacing);
    let outline = 3.5 * (1.0 + 0.15 * crown.at(x * 0.3 + 100.0, y * 0.3));
    let r = (x - cx).hypot(y - cy) / outline;
    if r >= 1.0 {
        return 0.0;
    }
    (top * (1.0 - r * r).sqrt() + 1.0 * crown.at(x * 1.25, y * 1.25)).max(0.3)
}

/// A synthetic site and its features.
#[derive(Debug, Clone)]
pub struct DroneSite {
    /// Easting of the site's north-west corner (UTM 51N, EPSG:32651).
    pub origin_x: f64,
    /// Northing of that corner.
    pub origin_y: f64,
    /// Width (m).
    pub width_m: f64,
    /// Height (m).
    pub height_m: f64,
    /// Features.
    pub features: Vec<Feature>,
    /// Seed of the terrain and texture noise.
    pub seed: u64,
    /// Features per 20 m cell, so large sites are evaluated quickly.
    index: Vec<Vec<usize>>,
    cells_x: usize,
}

/// Size of the lookup cells (m).
const CELL_M: f64 = 20.0;

impl DroneSite {
    /// A site with `features`.
    pub fn new(origin_x: f64, origin_y: f64, width_m: f64, height_m: f64, features: Vec<Feature>, seed: u64) -> Self {
        let cells_x = (width_m / CELL_M).ceil() as usize + 1;
        let cells_y = (height_m / CELL_M).ceil() as usize + 1;
        let mut index = vec![Vec::new(); cells_x * cells_y];
        for (i, f) in features.iter().enumerate() {
            let cx0 = (f.x0 / CELL_M).floor().max(0.0) as usize;
            let cx1 = ((f.x1 / CELL_M).floor().max(0.0) as usize).min(cells_x - 1);
            let cy0 = (f.y0 / CELL_M).floor().max(0.0) as usize;
            let cy1 = ((f.y1 / CELL_M).floor().max(0.0) as usize).min(cells_y - 1);
            for cy in cy0..=cy1 {
                for cx in cx0..=cx1 {
                    index[cy * cells_x + cx].push(i);
                }
            }
        }
        DroneSite { origin_x, origin_y, width_m, height_m, features, seed, index, cells_x }
    }

    /// The default site of the module docs.
    pub fn standard() -> DroneSite {
        DroneSite::new(340_000.0, 3_560_000.0, 200.0, 160.0, standard_features(0.0, 0.0), 2024)
    }

    /// The standard layout repeated on `across` x `down` blocks of 200 m x 160 m (benchmarks).
    pub fn repeated(across: usize, down: usize) -> DroneSite {
        let mut features = Vec::new();
        for by in 0..down {
            for bx in 0..across {
                features.extend(standard_features(bx as f64 * 200.0, by as f64 * 160.0));
            }
        }
        DroneSite::new(340_000.0, 3_560_000.0, 200.0 * across as f64, 160.0 * down as f64, features, 2024)
    }

    fn features_at(&self, x: f64, y: f64) -> &[usize] {
        if x < 0.0 || y < 0.0 {
            return &[];
        }
        let (cx, cy) = ((x / CELL_M) as usize, (y / CELL_M) as usize);
        if cx >= self.cells_x {
            return &[];
        }
        self.index.get(cy * self.cells_x + cx).map_or(&[], |v| v.as_slice())
    }

    /// Canopy texture of the earlier and the later date.
    fn crown_noise(&self) -> [ValueNoise; 2] {
        [ValueNoise::new(self.seed ^ 7, 1.0, 2), ValueNoise::new(self.seed ^ 8, 1.0, 2)]
    }

    /// Ground height (m) at site position (x, y) without features: a gentle slope and smooth undulation.
    pub fn terrain(&self, x: f64, y: f64) -> f64 {
        let n = ValueNoise::new(self.seed, 60.0, 2);
        5.0 + 0.01 * x - 0.005 * y + 0.4 * n.at(x, y)
    }

    /// Surface height (m) at (x, y) on the earlier or later date.
    pub fn surface(&self, x: f64, y: f64, later: bool) -> f64 {
        let crown = self.crown_noise();
        let mut z = self.terrain(x, y);
        for &i in self.features_at(x, y) {
            z += self.features[i].height(x, y, later, &crown);
        }
        z
    }

    /// Height change the features make at (x, y) (the truth a detector should find).
    pub fn change(&self, x: f64, y: f64) -> f64 {
        self.surface(x, y, true) - self.surface(x, y, false)
    }

    /// True cut and fill volume (m3) of a feature, integrated at `step` metres.
    pub fn feature_volume(&self, feature: &Feature, step: f64) -> (f64, f64) {
        let crown = self.crown_noise();
        let (mut cut, mut fill) = (0.0, 0.0);
        let mut y = feature.y0 + step / 2.0;
        while y < feature.y1 {
            let mut x = feature.x0 + step / 2.0;
            while x < feature.x1 {
                let d = feature.height(x, y, true, &crown) - feature.height(x, y, false, &crown);
                if d > 0.0 {
                    fill += d;
                } else {
                    cut -= d;
                }
                x += step;
            }
            y += step;
        }
        (cut * step * step, fill * step * step)
    }

    /// Colour (RGB) of the ground at (x, y) on a date, with texture.
    pub fn colour(&self, x: f64, y: f64, later: bool) -> [u8; 3] {
        let texture = ValueNoise::new(self.seed ^ 3, 0.6, 2).at(x, y);
        let patch = ValueNoise::new(self.seed ^ 5, 12.0, 2).at(x, y);
        let grass = [88.0 + 20.0 * patch, 128.0 + 18.0 * patch, 62.0 + 10.0 * patch];
        let soil = [150.0, 122.0, 92.0];
        let mut rgb = grass;
        let crown = self.crown_noise();
        for &i in self.features_at(x, y) {
            let f = &self.features[i];
            if !f.contains(x, y) {
                continue;
            }
            rgb = match f.kind {
                FeatureKind::ExistingBuilding { .. } => [170.0, 168.0, 165.0],
                FeatureKind::NewBuilding { roof, .. } if later => [roof[0] as f64, roof[1] as f64, roof[2] as f64],
                FeatureKind::Pit { .. } | FeatureKind::SpoilHeap { .. } if later => soil,
                FeatureKind::Trees { before, after } => {
                    if tree_crowns(x, y, f, if later { after } else { before }, &crown[usize::from(later)]) > 0.0 {
                        [40.0 + 10.0 * patch, 92.0 + 12.0 * patch, 38.0]
                    } else {
                        rgb
                    }
                }
                FeatureKind::Truck { .. } if later => [235.0, 235.0, 230.0],
                _ => rgb,
            };
        }
        let shade = 1.0 + 0.08 * texture;
        [0, 1, 2].map(|k| (rgb[k] * shade).round().clamp(1.0, 255.0) as u8)
    }
}

fn standard_features(ox: f64, oy: f64) -> Vec<Feature> {
    let f =
        |kind, x0: f64, y0: f64, x1: f64, y1: f64| Feature { kind, x0: ox + x0, y0: oy + y0, x1: ox + x1, y1: oy + y1 };
    vec![
        f(FeatureKind::ExistingBuilding { height: 8.0 }, 20.0, 15.0, 40.0, 27.0),
        f(FeatureKind::Trees { before: 7.0, after: 7.5 }, 160.0, 8.0, 188.0, 22.0),
        f(FeatureKind::NewBuilding { height: 3.5, gable: false, roof: [150, 152, 155] }, 50.0, 86.0, 60.0, 98.0),
        f(FeatureKind::NewBuilding { height: 6.0, gable: false, roof: [70, 110, 170] }, 92.0, 18.0, 108.0, 38.0),
        f(FeatureKind::NewBuilding { height: 12.0, gable: true, roof: [175, 75, 60] }, 140.0, 96.0, 164.0, 110.0),
        f(FeatureKind::Pit { depth: 3.0 }, 22.0, 120.0, 52.0, 144.0),
        f(FeatureKind::SpoilHeap { height: 4.0 }, 98.0, 122.0, 124.0, 142.0),
        f(FeatureKind::Trees { before: 5.0, after: 9.0 }, 160.0, 46.0, 188.0, 67.0),
        f(FeatureKind::Truck { height: 3.5 }, 72.0, 58.0, 82.0, 60.5),
    ]
}

/// How one flight sees the site.
#[derive(Debug, Clone)]
pub struct FlightSpec {
    /// Later date (true) or earlier.
    pub later: bool,
    /// Surface-model pixel size (m).
    pub dsm_resolution: f64,
    /// Orthomosaic pixel size (m).
    pub ortho_resolution: f64,
    /// Covered part of the site (x0, y0, x1, y1 in site metres).
    pub extent: (f64, f64, f64, f64),
    /// Georeferencing error: the flight shows the ground at (x - dx, y - dy) where it says (x, y) (m,
    /// east and north).
    pub shift: (f64, f64),
    /// Added to every height (m).
    pub vertical_offset: f64,
    /// Standard deviation of the surface noise (m).
    pub noise_m: f64,
    /// Write Pix4D's nodata -10000 on the 8-bit bands (the alpha band still marks the edge).
    pub pix4d_nodata: bool,
    /// Acquisition date for TIFFTAG_DATETIME.
    pub date: &'static str,
}

/// Writes a flight's surface model and orthomosaic, in blocks of rows so any size fits in memory.
pub fn write_flight(
    site: &DroneSite,
    spec: &FlightSpec,
    dsm_path: &Path,
    ortho_path: &Path,
) -> gdal::errors::Result<()> {
    crate::io::gdal_env::init();
    let wkt = crs::srs_from_epsg(32651).expect("EPSG:32651").to_wkt()?;
    let (x0, y0, x1, y1) = spec.extent;
    let driver = DriverManager::get_driver_by_name("GTiff")?;
    let options = RasterCreationOptions::from_iter([
        "TILED=YES",
        "COMPRESS=DEFLATE",
        "ZLEVEL=1",
        "BIGTIFF=IF_SAFER",
        "BLOCKXSIZE=512",
        "BLOCKYSIZE=512",
    ]);
    // Pixels lie within the extent minus a ragged edge, as flight footprints do.
    let edge = ValueNoise::new(site.seed ^ 11 ^ u64::from(spec.later), 25.0, 2);
    let inside = move |x: f64, y: f64| {
        let m = 3.0 + 2.5 * edge.at(x, y);
        x > x0 + m && x < x1 - m && y > y0 + m && y < y1 - m
    };
    let geo = |res: f64| [site.origin_x + x0 + spec.shift.0, res, 0.0, site.origin_y - y0 + spec.shift.1, 0.0, -res];

    let (w, h) =
        (((x1 - x0) / spec.dsm_resolution).round() as usize, ((y1 - y0) / spec.dsm_resolution).round() as usize);
    let mut dsm = driver.create_with_band_type_with_options::<f32, _>(dsm_path, w, h, 1, &options)?;
    dsm.set_geo_transform(&geo(spec.dsm_resolution))?;
    dsm.set_projection(&wkt)?;
    dsm.set_metadata_item("TIFFTAG_DATETIME", spec.date, "")?;
    {
        let mut band = dsm.rasterband(1)?;
        band.set_no_data_value(Some(-9999.0))?;
        for r0 in (0..h).step_by(256) {
            let rows = 256.min(h - r0);
            let mut block = vec![0f32; rows * w];
            // Rows in parallel, each with its own noise stream, so the result does not depend on threads.
            block.par_chunks_mut(w).enumerate().for_each(|(r, line)| {
                let row = r0 + r;
                let mut rng = Rng::new(site.seed ^ 0xD5 ^ u64::from(spec.later)).fork(row as u64);
                let y = y0 + row as f64 * spec.dsm_resolution + spec.dsm_resolution / 2.0;
                for (c, v) in line.iter_mut().enumerate() {
                    let x = x0 + c as f64 * spec.dsm_resolution + spec.dsm_resolution / 2.0;
                    let noise = rng.normal();
                    *v = if inside(x, y) {
                        (site.surface(x, y, spec.later) + spec.vertical_offset + spec.noise_m * noise) as f32
                    } else {
                        -9999.0
                    };
                }
            });
            let mut buf = Buffer::new((w, rows), block);
            band.write((0, r0 as isize), (w, rows), &mut buf)?;
        }
    }
    dsm.close()?;

    let (w, h) =
        (((x1 - x0) / spec.ortho_resolution).round() as usize, ((y1 - y0) / spec.ortho_resolution).round() as usize);
    let mut ortho = driver.create_with_band_type_with_options::<u8, _>(ortho_path, w, h, 4, &options)?;
    ortho.set_geo_transform(&geo(spec.ortho_resolution))?;
    ortho.set_projection(&wkt)?;
    ortho.set_metadata_item("TIFFTAG_DATETIME", spec.date, "")?;
    ortho.set_metadata_item("TIFFTAG_SOFTWARE", if spec.pix4d_nodata { "pix4dmapper" } else { "jingtu synth" }, "")?;
    let interp = [
        ColorInterpretation::RedBand,
        ColorInterpretation::GreenBand,
        ColorInterpretation::BlueBand,
        ColorInterpretation::AlphaBand,
    ];
    for (i, ci) in interp.into_iter().enumerate() {
        let mut band = ortho.rasterband(i + 1)?;
        band.set_color_interpretation(ci)?;
        if spec.pix4d_nodata {
            band.set_no_data_value(Some(-10000.0))?;
        }
    }
    for r0 in (0..h).step_by(256) {
        let rows = 256.min(h - r0);
        let mut rgba = vec![0u8; rows * w * 4];
        rgba.par_chunks_mut(w * 4).enumerate().for_each(|(r, line)| {
            let y = y0 + (r0 + r) as f64 * spec.ortho_resolution + spec.ortho_resolution / 2.0;
            for c in 0..w {
                let x = x0 + c as f64 * spec.ortho_resolution + spec.ortho_resolution / 2.0;
                if inside(x, y) {
                    let rgb = site.colour(x, y, spec.later);
                    line[4 * c..4 * c + 3].copy_from_slice(&rgb);
                    line[4 * c + 3] = 255;
                }
            }
        });
        let planes: Vec<Vec<u8>> = (0..4).map(|k| rgba.iter().skip(k).step_by(4).copied().collect()).collect();
        for (k, plane) in planes.into_iter().enumerate() {
            let mut buf = Buffer::new((w, rows), plane);
            ortho.rasterband(k + 1)?.write((0, r0 as isize), (w, rows), &mut buf)?;
        }
    }
    ortho.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_change_the_surface_only_where_and_when_they_should() {
        let site = DroneSite::standard();
        // New building B2 (6 m) on the later date only.
        assert!((site.change(100.0, 28.0) - 6.0).abs() < 1e-9);
        // The old hall stands on both dates.
        assert_eq!(site.change(30.0, 20.0), 0.0);
        // Pit floor 3 m down, its rim 1 m in only 1 m down.
        assert!((site.change(37.0, 132.0) + 3.0).abs() < 1e-9);
        assert!((site.change(23.0, 132.0) + 1.0).abs() < 1e-9);
        // Open ground does not change.
        assert_eq!(site.change(5.0, 60.0), 0.0);
        // Truck 3.5 m.
        assert!((site.change(77.0, 59.0) - 3.5).abs() < 1e-9);
    }

    #[test]
    fn volumes_match_their_geometry() {
        let site = DroneSite::standard();
        let pit = site.features.iter().find(|f| matches!(f.kind, FeatureKind::Pit { .. })).unwrap();
        let (cut, fill) = site.feature_volume(pit, 0.05);
        // A 30 x 24 m pit, 3 m deep with 1:1 slopes: prismoid with a 24 x 18 m floor.
        let (a1, a2) = (30.0 * 24.0, 24.0 * 18.0);
        let prismoid = 3.0 / 3.0 * (a1 + a2 + f64::sqrt(a1 * a2));
        assert!((cut - prismoid).abs() / prismoid < 0.01, "{cut} vs {prismoid}");
        assert_eq!(fill, 0.0);
        let heap = site.features.iter().find(|f| matches!(f.kind, FeatureKind::SpoilHeap { .. })).unwrap();
        let (_, fill) = site.feature_volume(heap, 0.05);
        // Cosine mound over an ellipse with semi-axes 13 m and 10 m: V = pi a b h (1/2 - 2/pi^2).
        let expect = std::f64::consts::PI * 13.0 * 10.0 * 4.0 * (0.5 - 2.0 / std::f64::consts::PI.powi(2));
        assert!((fill - expect).abs() / expect < 0.01, "{fill} vs {expect}");
    }
}
