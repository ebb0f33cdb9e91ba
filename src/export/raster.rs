//! GeoTIFF outputs on the analysis grid, written as Cloud Optimized GeoTIFFs: tiled, compressed, with
//! overviews once larger than one 512-pixel tile, so GIS clients and web viewers read them quickly
//! (and `validate_cloud_optimized_geotiff.py` accepts every one).

use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, ColorEntry, ColorInterpretation, ColorTable, RasterCreationOptions};
use gdal::{Dataset, DriverManager};
use ndarray::ArrayView2;

use super::atomic::{AtomicOutput, sidecar_path};
use crate::error::{Error, Result};
use crate::io::crs;
use crate::raster::Grid;

/// The sidecars a code raster is written with: GDAL's `.aux.xml` (colour table with transparency and
/// class names) and the QGIS style that QGIS loads with the file.
pub const CODE_RASTER_SIDECARS: [&str; 2] = [".aux.xml", "qml"];

/// The user's `--co NAME=VALUE` options, for every GeoTIFF output of the run.
static USER_OPTIONS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Sets the user's creation options (`--co`), once per process, each `NAME=VALUE`; a malformed one is
/// a usage error naming it.
pub fn set_user_options(options: &[String]) -> Result<()> {
    for o in options {
        let ok = o
            .split_once('=')
            .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !ok {
            return Err(Error::Usage(format!("--co {o}: a creation option is NAME=VALUE, e.g. --co COMPRESS=ZSTD")));
        }
    }
    let _ = USER_OPTIONS.set(options.to_vec());
    Ok(())
}

/// Creation options of every GeoTIFF output. COG's default overviews (`AUTO`) stop once the image fits
/// one block, so a raster of at most 512 px has none and a larger one has as many as it needs. The
/// user's `--co` options come last and replace a default (or `extra`) of the same name.
fn cog_options(extra: &[&str]) -> RasterCreationOptions {
    let mut options: Vec<String> = ["COMPRESS=DEFLATE", "BLOCKSIZE=512", "OVERVIEWS=AUTO", "BIGTIFF=IF_SAFER"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    let name = |o: &str| o.split('=').next().unwrap_or("").to_ascii_uppercase();
    for user in USER_OPTIONS.get().map(Vec::as_slice).unwrap_or(&[]) {
        options.retain(|o| name(o) != name(user));
        options.push(user.clone());
    }
    RasterCreationOptions::from_iter(options.iter().map(String::as_str))
}

/// Copies `source` into `target` as a Cloud Optimized GeoTIFF.
fn copy_as_cog(source: &Dataset, target: &Path, extra: &[&str], path_for_errors: &Path) -> Result<()> {
    let driver = DriverManager::get_driver_by_name("COG").map_err(|e| Error::gdal(path_for_errors, e))?;
    let written =
        source.create_copy(&driver, target, &cog_options(extra)).map_err(|e| Error::gdal(path_for_errors, e))?;
    written.close().map_err(|e| Error::gdal(path_for_errors, e))
}

/// Rewrites a finished GeoTIFF at `scratch` as a Cloud Optimized GeoTIFF at `target` (for rasters
/// written tile by tile, which a COG cannot be), then removes the scratch file.
pub fn finish_as_cog(scratch: &Path, target: &Path, extra: &[&str], path_for_errors: &Path) -> Result<()> {
    crate::io::gdal_env::init();
    let source = Dataset::open(scratch).map_err(|e| Error::gdal(path_for_errors, e))?;
    copy_as_cog(&source, target, extra, path_for_errors)?;
    drop(source);
    std::fs::remove_file(scratch).map_err(|e| Error::io(scratch, e))
}

/// A scratch file beside an atomic output's temporary file (removed with its folder if anything fails).
pub fn scratch_path(out: &AtomicOutput) -> PathBuf {
    out.temp_path().with_extension("scratch.tif")
}

/// Writes a UInt8 code raster (e.g. the change raster: 0 no change, a code per kind, 255 nodata) as a
/// Cloud Optimized GeoTIFF that opens readable in any GIS: a colour table in which code 0 (no change,
/// the background) and nodata are transparent, a name per code (GDAL category names), and beside it a
/// QGIS style (`.qml`, which QGIS loads with the raster) with a legend of the named codes.
///
/// The colour table and names live in GDAL's `.aux.xml` sidecar: a TIFF colour map has no alpha, so
/// inside the TIFF code 0 could only be opaque black over everything.
pub fn write_codes(
    path: &Path,
    grid: &Grid,
    codes: ArrayView2<u8>,
    palette: &[(u8, [i16; 3], &str)],
    overwrite: bool,
) -> Result<()> {
    crate::io::gdal_env::init();
    let out = AtomicOutput::new(path, &CODE_RASTER_SIDECARS, overwrite)?;
    let temp = out.temp_path().to_path_buf();
    let fail = |e: gdal::errors::GdalError| Error::gdal(path, e);
    let nodata: u8 = 255;
    {
        let driver = DriverManager::get_driver_by_name("MEM").map_err(fail)?;
        let (h, w) = codes.dim();
        let mut ds = driver.create_with_band_type::<u8, _>("", w, h, 1).map_err(fail)?;
        ds.set_geo_transform(&grid.transform.0).map_err(fail)?;
        if let Some(srs) = (!grid.crs_wkt.is_empty()).then(|| crs::canonical_srs(&grid.crs_wkt)).flatten() {
            ds.set_spatial_ref(&srs).map_err(fail)?;
        }
        let mut band = ds.rasterband(1).map_err(fail)?;
        band.set_no_data_value(Some(nodata as f64)).map_err(fail)?;
        let legend: Vec<String> = palette.iter().map(|(c, _, name)| format!("{c}={name}")).collect();
        gdal::Metadata::set_description(&mut band, &legend.join(",")).map_err(fail)?;
        let mut buffer = Buffer::new((w, h), codes.iter().copied().collect());
        band.write((0, 0), (w, h), &mut buffer).map_err(fail)?;
        copy_as_cog(&ds, &temp, &["RESAMPLING=NEAREST"], path)?;
    }
    {
        // Opened read-only, the GeoTIFF keeps these in its .aux.xml and its COG layout untouched.
        let ds = Dataset::open(&temp).map_err(fail)?;
        let mut band = ds.rasterband(1).map_err(fail)?;
        let mut table = ColorTable::new(gdal::raster::PaletteInterpretation::Rgba);
        let top = palette.iter().map(|(c, _, _)| *c).max().unwrap_or(0);
        let mut names = vec![String::new(); top as usize + 1];
        for code in 0..=top {
            table.set_color_entry(code as u16, &ColorEntry::rgba(0, 0, 0, 0));
        }
        for (code, rgb, name) in palette {
            let alpha = if *code == 0 || *code == nodata { 0 } else { 255 };
            table.set_color_entry(*code as u16, &ColorEntry::rgba(rgb[0], rgb[1], rgb[2], alpha));
            names[*code as usize] = name.to_string();
        }
        band.set_color_table(&table);
        band.set_color_interpretation(ColorInterpretation::PaletteIndex).map_err(fail)?;
        set_category_names(&band, &names).map_err(|m| Error::Gdal { path: path.to_path_buf(), message: m })?;
        ds.close().map_err(fail)?;
    }
    std::fs::write(sidecar_path(&temp, "qml"), paletted_qml(palette, nodata)).map_err(|e| Error::io(path, e))?;
    out.commit()
}

/// GDAL category names (one per code from 0), which the safe bindings cannot set.
fn set_category_names(band: &gdal::raster::RasterBand, names: &[String]) -> std::result::Result<(), String> {
    let mut list = gdal::cpl::CslStringList::new();
    for n in names {
        list.add_string(n).map_err(|e| e.to_string())?;
    }
    // SAFETY: the band handle is alive; GDAL copies the list.
    let rv = unsafe { gdal_sys::GDALSetRasterCategoryNames(band.c_rasterband(), list.as_ptr()) };
    if rv != gdal_sys::CPLErr::CE_None {
        return Err(crate::align::warp::last_gdal_message("cannot set category names"));
    }
    Ok(())
}

/// A QGIS paletted style with one legend entry per named code; code 0 (the background) and nodata are
/// left out, so QGIS draws them transparent.
pub fn paletted_qml(palette: &[(u8, [i16; 3], &str)], nodata: u8) -> String {
    let mut entries = String::new();
    for (code, rgb, name) in palette.iter().filter(|(c, _, _)| *c != 0 && *c != nodata) {
        let colour = format!("#{:02x}{:02x}{:02x}", rgb[0].clamp(0, 255), rgb[1].clamp(0, 255), rgb[2].clamp(0, 255));
        entries.push_str(&format!(
            "        <paletteEntry value=\"{code}\" color=\"{colour}\" alpha=\"255\" label=\"{}\"/>\n",
            xml_escape(name)
        ));
    }
    format!(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version=\"3.22.0\" styleCategories=\"Symbology\">
  <pipe>
    <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">
      <rasterTransparency/>
      <colorPalette>
{entries}      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness=\"0\" contrast=\"0\" gamma=\"1\"/>
    <huesaturation colorizeOn=\"0\" grayscaleMode=\"0\" saturation=\"0\" colorizeStrength=\"100\" colorizeRed=\"255\" colorizeGreen=\"128\" colorizeBlue=\"128\"/>
    <rasterresampler maxOversampling=\"2\"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
