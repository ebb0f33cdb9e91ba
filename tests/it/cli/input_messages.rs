//! Issue 12, item 8 (the rest): every input kind, missing or a folder where a file belongs, fails with
//! exit 2 and one message naming the file that says the operating system's reason once (it was said
//! twice: "...: No such file or directory (os error 2): No such file or directory (os error 2)"); a
//! GeoTIFF cut at half its size is "truncated", naming the file, never "no georeferencing"; a scene whose
//! every pixel is invalid is skipped in a scan with its name and the reason, exit 1.

use crate::support as common;

use std::path::Path;

use common::Run;
use jingtu::synth::area::{AreaSpec, DemoArea, generate};
use jingtu::synth::pair::PairOptions;

fn small_area(dir: &Path) -> DemoArea {
    let spec = AreaSpec { size: 256, plots_per_category: 3, months: 14, history_months: 12, ..AreaSpec::default() };
    generate(&dir.join("data"), &spec).expect("the demo area is generated")
}

/// Exit 2, one line naming `path`, and no reason said twice.
fn refused_once(run: &Run, path: &Path, what: &str) {
    run.expect_code(2, what);
    let err = run.stderr.trim();
    assert!(err.contains(&path.display().to_string()), "{what}: the message names {}: {err}", path.display());
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
    let parts: Vec<&str> = err.split(": ").map(str::trim).collect();
    for (i, a) in parts.iter().enumerate() {
        if a.len() > 8 {
            assert!(!parts[i + 1..].contains(a), "{what}: '{a}' is said twice: {err}");
        }
    }
    let os = err.matches("(os error").count();
    assert!(os <= 1, "{what}: the OS error is said {os} times: {err}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn missing_inputs_and_folders_for_files_are_said_once_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let area = small_area(dir.path());
    let missing = dir.path().join("missing.gpkg");
    let folder = dir.path().join("a-folder.gpkg");
    std::fs::create_dir(&folder).unwrap();
    let store = dir.path().join("store.gpkg");
    let scan = |plots: &Path, scenes: &Path, store: &Path, extra: &[&str]| {
        let mut args = vec!["scan", "--plots", s(plots), "--scenes", s(scenes), "--store", s(store), "--no-report"];
        args.extend_from_slice(extra);
        common::jingtu(args)
    };
    for bad in [&missing, &folder] {
        refused_once(&scan(bad, &area.stac, &store, &[]), bad, "plots");
        refused_once(
            &scan(&area.plots, &bad.with_extension("json"), &store, &[]),
            &bad.with_extension("json"),
            "scenes",
        );
        refused_once(&scan(&area.plots, &area.stac, &store, &["--config", s(bad)]), bad, "config");
        if bad.is_dir() {
            // A missing store is made by the scan; a folder in its place is refused.
            refused_once(&scan(&area.plots, &area.stac, bad, &[]), bad, "store of scan");
        }
        let out = dir.path().join("r.html");
        refused_once(&common::jingtu(["report", "--store", s(bad), "--out", s(&out)]), bad, "store of report");
        refused_once(&common::jingtu(["export", "--store", s(bad)]), bad, "store of export");
    }
    let json_folder = dir.path().join("folder.json");
    std::fs::create_dir(&json_folder).unwrap();
    refused_once(&scan(&area.plots, &json_folder, &store, &[]), &json_folder, "STAC catalogue that is a folder");

    // change rasters
    let scenes = area.dir.join("scenes");
    let mut dates: Vec<_> = std::fs::read_dir(&scenes).unwrap().map(|e| e.unwrap().path()).collect();
    dates.sort();
    let good = dates[0].join("B04.tif");
    let tif_folder = dir.path().join("a-folder.tif");
    std::fs::create_dir(&tif_folder).unwrap();
    let out = dir.path().join("change.gpkg");
    for bad in [dir.path().join("missing.tif"), tif_folder] {
        for (before, after) in [(&bad, &good), (&good, &bad)] {
            let run = common::jingtu(["change", s(before), s(after), "--out", s(&out)]);
            refused_once(&run, &bad, "change raster");
        }
    }
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_geotiff_cut_at_half_its_size_is_said_to_be_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::fixture(dir.path(), &PairOptions::new(1));
    // Real files too: a strip GeoTIFF with its directory at the end and a tiled COG (header first).
    let mut sources = vec![pair.after.clone(), common::licensed_data("rasterio-testdata").join("RGB.byte.tif")];
    if let Some(p) = common::real_data("riotiler-cogs") {
        sources.push(p.join("cog.tif"));
    }
    let out = dir.path().join("c.gpkg");
    for source in sources {
        let bytes = std::fs::read(&source).unwrap();
        let cut = dir.path().join(format!("cut-{}", source.file_name().unwrap().to_str().unwrap()));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let mut runs = vec![common::jingtu(["inspect", s(&cut)])];
        if source == pair.after {
            // The real files are single rasters of other band layouts: inspected only.
            runs.push(common::jingtu(["change", s(&pair.before), s(&cut), "--out", s(&out)]));
        }
        for run in runs {
            let what = format!("{} cut at half", source.display());
            run.expect_code(2, &what);
            assert!(run.stderr.contains(s(&cut)), "{what}: names the file: {}", run.stderr);
            assert!(
                run.stderr.contains("truncated") || run.stderr.contains("unreadable"),
                "{what}: says truncated or unreadable: {}",
                run.stderr
            );
            assert!(!run.stderr.contains("georeferencing"), "{what}: {}", run.stderr);
        }
        assert!(!out.exists(), "nothing written from a truncated input");
    }
}
