//! The command line on both backends: `jingtu change` on the real Taizhou Landsat pair and `jingtu
//! drone` on synthetic flights write the same flags and the same rasters with `--backend cpu` and
//! `--backend gpu`; `--backend gpu` without
//! a real GPU is an error that says so while `auto` quietly uses the CPU; `inspect --backends` tells
//! which is which.

use crate::support as common;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jingtu::compute::gpu::ALLOW_SOFTWARE_ENV;
use jingtu::synth::drone::{DroneSite, FlightSpec, write_flight};
use serde_json::Value;

fn jingtu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jingtu"));
    // Each test says for itself whether software adapters are allowed.
    c.env_remove(ALLOW_SOFTWARE_ENV);
    c
}

fn run(c: &mut Command) -> Output {
    let out = c.output().expect("jingtu runs");
    assert!(out.status.success(), "{c:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// The last JSON line on stdout: the summary.
fn summary(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("a summary line")).expect("JSON")
}

/// The shared real Taizhou pair, by the suite's one policy for absent real data.
fn taizhou() -> Option<PathBuf> {
    common::real_data("taizhou-landsat-cd")
}

/// True when a real GPU is present, by the engine's own account.
fn real_gpu_present() -> bool {
    let report = summary(&run(jingtu().args(["inspect", "--backends", "--json"])));
    report["adapters"].as_array().unwrap().iter().any(|a| a["software"] == Value::Bool(false))
}

#[test]
fn change_on_taizhou_writes_the_same_flags_and_raster_on_cpu_and_gpu() {
    let Some(dir) = taizhou() else { return };
    if support::gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut summaries = Vec::new();
    for backend in ["cpu", "gpu"] {
        let flags = tmp.path().join(format!("flags-{backend}.geojson"));
        let raster = tmp.path().join(format!("change-{backend}.tif"));
        let out = run(jingtu()
            .arg("change")
            .arg(dir.join("2000TM"))
            .arg(dir.join("2003TM"))
            .args(["--sensor", "landsat-tm", "--backend", backend, "--json", "--out"])
            .arg(&flags)
            .arg("--change-raster")
            .arg(&raster)
            .env(ALLOW_SOFTWARE_ENV, "1"));
        let mut s = summary(&out);
        let ran_on = s["backend"].as_str().unwrap().to_string();
        // A GPU that fell back to the CPU would pass the comparison without testing anything.
        assert!(ran_on.starts_with(backend), "--backend {backend} ran on {ran_on}");
        for key in ["backend", "outputs"] {
            s.as_object_mut().unwrap().remove(key);
        }
        summaries.push((s, std::fs::read(&flags).unwrap(), std::fs::read(&raster).unwrap()));
    }
    let (cpu, gpu) = (&summaries[0], &summaries[1]);
    assert_eq!(cpu.0, gpu.0, "summaries (thresholds, counts, flags by kind)");
    // 751 flags on the CPU when this test was written (`jingtu change ... --backend cpu`).
    assert!(cpu.0["flags"].as_u64().unwrap() > 100, "{}", cpu.0);
    assert!(cpu.1 == gpu.1, "the flags files differ");
    assert!(cpu.2 == gpu.2, "the change rasters differ");
}

/// The flights of tests/it/drone/synthetic.rs: different extents and resolutions, a 0.3 m residual shift
/// and a 0.35 m vertical offset, and Pix4D's -10000 nodata on the later orthomosaic.
fn write_flights(dir: &Path) {
    let site = DroneSite::standard();
    let spec = |later: bool| FlightSpec {
        later,
        dsm_resolution: if later { 0.25 } else { 0.2 },
        ortho_resolution: 0.1,
        extent: if later { (-6.0, -4.0, 196.0, 166.0) } else { (0.0, 0.0, 200.0, 160.0) },
        shift: if later { (0.24, -0.18) } else { (0.0, 0.0) },
        vertical_offset: if later { 0.35 } else { 0.0 },
        noise_m: 0.03,
        pix4d_nodata: later,
        date: if later { "2024:09:01 10:00:00" } else { "2024:03:01 10:00:00" },
    };
    write_flight(&site, &spec(false), &dir.join("b_dsm.tif"), &dir.join("b_rgb.tif")).unwrap();
    write_flight(&site, &spec(true), &dir.join("a_dsm.tif"), &dir.join("a_rgb.tif")).unwrap();
}

/// Issue 4 for the drone job (issue 5): every per-pixel step of `jingtu drone` (height differences,
/// slopes, erosions, RGB vegetation features, box means, dilations) gives the GPU's flags and height
/// raster identical to the CPU's. Tiles of 256 pixels, so that halos cross tile borders.
#[test]
fn drone_on_synthetic_flights_writes_the_same_flags_and_heights_on_cpu_and_gpu() {
    if support::gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_flights(d);
    std::fs::write(d.join("tiles.toml"), "[drone]\ntile_size = 256\n").unwrap();
    let mut runs = Vec::new();
    for backend in ["cpu", "gpu"] {
        let (flags, heights) = (format!("flags-{backend}.fgb"), format!("dh-{backend}.tif"));
        let out = run(jingtu()
            .current_dir(d)
            .args(["drone", "--before-dsm", "b_dsm.tif", "--after-dsm", "a_dsm.tif"])
            .args(["--before-ortho", "b_rgb.tif", "--after-ortho", "a_rgb.tif", "--config", "tiles.toml"])
            .args(["--backend", backend, "--json", "--out", &flags, "--height-raster", &heights])
            .env(ALLOW_SOFTWARE_ENV, "1"));
        let mut s = summary(&out);
        let ran_on = s["backend"].as_str().unwrap().to_string();
        // A GPU that fell back to the CPU would pass the comparison without testing anything.
        assert!(ran_on.starts_with(backend), "--backend {backend} ran on {ran_on}");
        for key in ["backend", "outputs"] {
            s.as_object_mut().unwrap().remove(key);
        }
        let dh = gdal::Dataset::open(d.join(&heights)).unwrap();
        let band = dh.rasterband(1).unwrap();
        let values: Vec<u32> = band
            .read_band_as::<f32>()
            .unwrap()
            .data()
            .iter()
            .map(|v| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() })
            .collect();
        runs.push((s, std::fs::read(d.join(&flags)).unwrap(), values));
    }
    let (cpu, gpu) = (&runs[0], &runs[1]);
    assert_eq!(cpu.0, gpu.0, "summaries (shift, vertical offset, tiles, flags by kind, volumes)");
    assert!(cpu.0["tiles"].as_u64().unwrap() > 4, "{}", cpu.0);
    // The standard site's three buildings and its earthworks, as tests/it/drone/synthetic.rs checks.
    assert_eq!(cpu.0["flags_by_kind"]["height_gain"], 3, "{}", cpu.0);
    assert!(cpu.0["flags_by_kind"]["earthworks"].as_u64().unwrap() > 0, "{}", cpu.0);
    assert!(cpu.1 == gpu.1, "the flags files differ");
    let differ = cpu.2.iter().zip(&gpu.2).filter(|(a, b)| a != b).count();
    assert_eq!(cpu.2.len(), gpu.2.len());
    assert_eq!(differ, 0, "{differ} of {} height-change pixels differ", cpu.2.len());
}

#[test]
fn gpu_without_a_real_gpu_is_an_error_that_says_so_and_auto_uses_the_cpu() {
    if real_gpu_present() {
        eprintln!("SKIPPED: this machine has a real GPU, so --backend gpu is no error here");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The backend is chosen before any input is read, so the inputs need not exist.
    let out = jingtu()
        .args(["change", "before.tif", "after.tif", "--backend", "gpu", "--out"])
        .arg(tmp.path().join("flags.geojson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no real GPU") || stderr.contains("no GPU adapter"), "{stderr}");

    let report = summary(&run(jingtu().args(["inspect", "--backends", "--json"])));
    assert_eq!(report["auto"]["backend"], "cpu", "{report}");
    assert_eq!(report["gpu"]["backend"], "none", "{report}");
}

#[test]
fn inspect_backends_lists_the_adapters_and_the_choice_of_each_option() {
    let allowed = summary(&run(jingtu().args(["inspect", "--backends", "--json"]).env(ALLOW_SOFTWARE_ENV, "1")));
    assert_eq!(allowed["kind"], "backends");
    assert_eq!(allowed["software_allowed"], true);
    let adapters = allowed["adapters"].as_array().unwrap();
    for a in adapters {
        for key in ["name", "device_type", "api", "driver", "software", "f64"] {
            assert!(a.get(key).is_some(), "{key} missing from {a}");
        }
    }
    if support::gpu().is_some() {
        // With software allowed, gpu runs wherever any adapter answers.
        assert!(!adapters.is_empty());
        assert_eq!(allowed["gpu"]["backend"], "gpu", "{allowed}");
    }
    let auto = &allowed["auto"]["backend"];
    let real = adapters.iter().any(|a| a["software"] == false);
    assert_eq!(auto, if real { "gpu" } else { "cpu" }, "auto never takes a software adapter: {allowed}");

    let text = run(jingtu().args(["inspect", "--backends"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("--backend auto:") && text.contains("--backend gpu:"), "{text}");
    let missing = jingtu().arg("inspect").output().unwrap();
    assert_eq!(missing.status.code(), Some(2), "inspect needs a PATH or --backends");
}
