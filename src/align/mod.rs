//! Putting rasters onto one analysis grid: choosing the grid, reading windows where the pixels already
//! line up, warping with GDAL where they do not.

pub mod frame;
pub mod warp;

use gdal::spatial_ref::SpatialRef;
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::io::{BandMap, Raster, crs};
use crate::raster::{BandStack, Bounds, Grid, Window};
pub use warp::{Resampling, WarpArgs};

/// The grid two rasters are compared on: the CRS of the first that is projected in metres (else the UTM
/// zone of the first's centre), the coarser of the two resolutions (comparing at the finer one would
/// invent detail), the extent they share, and the pixel lattice of whichever input already has it, so
/// that input is read without resampling; when the two are in different CRSs, half a pixel off that
/// lattice, so that both are resampled alike.
pub fn common_grid(a: &Raster, b: &Raster) -> Result<Grid> {
    let (ia, ib) = (a.info(), b.info());
    match (ia.georeferenced, ib.georeferenced) {
        (false, false) => {
            if (ia.grid.width, ia.grid.height) != (ib.grid.width, ib.grid.height) {
                return Err(Error::NoOverlap {
                    a: a.path().into(),
                    b: b.path().into(),
                    detail: format!(
                        "neither is georeferenced and their sizes differ ({}x{} vs {}x{})",
                        ia.grid.width, ia.grid.height, ib.grid.width, ib.grid.height
                    ),
                });
            }
            return Ok(ia.grid.clone());
        }
        (true, false) | (false, true) => {
            let (with, without) = if ia.georeferenced { (a, b) } else { (b, a) };
            return Err(Error::input(
                without.path(),
                format!("has no georeferencing while {} has; both or neither must", with.path().display()),
            ));
        }
        (true, true) => {}
    }
    let srs_a = srs_of(a)?;
    let srs_b = srs_of(b)?;
    let target = if crs::is_metric_projected(&srs_a) {
        srs_a.clone()
    } else if crs::is_metric_projected(&srs_b) {
        srs_b.clone()
    } else {
        utm_for(&ia.grid, &srs_a).ok_or_else(|| Error::input(a.path(), "cannot find a UTM zone for its footprint"))?
    };
    let target_wkt = target.to_wkt().map_err(|e| Error::gdal(a.path(), e))?;
    let target_epsg = crs::epsg_of(&target);
    let footprint = |r: &Raster, srs: &SpatialRef| -> Result<(Bounds, f64)> {
        let g = &r.info().grid;
        let b = crs::transform_bounds(&g.bounds(), srs, &target)
            .ok_or_else(|| Error::input(r.path(), "its footprint cannot be transformed to the analysis CRS"))?;
        let res = if crs::same_crs(srs, &target) {
            let (px, py) = g.transform.pixel_size();
            px.max(py)
        } else {
            local_pixel_size(g, srs, &target).unwrap_or_else(|| (b.area() / g.len() as f64).sqrt())
        };
        Ok((b, res))
    };
    let (fa, ra) = footprint(a, &srs_a)?;
    let (fb, rb) = footprint(b, &srs_b)?;
    let shared = fa.intersection(&fb).ok_or_else(|| Error::NoOverlap {
        a: a.path().into(),
        b: b.path().into(),
        detail: format!("footprints {fa} and {fb} in the analysis CRS share no ground"),
    })?;
    // The coarser resolution, but a resolution within 5% of the first input's is taken as the same: a
    // reprojected date measures a little off (its pixels are not square in another CRS), and keeping
    // the first input's lattice spares it a resampling.
    let resolution = if (ra - rb).abs() <= 0.05 * ra { ra } else { ra.max(rb) };
    for (r, srs) in [(a, &srs_a), (b, &srs_b)] {
        if let Some(grid) = snapped_to(r.grid(), srs, &target, &shared, resolution) {
            let mut grid = Grid { crs_wkt: target_wkt, epsg: target_epsg, ..grid };
            if !crs::same_crs(&srs_a, &srs_b) {
                // One date must be resampled anyway; resample both through the same bilinear kernel (the
                // grid sits half a pixel off the lattice) so one is not sharp and the other soft. On the
                // fixture pair with its later date in EPSG:4326 or 32650 this removes every flag away
                // from the true changes (7 and 9 before).
                grid.transform = grid.transform.shifted(0.5, 0.5);
            }
            return Ok(grid);
        }
    }
    Ok(Grid::covering(target_wkt, target_epsg, &shared, resolution))
}

/// Reads the mapped bands of `raster` on `grid`: a plain window read where the raster's pixels are the
/// grid's pixels, a GDAL warp otherwise. Values are raw digital numbers.
pub fn read_on_grid(raster: &Raster, map: &BandMap, grid: &Grid, resampling: Resampling) -> Result<BandStack> {
    if let Some(window) = window_of(raster.grid(), grid) {
        return raster.read_raw(map, window);
    }
    let warped = warp_args(raster, grid, resampling).run(raster)?;
    warped.read_raw(map, warped.full_window())
}

/// The warp that puts `raster` on `grid`, with the resampling scale fixed from the two grids so that a
/// window of a grid reads exactly as the same pixels of the whole grid.
fn warp_args<'a>(raster: &Raster, grid: &'a Grid, resampling: Resampling) -> WarpArgs<'a> {
    let ignore_nodata = raster.info().bands.iter().any(|b| b.nodata_ignored.is_some());
    let mut args = WarpArgs::new(grid);
    args.with_resampling(resampling).with_threads(rayon::current_num_threads()).ignoring_source_nodata(ignore_nodata);
    if let Some((x, y)) = source_pixel_size(raster, grid) {
        let (tx, ty) = grid.transform.pixel_size();
        args.with_scale(x / tx, y / ty);
    }
    args
}

/// The size of the raster's pixels measured in the grid's CRS units (x, y).
fn source_pixel_size(raster: &Raster, grid: &Grid) -> Option<(f64, f64)> {
    let src = raster.grid();
    let same = src.epsg.is_some() && src.epsg == grid.epsg || src.crs_wkt == grid.crs_wkt;
    if same {
        return Some(src.transform.pixel_size());
    }
    let s = crs::srs_from_wkt(&src.crs_wkt)?;
    let t = crs::srs_from_wkt(&grid.crs_wkt)?;
    let b = crs::transform_bounds(&src.bounds(), &s, &t)?;
    Some(((b.max_x - b.min_x) / src.width as f64, (b.max_y - b.min_y) / src.height as f64))
}

/// Reads band `band` (1-based) of `raster` on `grid` as `f32` with NaN wherever the file has no data
/// (nodata value, NaN, mask or alpha): a window read where the pixels line up, a GDAL warp otherwise.
/// For single-band measurements such as surface models; `resampling` should be `Average` when the
/// raster is much finer than the grid, so heights are averaged rather than sampled.
pub fn read_band_on_grid(raster: &Raster, band: usize, grid: &Grid, resampling: Resampling) -> Result<Array2<f32>> {
    let count = raster.info().bands.len();
    if band == 0 || band > count {
        return Err(Error::input(raster.path(), format!("has {count} band(s); band {band} was asked for")));
    }
    let (values, valid) = if let Some(window) = window_of(raster.grid(), grid) {
        let map = single_band_map(band);
        let stack = raster.read_raw(&map, window)?;
        (stack.data.index_axis_move(ndarray::Axis(0), 0), stack.valid)
    } else {
        let warped = warp_args(raster, grid, resampling).run(raster)?;
        let stack = warped.read_raw(&single_band_map(band), warped.full_window())?;
        (stack.data.index_axis_move(ndarray::Axis(0), 0), stack.valid)
    };
    let mut values = values;
    ndarray::Zip::from(&mut values).and(&valid).for_each(|v, ok| {
        if *ok == 0 {
            *v = f32::NAN;
        }
    });
    Ok(values)
}

/// A band map that reads one band as it is (no role matters, no scaling).
fn single_band_map(band: usize) -> BandMap {
    BandMap {
        bands: vec![crate::io::MappedBand { role: crate::raster::BandRole::Red, index: band, scale: 1.0, offset: 0.0 }],
        origin: "single band".into(),
        surface_reflectance: false,
    }
}

/// The resampling that suits reading a raster of `source` pixels onto `target`: the mean of the
/// contributing pixels when the source is at least 1.5 times finer (a 5 cm surface model read at 25 cm
/// must average its heights, not pick one in 25), bilinear otherwise.
pub fn resampling_for(source: &Raster, target: &Grid) -> Resampling {
    let src = source.grid();
    let same_units = src.epsg.is_some() && src.epsg == target.epsg;
    let ratio = if same_units {
        (target.transform.pixel_area() / src.transform.pixel_area().max(f64::MIN_POSITIVE)).sqrt()
    } else {
        // Different CRSs: compare ground footprints per pixel in the target CRS.
        let footprint = crs::srs_from_wkt(&src.crs_wkt)
            .zip(crs::srs_from_wkt(&target.crs_wkt))
            .and_then(|(s, t)| crs::transform_bounds(&src.bounds(), &s, &t));
        match footprint {
            Some(b) => (target.transform.pixel_area() / (b.area() / src.len() as f64).max(f64::MIN_POSITIVE)).sqrt(),
            None => 1.0,
        }
    };
    if ratio >= 1.5 { Resampling::Average } else { Resampling::Bilinear }
}

/// The window of `source` that is exactly `target` (same CRS, resolution and lattice, inside the raster).
pub fn window_of(source: &Grid, target: &Grid) -> Option<Window> {
    let same_crs = match (source.epsg, target.epsg) {
        (Some(a), Some(b)) => a == b,
        _ => source.crs_wkt == target.crs_wkt || target.crs_wkt.is_empty() && source.crs_wkt.is_empty(),
    };
    let (s, t) = (&source.transform.0, &target.transform.0);
    if !same_crs || !source.transform.is_north_up() || !target.transform.is_north_up() {
        return None;
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(1e-9);
    if !close(s[1], t[1]) || !close(s[5], t[5]) {
        return None;
    }
    let col = (t[0] - s[0]) / s[1];
    let row = (t[3] - s[3]) / s[5];
    let (c, r) = (col.round(), row.round());
    if (col - c).abs() > 1e-4 || (row - r).abs() > 1e-4 || c < 0.0 || r < 0.0 {
        return None;
    }
    let (c, r) = (c as usize, r as usize);
    (c + target.width <= source.width && r + target.height <= source.height).then_some(Window {
        col: c,
        row: r,
        width: target.width,
        height: target.height,
    })
}

/// The size in the target CRS of one pixel at the centre of `grid` (mean of its width and height there).
fn local_pixel_size(grid: &Grid, from: &SpatialRef, to: &SpatialRef) -> Option<f64> {
    let t = gdal::spatial_ref::CoordTransform::new(from, to).ok()?;
    let (c, r) = (grid.width as f64 / 2.0, grid.height as f64 / 2.0);
    let corners = [
        grid.transform.pixel_to_geo(c, r),
        grid.transform.pixel_to_geo(c + 1.0, r),
        grid.transform.pixel_to_geo(c, r + 1.0),
    ];
    let mut xs = corners.map(|p| p.0);
    let mut ys = corners.map(|p| p.1);
    t.transform_coords(&mut xs, &mut ys, &mut [0.0; 3]).ok()?;
    let dx = ((xs[1] - xs[0]).powi(2) + (ys[1] - ys[0]).powi(2)).sqrt();
    let dy = ((xs[2] - xs[0]).powi(2) + (ys[2] - ys[0]).powi(2)).sqrt();
    let size = (dx + dy) / 2.0;
    (size.is_finite() && size > 0.0).then_some(size)
}

fn srs_of(r: &Raster) -> Result<SpatialRef> {
    let wkt = &r.grid().crs_wkt;
    if wkt.is_empty() {
        return Err(Error::input(r.path(), "has a geotransform but no CRS; assign one (gdal_edit.py -a_srs)"));
    }
    crs::srs_from_wkt(wkt).ok_or_else(|| Error::input(r.path(), "its CRS cannot be parsed"))
}

fn utm_for(grid: &Grid, srs: &SpatialRef) -> Option<SpatialRef> {
    let wgs84 = crs::srs_from_epsg(4326)?;
    let b = crs::transform_bounds(&grid.bounds(), srs, &wgs84)?;
    crs::srs_from_epsg(crs::utm_epsg((b.min_x + b.max_x) / 2.0, (b.min_y + b.max_y) / 2.0))
}

/// `shared` on the lattice of `grid` when that raster is already in the target CRS at `resolution`.
fn snapped_to(grid: &Grid, srs: &SpatialRef, target: &SpatialRef, shared: &Bounds, resolution: f64) -> Option<Grid> {
    let t = &grid.transform.0;
    let (px, py) = grid.transform.pixel_size();
    let same_res = (px - resolution).abs() <= 1e-6 * resolution && (py - resolution).abs() <= 1e-6 * resolution;
    if !crs::same_crs(srs, target) || !grid.transform.is_north_up() || !same_res {
        return None;
    }
    let col0 = ((shared.min_x - t[0]) / px - 1e-6).floor().max(0.0);
    let col1 = ((shared.max_x - t[0]) / px + 1e-6).ceil().min(grid.width as f64);
    let row0 = ((t[3] - shared.max_y) / py - 1e-6).floor().max(0.0);
    let row1 = ((t[3] - shared.min_y) / py + 1e-6).ceil().min(grid.height as f64);
    if col1 <= col0 || row1 <= row0 {
        return None;
    }
    let window = Window {
        col: col0 as usize,
        row: row0 as usize,
        width: (col1 - col0) as usize,
        height: (row1 - row0) as usize,
    };
    Some(grid.window(window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::GeoTransform;

    fn grid(x0: f64, y0: f64, res: f64, w: usize, h: usize) -> Grid {
        Grid {
            crs_wkt: "x".into(),
            epsg: Some(32651),
            transform: GeoTransform::north_up(x0, y0, res, res),
            width: w,
            height: h,
        }
    }

    #[test]
    fn aligned_subgrid_is_a_window() {
        let src = grid(1000.0, 5000.0, 10.0, 100, 80);
        let sub = grid(1200.0, 4800.0, 10.0, 30, 20);
        assert_eq!(window_of(&src, &sub), Some(Window { col: 20, row: 20, width: 30, height: 20 }));
    }

    #[test]
    fn shifted_or_resized_grids_need_warping() {
        let src = grid(1000.0, 5000.0, 10.0, 100, 80);
        assert_eq!(window_of(&src, &grid(1205.0, 4800.0, 10.0, 30, 20)), None);
        assert_eq!(window_of(&src, &grid(1200.0, 4800.0, 20.0, 10, 10)), None);
        assert_eq!(window_of(&src, &grid(1900.0, 4800.0, 10.0, 30, 20)), None, "runs off the east edge");
    }
}
