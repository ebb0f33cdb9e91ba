//! Issue 2, acceptance 2: `jingtu inspect` works on every raster of the real rasterio and rio-tiler test
//! sets (compressions, COGs, masks, alpha, NaN nodata, all-nodata, rotated and ESRI-WKT georeferencing,
//! scale and offset, a drone orthomosaic with a nodata value its data type cannot hold), and broken files
//! (empty, random bytes, truncated GeoTIFFs) each give one line on stderr naming the file and exit status 2.

use crate::support as common;

use std::path::{Path, PathBuf};

use gdal::Dataset;
use jingtu::synth::pair::PairOptions;
use jingtu::synth::rng::Rng;
use serde_json::Value;

use common::{Run, fixture, jingtu, licensed_data, real_data};

/// The real test sets `inspect` must read completely.
const FOLDERS: [&str; 2] = ["rasterio-testdata", "riotiler-cogs"];

/// What a file in the test sets is, decided file by file.
#[derive(Debug, PartialEq)]
enum Kind {
    /// A TIFF, so a raster `inspect` must describe. This includes the `.msk` mask sidecar and the `.ovr`
    /// overview sidecar: both are complete TIFF rasters (a 1-bit mask; reduced-resolution bands) that
    /// GDAL opens on their own, so `inspect` must too, even though they are normally read through the
    /// file they belong to.
    Tiff,
    /// Text that describes the data set (README, PROVENANCE.txt, SHA256SUMS, GDAL's .aux.xml), not a
    /// raster: `inspect` must refuse it in one line.
    Text,
}

fn classify(path: &Path) -> Kind {
    let head = std::fs::read(path).map(|b| b.into_iter().take(4).collect::<Vec<u8>>()).unwrap_or_default();
    // Classic TIFF ("II*\0", "MM\0*") and BigTIFF ("II+\0", "MM\0+").
    let tiff = matches!(head.as_slice(), [b'I', b'I', 42 | 43, 0] | [b'M', b'M', 0, 42 | 43]);
    if tiff {
        return Kind::Tiff;
    }
    let name = path.file_name().unwrap().to_string_lossy();
    let text =
        name.starts_with("README") || name == "PROVENANCE.txt" || name == "SHA256SUMS" || name.ends_with(".aux.xml");
    // A new kind of file in the test sets must be looked at and classified here, not silently skipped.
    assert!(text, "{}: neither a TIFF nor a known text sidecar; decide what it is", path.display());
    Kind::Text
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn inspect_json(path: &Path) -> Value {
    let run = jingtu(["inspect".as_ref(), "--json".as_ref(), path.as_os_str()]);
    run.expect_code(0, &format!("inspect --json {}", path.display()));
    run.json_summary()
}

/// The single error line of a failed `inspect`, checked against the rules every error follows.
fn one_line_error(run: &Run, path: &Path) -> String {
    assert_eq!(run.code, 2, "{}: exit status {} (stderr: {})", path.display(), run.code, run.stderr);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}: one line on stderr, got {lines:#?}", path.display());
    let line = lines[0];
    assert!(line.starts_with("jingtu: error: "), "{line}");
    let shown = path.display().to_string();
    assert!(line.contains(&shown), "the error names the file: {line}");
    assert_eq!(line.matches(&shown).count(), 1, "the file is named once, not repeated: {line}");
    line.to_string()
}

#[test]
fn inspect_reads_every_real_raster_and_its_json_parses() {
    let mut rasters = 0;
    for folder in FOLDERS {
        let Some(dir) = real_data(folder) else { continue };
        let mut files = Vec::new();
        files_under(&dir, &mut files);
        for path in files {
            if classify(&path) == Kind::Text {
                let run = jingtu(["inspect".as_ref(), path.as_os_str()]);
                let line = one_line_error(&run, &path);
                assert!(line.contains("not a raster"), "{line}");
                continue;
            }
            rasters += 1;
            let run = jingtu(["inspect".as_ref(), path.as_os_str()]);
            run.expect_code(0, &format!("inspect {}", path.display()));
            assert!(run.stderr.is_empty(), "{}: nothing on stderr, got {}", path.display(), run.stderr);
            let report = inspect_json(&path);
            assert_eq!(report["kind"], "raster", "{}", path.display());
            // What the engine reports must be what GDAL itself sees.
            let ds = Dataset::open(&path).unwrap();
            let (w, h) = ds.raster_size();
            assert_eq!(report["grid"]["width"].as_u64(), Some(w as u64), "{}", path.display());
            assert_eq!(report["grid"]["height"].as_u64(), Some(h as u64), "{}", path.display());
            assert_eq!(report["bands"].as_array().unwrap().len(), ds.raster_count(), "{}", path.display());
            if let Ok(srs) = ds.spatial_ref() {
                if srs.auth_name().as_deref() == Some("EPSG") {
                    let code = srs.auth_code().unwrap() as u64;
                    assert_eq!(report["grid"]["epsg"].as_u64(), Some(code), "{}", path.display());
                }
            }
            if let Ok(gt) = ds.geo_transform() {
                let reported: Vec<f64> =
                    report["grid"]["transform"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                // serde_json's default parser may round the last bit; the engine printed GDAL's value.
                let close = reported.iter().zip(gt.iter()).all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1.0));
                assert!(close && reported.len() == 6, "{}: geotransform {reported:?} vs {gt:?}", path.display());
            }
        }
    }
    if rasters > 0 {
        println!("inspect read {rasters} real rasters");
    }
}

/// What `inspect --json` says about the awkward files, against `gdalinfo` (GDAL 3.6) on the same files.
#[test]
fn inspect_reports_masks_alpha_nodata_rotation_and_scaling_as_gdal_does() {
    let rio = licensed_data("rasterio-testdata");
    // gdalinfo rotated.tif: GeoTransform 100, 17.3205, 5.0 / 200, 10.0, -8.6603 (a 30 degree rotation).
    let r = inspect_json(&rio.join("rotated.tif"));
    let t = &r["grid"]["transform"];
    assert!((t[2].as_f64().unwrap() - 5.0).abs() < 1e-9 && (t[4].as_f64().unwrap() - 10.0).abs() < 1e-9, "{t}");
    // gdalinfo float_nan.tif: NoData Value=nan.
    let r = inspect_json(&rio.join("float_nan.tif"));
    assert_eq!((r["bands"][0]["nodata"].as_str(), r["bands"][0]["mask"].as_str()), (Some("NaN"), Some("nodata")));
    // gdalinfo RGB2.byte.tif: Mask Flags: PER_DATASET (the RGB2.byte.tif.msk sidecar).
    let r = inspect_json(&rio.join("RGB2.byte.tif"));
    assert!(r["bands"].as_array().unwrap().iter().all(|b| b["mask"] == "per_dataset"), "{}", r["bands"]);
    // gdalinfo RGBA.byte.tif: band 4 ColorInterp=Alpha; the engine reads RGB with the alpha as mask.
    let r = inspect_json(&rio.join("RGBA.byte.tif"));
    assert_eq!(r["bands"][3]["mask"], "is_alpha");
    assert_eq!(r["bands"][0]["mask"], "alpha");
    assert_eq!(r["band_map"]["bands"].as_array().unwrap().len(), 3, "alpha is not a measurement");
    // gdalinfo all-nodata.tif: 4 UInt16 bands (Blue, Green, Red, Undefined) with NoData Value=0 everywhere.
    let r = inspect_json(&rio.join("all-nodata.tif"));
    assert_eq!(r["grid"]["epsg"], 32628);
    assert!(r["bands"].as_array().unwrap().iter().all(|b| b["nodata"] == "0" && b["mask"] == "nodata"));
    // gdalinfo test_esri_wkt.tif: PROJCRS["USA_Contiguous_Albers_Equal_Area_Conic_USGS_version", ...].
    let r = inspect_json(&rio.join("test_esri_wkt.tif"));
    assert_eq!(r["crs_name"], "USA_Contiguous_Albers_Equal_Area_Conic_USGS_version");

    let Some(cogs) = real_data("riotiler-cogs") else { return };
    // gdalinfo cog_scale.tif: band 1 Offset: 1000, Scale: 0.0001.
    let r = inspect_json(&cogs.join("cog_scale.tif"));
    assert_eq!((r["bands"][0]["scale"].as_f64(), r["bands"][0]["offset"].as_f64()), (Some(0.0001), Some(1000.0)));
    // gdalinfo pix4d_alpha_nodata.tif: NoData Value=-1e+04 on Byte bands: it cannot occur, alpha decides.
    let r = inspect_json(&cogs.join("my-bucket/pix4d/pix4d_alpha_nodata.tif"));
    assert!(r["bands"][0]["nodata_ignored"].is_string(), "{}", r["bands"][0]);
    assert_eq!(r["bands"][0]["mask"], "alpha");
}

#[test]
fn an_empty_file_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.tif");
    std::fs::File::create(&path).unwrap();
    let line = one_line_error(&jingtu(["inspect".as_ref(), path.as_os_str()]), &path);
    assert!(line.contains("empty"), "{line}");
}

#[test]
fn random_bytes_are_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.tif");
    let mut rng = Rng::new(20240312);
    let bytes: Vec<u8> = (0..64 * 1024).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    let line = one_line_error(&jingtu(["inspect".as_ref(), path.as_os_str()]), &path);
    assert!(line.contains("not a raster"), "{line}");
}

/// Copies `source` to `dir/name` and cuts it to `fraction` of its length.
fn truncated_copy(source: &Path, dir: &Path, name: &str, fraction: f64) -> PathBuf {
    let target = dir.join(name);
    std::fs::copy(source, &target).unwrap();
    let len = std::fs::metadata(&target).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&target).unwrap().set_len((len as f64 * fraction) as u64).unwrap();
    target
}

#[test]
fn truncated_geotiffs_are_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(1));
    let mut cut = vec![truncated_copy(&pair.before, dir.path(), "fixture-half.tif", 0.5)];
    // Striped, directory at the end of the file: the cut removes the header GDAL needs to open it.
    let rio = licensed_data("rasterio-testdata");
    cut.push(truncated_copy(&rio.join("RGB.byte.tif"), dir.path(), "RGB.byte-third.tif", 1.0 / 3.0));
    if let Some(cogs) = real_data("riotiler-cogs") {
        // Cloud-optimized, directories first: it opens, but the full-resolution tiles are gone.
        cut.push(truncated_copy(&cogs.join("cog.tif"), dir.path(), "cog-third.tif", 1.0 / 3.0));
    }
    for path in cut {
        let line = one_line_error(&jingtu(["inspect".as_ref(), path.as_os_str()]), &path);
        assert!(line.contains("truncated or corrupt"), "{line}");
    }
}
