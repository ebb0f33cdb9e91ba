//! GeoTIFF outputs on the analysis grid.

use std::path::Path;

use gdal::DriverManager;
use gdal::raster::{Buffer, ColorEntry, ColorInterpretation, ColorTable, RasterCreationOptions};
use ndarray::ArrayView2;

use super::atomic::AtomicOutput;
use crate::error::{Error, Result};
use crate::raster::Grid;

/// Writes a UInt8 code raster (e.g. the change raster: 0 no change, a code per kind, 255 nodata) as a
/// tiled, DEFLATE-compressed GeoTIFF with a colour table, so it opens readable in any GIS.
pub fn write_codes(
    path: &Path,
    grid: &Grid,
    codes: ArrayView2<u8>,
    palette: &[(u8, [i16; 3], &str)],
    overwrite: bool,
) -> Result<()> {
    crate::io::gdal_env::init();
    let out = AtomicOutput::new(path, &[], overwrite)?;
    let temp = out.temp_path().to_path_buf();
    let fail = |e: gdal::errors::GdalError| Error::gdal(path, e);
    {
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(fail)?;
        let options =
            RasterCreationOptions::from_iter(["TILED=YES", "COMPRESS=DEFLATE", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]);
        let (h, w) = codes.dim();
        let mut ds = driver.create_with_band_type_with_options::<u8, _>(&temp, w, h, 1, &options).map_err(fail)?;
        ds.set_geo_transform(&grid.transform.0).map_err(fail)?;
        if !grid.crs_wkt.is_empty() {
            ds.set_projection(&grid.crs_wkt).map_err(fail)?;
        }
        let mut band = ds.rasterband(1).map_err(fail)?;
        band.set_no_data_value(Some(255.0)).map_err(fail)?;
        let mut table = ColorTable::new(gdal::raster::PaletteInterpretation::Rgba);
        for (code, rgb, _) in palette {
            table.set_color_entry(*code as u16, &ColorEntry::rgba(rgb[0], rgb[1], rgb[2], 255));
        }
        band.set_color_table(&table);
        band.set_color_interpretation(ColorInterpretation::PaletteIndex).map_err(fail)?;
        let legend: Vec<String> = palette.iter().map(|(c, _, name)| format!("{c}={name}")).collect();
        gdal::Metadata::set_description(&mut band, &legend.join(",")).map_err(fail)?;
        let data: Vec<u8> = codes.iter().copied().collect();
        let mut buffer = Buffer::new((w, h), data);
        band.write((0, 0), (w, h), &mut buffer).map_err(fail)?;
        ds.close().map_err(fail)?;
    }
    out.commit()
}
