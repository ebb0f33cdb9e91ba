//! Georeferencing: affine transforms, pixel windows and analysis grids.

use serde::{Deserialize, Serialize};

/// GDAL's six-coefficient affine transform: `x = c0 + col*c1 + row*c2`, `y = c3 + col*c4 + row*c5`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// A north-up transform with square or rectangular pixels.
    pub fn north_up(origin_x: f64, origin_y: f64, pixel_width: f64, pixel_height: f64) -> Self {
        GeoTransform([origin_x, pixel_width, 0.0, origin_y, 0.0, -pixel_height.abs()])
    }

    /// Map coordinates of a (fractional) pixel position.
    pub fn pixel_to_geo(&self, col: f64, row: f64) -> (f64, f64) {
        let g = &self.0;
        (g[0] + col * g[1] + row * g[2], g[3] + col * g[4] + row * g[5])
    }

    /// Fractional pixel position of map coordinates; `None` for a degenerate transform.
    pub fn geo_to_pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let g = &self.0;
        let det = g[1] * g[5] - g[2] * g[4];
        if det == 0.0 {
            return None;
        }
        let dx = x - g[0];
        let dy = y - g[3];
        Some(((dx * g[5] - dy * g[2]) / det, (dy * g[1] - dx * g[4]) / det))
    }

    /// True when rows run along map y and columns along map x (no rotation or shear).
    pub fn is_north_up(&self) -> bool {
        self.0[2] == 0.0 && self.0[4] == 0.0
    }

    /// Ground size of one pixel (width, height), both positive, in CRS units.
    pub fn pixel_size(&self) -> (f64, f64) {
        let g = &self.0;
        ((g[1] * g[1] + g[4] * g[4]).sqrt(), (g[2] * g[2] + g[5] * g[5]).sqrt())
    }

    /// Area of one pixel in CRS units squared.
    pub fn pixel_area(&self) -> f64 {
        let g = &self.0;
        (g[1] * g[5] - g[2] * g[4]).abs()
    }

    /// The transform of a window starting at (`col`, `row`) of this one.
    pub fn shifted(&self, col: f64, row: f64) -> Self {
        let (x, y) = self.pixel_to_geo(col, row);
        let g = self.0;
        GeoTransform([x, g[1], g[2], y, g[4], g[5]])
    }
}

/// An axis-aligned rectangle in map coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// West edge.
    pub min_x: f64,
    /// South edge.
    pub min_y: f64,
    /// East edge.
    pub max_x: f64,
    /// North edge.
    pub max_y: f64,
}

impl Bounds {
    /// The overlap of two rectangles, `None` when they do not share positive area.
    pub fn intersection(&self, other: &Bounds) -> Option<Bounds> {
        let b = Bounds {
            min_x: self.min_x.max(other.min_x),
            min_y: self.min_y.max(other.min_y),
            max_x: self.max_x.min(other.max_x),
            max_y: self.max_y.min(other.max_y),
        };
        (b.max_x > b.min_x && b.max_y > b.min_y).then_some(b)
    }

    /// Grows the rectangle by `margin` on every side.
    pub fn buffered(&self, margin: f64) -> Bounds {
        Bounds {
            min_x: self.min_x - margin,
            min_y: self.min_y - margin,
            max_x: self.max_x + margin,
            max_y: self.max_y + margin,
        }
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Bounds) -> Bounds {
        Bounds {
            min_x: self.min_x.min(other.min_x),
            min_y: self.min_y.min(other.min_y),
            max_x: self.max_x.max(other.max_x),
            max_y: self.max_y.max(other.max_y),
        }
    }

    /// Width times height.
    pub fn area(&self) -> f64 {
        (self.max_x - self.min_x).max(0.0) * (self.max_y - self.min_y).max(0.0)
    }
}

impl std::fmt::Display for Bounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:.3}, {:.3}, {:.3}, {:.3}]", self.min_x, self.min_y, self.max_x, self.max_y)
    }
}

/// A rectangle of pixels inside a raster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First column.
    pub col: usize,
    /// First row.
    pub row: usize,
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
}

impl Window {
    /// Number of pixels in the window.
    pub fn len(&self) -> usize {
        self.width * self.height
    }

    /// True for a window without pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A raster grid on the ground: CRS, transform and size. Analysis happens on one grid per job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// CRS as WKT (empty when the raster has none, e.g. a plain PNG).
    pub crs_wkt: String,
    /// EPSG code of the CRS where one is known.
    pub epsg: Option<u32>,
    /// Pixel-to-map transform.
    pub transform: GeoTransform,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Grid {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.width * self.height
    }

    /// True for a grid without pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Map-coordinate bounds of the whole grid (all four corners considered, so rotated grids work).
    pub fn bounds(&self) -> Bounds {
        let t = &self.transform;
        let corners = [
            t.pixel_to_geo(0.0, 0.0),
            t.pixel_to_geo(self.width as f64, 0.0),
            t.pixel_to_geo(0.0, self.height as f64),
            t.pixel_to_geo(self.width as f64, self.height as f64),
        ];
        let mut b = Bounds { min_x: f64::MAX, min_y: f64::MAX, max_x: f64::MIN, max_y: f64::MIN };
        for (x, y) in corners {
            b.min_x = b.min_x.min(x);
            b.max_x = b.max_x.max(x);
            b.min_y = b.min_y.min(y);
            b.max_y = b.max_y.max(y);
        }
        b
    }

    /// The sub-grid covering `window`.
    pub fn window(&self, window: Window) -> Grid {
        Grid {
            crs_wkt: self.crs_wkt.clone(),
            epsg: self.epsg,
            transform: self.transform.shifted(window.col as f64, window.row as f64),
            width: window.width,
            height: window.height,
        }
    }

    /// A north-up grid of square `resolution` pixels snapped to multiples of the resolution that covers `bounds`.
    pub fn covering(crs_wkt: String, epsg: Option<u32>, bounds: &Bounds, resolution: f64) -> Grid {
        let min_x = (bounds.min_x / resolution).floor() * resolution;
        let max_y = (bounds.max_y / resolution).ceil() * resolution;
        let max_x = (bounds.max_x / resolution).ceil() * resolution;
        let min_y = (bounds.min_y / resolution).floor() * resolution;
        let width = (((max_x - min_x) / resolution).round() as usize).max(1);
        let height = (((max_y - min_y) / resolution).round() as usize).max(1);
        Grid { crs_wkt, epsg, transform: GeoTransform::north_up(min_x, max_y, resolution, resolution), width, height }
    }

    /// Whether two grids put the same pixels in the same places (CRS compared by EPSG code or WKT text).
    pub fn same_pixels(&self, other: &Grid) -> bool {
        let same_crs = match (self.epsg, other.epsg) {
            (Some(a), Some(b)) => a == b,
            _ => self.crs_wkt == other.crs_wkt,
        };
        let close = self.transform.0.iter().zip(other.transform.0.iter()).all(|(a, b)| {
            let scale = a.abs().max(b.abs()).max(1.0);
            (a - b).abs() <= 1e-9 * scale
        });
        same_crs && close && self.width == other.width && self.height == other.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_geo_round_trip_on_rotated_transform() {
        let t = GeoTransform([1000.0, 9.0, 2.0, 5000.0, 1.5, -10.0]);
        let (x, y) = t.pixel_to_geo(12.5, 7.25);
        let (c, r) = t.geo_to_pixel(x, y).unwrap();
        assert!((c - 12.5).abs() < 1e-9 && (r - 7.25).abs() < 1e-9, "{c} {r}");
    }

    #[test]
    fn covering_snaps_to_resolution_and_contains_bounds() {
        let b = Bounds { min_x: 103.0, min_y: 201.0, max_x: 149.0, max_y: 260.0 };
        let g = Grid::covering(String::new(), None, &b, 10.0);
        assert_eq!(g.transform.0[0], 100.0);
        assert_eq!(g.transform.0[3], 260.0);
        assert_eq!((g.width, g.height), (5, 6));
        let gb = g.bounds();
        assert!(gb.min_x <= b.min_x && gb.max_x >= b.max_x && gb.min_y <= b.min_y && gb.max_y >= b.max_y);
    }

    #[test]
    fn disjoint_bounds_have_no_intersection() {
        let a = Bounds { min_x: 0.0, min_y: 0.0, max_x: 1.0, max_y: 1.0 };
        let b = Bounds { min_x: 1.0, min_y: 0.0, max_x: 2.0, max_y: 1.0 };
        assert!(a.intersection(&b).is_none());
        let c = Bounds { min_x: 0.5, min_y: 0.5, max_x: 2.0, max_y: 2.0 };
        assert_eq!(a.intersection(&c).unwrap().area(), 0.25);
    }
}
