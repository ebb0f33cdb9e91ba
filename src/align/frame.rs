//! The analysis frame of a scan: one metric CRS and one pixel lattice for every plot, fixed when the
//! store is created so that every month's pixels are the same pixels.

use serde::{Deserialize, Serialize};

use crate::raster::{Bounds, GeoTransform, Grid};

/// CRS, resolution and lattice origin shared by every plot grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisFrame {
    /// CRS as WKT.
    pub crs_wkt: String,
    /// EPSG code, where known.
    pub epsg: Option<u32>,
    /// Pixel size in metres.
    pub resolution: f64,
    /// A lattice corner (x).
    pub origin_x: f64,
    /// A lattice corner (y).
    pub origin_y: f64,
}

/// Tolerance in pixels when snapping to the lattice, so that plot edges that sit on pixel edges (as
/// cadastral parcels drawn on the imagery do) land on the same pixels whatever CRS round trip the
/// registry went through.
const SNAP_EPSILON: f64 = 1e-4;

impl AnalysisFrame {
    /// The frame of a scene grid (its CRS, its pixel size and its lattice).
    pub fn of_grid(grid: &Grid) -> AnalysisFrame {
        let (px, _) = grid.transform.pixel_size();
        AnalysisFrame {
            crs_wkt: grid.crs_wkt.clone(),
            epsg: grid.epsg,
            resolution: px,
            origin_x: grid.transform.0[0],
            origin_y: grid.transform.0[3],
        }
    }

    /// The grid covering `bounds` plus `margin` metres, on the lattice.
    pub fn grid_for(&self, bounds: &Bounds, margin: f64) -> Grid {
        let r = self.resolution;
        let b = bounds.buffered(margin);
        let col0 = ((b.min_x - self.origin_x) / r + SNAP_EPSILON).floor();
        let col1 = ((b.max_x - self.origin_x) / r - SNAP_EPSILON).ceil();
        let row0 = ((self.origin_y - b.max_y) / r + SNAP_EPSILON).floor();
        let row1 = ((self.origin_y - b.min_y) / r - SNAP_EPSILON).ceil();
        Grid {
            crs_wkt: self.crs_wkt.clone(),
            epsg: self.epsg,
            transform: GeoTransform::north_up(self.origin_x + col0 * r, self.origin_y - row0 * r, r, r),
            width: (col1 - col0).max(1.0) as usize,
            height: (row1 - row0).max(1.0) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_grids_snap_to_the_lattice_despite_round_trip_noise() {
        let frame = AnalysisFrame {
            crs_wkt: String::new(),
            epsg: Some(32651),
            resolution: 10.0,
            origin_x: 300000.0,
            origin_y: 3600000.0,
        };
        let exact = Bounds { min_x: 300100.0, min_y: 3599800.0, max_x: 300250.0, max_y: 3599900.0 };
        let noisy =
            Bounds { min_x: 300100.0 + 3e-7, min_y: 3599800.0 - 2e-7, max_x: 300250.0 - 4e-7, max_y: 3599900.0 + 1e-7 };
        let a = frame.grid_for(&exact, 50.0);
        let b = frame.grid_for(&noisy, 50.0);
        assert_eq!(a, b);
        assert_eq!((a.width, a.height), (25, 20));
        assert_eq!(a.transform.0[0], 300050.0);
        assert_eq!(a.transform.0[3], 3599950.0);
    }
}
