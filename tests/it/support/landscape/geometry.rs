//! Vector geometry of the landscape and its rendering on a 2 m sub-grid.
//!
//! Coordinates are metres from the north-west corner of the area, x to the east and y to the south, so a
//! sub-grid cell (col, row) has its centre at ((col + 0.5) * 2, (row + 0.5) * 2). Polygons are drawn by
//! testing cell centres; a 10 m pixel's share of a polygon is the share of its 25 cells inside, which is
//! what makes the mixed pixels at plot and event edges.

use super::Rng;

/// Size of an output pixel in metres (Sentinel-2 visible and NIR bands).
pub const PIXEL_M: f64 = 10.0;
/// Sub-grid cells per pixel side: 2 m cells.
pub const SUB: usize = 5;
/// Size of a sub-grid cell in metres.
pub const CELL_M: f64 = PIXEL_M / SUB as f64;
/// Pixels per row of the scenes.
pub const WIDTH_PX: usize = 192;
/// Rows of the scenes.
pub const HEIGHT_PX: usize = 160;
/// Sub-grid cells per row.
pub const SUB_WIDTH: usize = WIDTH_PX * SUB;
/// Sub-grid rows.
pub const SUB_HEIGHT: usize = HEIGHT_PX * SUB;
/// UTM 51N easting of the west edge: about 120.0 E at 32.5 N, near Taizhou (Jiangsu). Kept apart from
/// the demo area's 300 000 so the two generators do not even share a place.
pub const ORIGIN_E: f64 = 218_000.0;
/// UTM 51N northing of the north edge (about 32.5 N).
pub const ORIGIN_N: f64 = 3_600_000.0;
/// EPSG code of the scenes and the registry.
pub const EPSG: u32 = 32651;

/// Row-major pixel indices (row * WIDTH_PX + col) of the 10 m grid, sorted.
pub type Footprint = Vec<u32>;

/// A simple polygon (one ring, not closed) in area metres.
#[derive(Debug, Clone)]
pub struct Polygon {
    /// Vertices in order.
    pub ring: Vec<(f64, f64)>,
}

impl Polygon {
    /// A star-shaped polygon around (cx, cy) of `area_m2`: 6-11 vertices at jittered angles and radii,
    /// then scaled to the wanted area. Star-shaped around its centre, so it never self-intersects, and
    /// irregular enough that no edge follows the pixel grid.
    pub fn star(rng: &mut Rng, cx: f64, cy: f64, area_m2: f64) -> Polygon {
        let n = 6 + rng.below(6);
        let step = std::f64::consts::TAU / n as f64;
        let phase = rng.uniform(0.0, std::f64::consts::TAU);
        let raw: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let angle = phase + step * (i as f64 + rng.uniform(-0.3, 0.3));
                let radius = rng.uniform(0.7, 1.3);
                (angle, radius)
            })
            .collect();
        let unit = Polygon { ring: raw.iter().map(|(a, r)| (r * a.cos(), r * a.sin())).collect() };
        let scale = (area_m2 / unit.area()).sqrt();
        Polygon { ring: unit.ring.iter().map(|(x, y)| (cx + x * scale, cy + y * scale)).collect() }
    }

    /// Area (shoelace).
    pub fn area(&self) -> f64 {
        let n = self.ring.len();
        (0..n)
            .map(|i| {
                let (x0, y0) = self.ring[i];
                let (x1, y1) = self.ring[(i + 1) % n];
                x0 * y1 - x1 * y0
            })
            .sum::<f64>()
            .abs()
            / 2.0
    }

    /// Even-odd point-in-polygon test.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        point_in_ring(&self.ring, x, y)
    }

    /// Farthest vertex from (cx, cy).
    pub fn max_radius_from(&self, cx: f64, cy: f64) -> f64 {
        self.ring.iter().map(|(x, y)| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt()).fold(0.0, f64::max)
    }

    /// Sub-grid cells whose centres lie inside, as row-major cell indices.
    pub fn cells(&self) -> Vec<u32> {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (x, y) in &self.ring {
            x0 = x0.min(*x);
            y0 = y0.min(*y);
            x1 = x1.max(*x);
            y1 = y1.max(*y);
        }
        let c0 = ((x0 / CELL_M).floor().max(0.0)) as usize;
        let r0 = ((y0 / CELL_M).floor().max(0.0)) as usize;
        let c1 = ((x1 / CELL_M).ceil() as usize).min(SUB_WIDTH);
        let r1 = ((y1 / CELL_M).ceil() as usize).min(SUB_HEIGHT);
        let mut out = Vec::new();
        for row in r0..r1 {
            for col in c0..c1 {
                if self.contains((col as f64 + 0.5) * CELL_M, (row as f64 + 0.5) * CELL_M) {
                    out.push((row * SUB_WIDTH + col) as u32);
                }
            }
        }
        out
    }

    /// The polygon as WKT in UTM 51N (EPSG:32651).
    pub fn to_utm_wkt(&self) -> String {
        let mut points: Vec<String> =
            self.ring.iter().map(|(x, y)| format!("{:.3} {:.3}", ORIGIN_E + x, ORIGIN_N - y)).collect();
        points.push(points[0].clone());
        format!("POLYGON (({}))", points.join(", "))
    }
}

/// Even-odd test of a point against one ring.
pub fn point_in_ring(ring: &[(f64, f64)], x: f64, y: f64) -> bool {
    let n = ring.len();
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = ring[i];
        let (xj, yj) = ring[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The 10 m pixel a sub-grid cell falls in.
pub fn pixel_of_cell(cell: u32) -> u32 {
    let (row, col) = (cell as usize / SUB_WIDTH, cell as usize % SUB_WIDTH);
    ((row / SUB) * WIDTH_PX + col / SUB) as u32
}

/// Pixels holding at least `min_share` of their area in `cells` (e.g. 0.5 for "mostly covered").
pub fn footprint(cells: &[u32], min_share: f64) -> Footprint {
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for c in cells {
        *counts.entry(pixel_of_cell(*c)).or_default() += 1;
    }
    let needed = (min_share * (SUB * SUB) as f64).ceil() as usize;
    counts.into_iter().filter(|(_, n)| *n >= needed).map(|(p, _)| p).collect()
}

/// Smooth noise in [-1, 1] over the sub-grid: value noise on a lattice of `spacing` cells, interpolated
/// with a smoothstep, two octaves. Gives soil colour and canopy density that vary within a field the way
/// moisture, tillage and stand density do, correlated over tens of metres rather than per pixel.
pub fn smooth_noise(rng: &mut Rng, spacing: usize) -> Vec<f32> {
    let octave = |rng: &mut Rng, spacing: usize| -> Vec<f32> {
        let lw = SUB_WIDTH / spacing + 2;
        let lh = SUB_HEIGHT / spacing + 2;
        let lattice: Vec<f32> = (0..lw * lh).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
        let mut out = vec![0f32; SUB_WIDTH * SUB_HEIGHT];
        for row in 0..SUB_HEIGHT {
            let fy = row as f32 / spacing as f32;
            let (ly, ty) = (fy.floor() as usize, smooth(fy.fract()));
            for col in 0..SUB_WIDTH {
                let fx = col as f32 / spacing as f32;
                let (lx, tx) = (fx.floor() as usize, smooth(fx.fract()));
                let v = |x: usize, y: usize| lattice[y * lw + x];
                let top = v(lx, ly) * (1.0 - tx) + v(lx + 1, ly) * tx;
                let bottom = v(lx, ly + 1) * (1.0 - tx) + v(lx + 1, ly + 1) * tx;
                out[row * SUB_WIDTH + col] = top * (1.0 - ty) + bottom * ty;
            }
        }
        out
    };
    let coarse = octave(rng, spacing);
    let fine = octave(rng, (spacing / 4).max(2));
    coarse.iter().zip(&fine).map(|(c, f)| 0.7 * c + 0.3 * f).collect()
}

/// Field parcels as a Voronoi tessellation of jittered seed points `spacing_m` apart: convex, irregular
/// polygons with edges at every angle, like the small fields of the Lixiahe plain. Returns the parcel of
/// every sub-grid cell and the number of parcels.
pub fn voronoi_parcels(rng: &mut Rng, spacing_m: f64) -> (Vec<u32>, usize) {
    let width_m = SUB_WIDTH as f64 * CELL_M;
    let height_m = SUB_HEIGHT as f64 * CELL_M;
    let nx = (width_m / spacing_m).ceil() as usize + 1;
    let ny = (height_m / spacing_m).ceil() as usize + 1;
    let seeds: Vec<(f64, f64)> = (0..nx * ny)
        .map(|i| {
            let (gx, gy) = ((i % nx) as f64, (i / nx) as f64);
            ((gx + rng.uniform(0.1, 0.9)) * spacing_m, (gy + rng.uniform(0.1, 0.9)) * spacing_m)
        })
        .collect();
    let mut parcel = vec![0u32; SUB_WIDTH * SUB_HEIGHT];
    for row in 0..SUB_HEIGHT {
        let y = (row as f64 + 0.5) * CELL_M;
        let gy = (y / spacing_m) as i64;
        for col in 0..SUB_WIDTH {
            let x = (col as f64 + 0.5) * CELL_M;
            let gx = (x / spacing_m) as i64;
            let mut best = (f64::MAX, 0usize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (sx, sy) = (gx + dx, gy + dy);
                    if sx < 0 || sy < 0 || sx >= nx as i64 || sy >= ny as i64 {
                        continue;
                    }
                    let i = sy as usize * nx + sx as usize;
                    let d = (seeds[i].0 - x).powi(2) + (seeds[i].1 - y).powi(2);
                    if d < best.0 {
                        best = (d, i);
                    }
                }
            }
            parcel[row * SUB_WIDTH + col] = best.1 as u32;
        }
    }
    (parcel, nx * ny)
}

/// Cells of a straight road `width_m` wide across the whole area at a random angle.
pub fn road_cells(rng: &mut Rng, width_m: f64) -> Vec<u32> {
    let width_area = SUB_WIDTH as f64 * CELL_M;
    let height_area = SUB_HEIGHT as f64 * CELL_M;
    let (px, py) = (rng.uniform(0.2, 0.8) * width_area, rng.uniform(0.2, 0.8) * height_area);
    let angle = rng.uniform(0.0, std::f64::consts::PI);
    let (nx, ny) = (-angle.sin(), angle.cos());
    let mut out = Vec::new();
    for row in 0..SUB_HEIGHT {
        for col in 0..SUB_WIDTH {
            let (x, y) = ((col as f64 + 0.5) * CELL_M, (row as f64 + 0.5) * CELL_M);
            if ((x - px) * nx + (y - py) * ny).abs() < width_m / 2.0 {
                out.push((row * SUB_WIDTH + col) as u32);
            }
        }
    }
    out
}
