//! Writes a synthetic pair of drone flights (surface models and RGBA orthomosaics, GeoTIFF) of any size,
//! for benchmarks and demonstrations: the standard site of `jingtu::synth::drone` repeated as often as
//! the requested size needs.
//!
//! ```text
//! cargo bench --bench make_drone_flights -- --ortho-px 20000 --ortho-res 0.05 --dsm-res 0.1 --out DIR
//! ```
//! writes DIR/{before,after}_{dsm,rgb}.tif. The later flight is shifted by 0.3 m and raised by 0.35 m.

use std::path::PathBuf;

use jingtu::synth::drone::{DroneSite, FlightSpec, write_flight};

fn main() {
    let mut ortho_px = 20_000usize;
    let mut ortho_res = 0.05f64;
    let mut dsm_res = 0.1f64;
    let mut out = PathBuf::from("drone-flights");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--ortho-px" => ortho_px = value().parse().expect("--ortho-px: pixels"),
            "--ortho-res" => ortho_res = value().parse().expect("--ortho-res: metres"),
            "--dsm-res" => dsm_res = value().parse().expect("--dsm-res: metres"),
            "--out" => out = PathBuf::from(value()),
            other => panic!("unknown argument {other} (--ortho-px N --ortho-res M --dsm-res M --out DIR)"),
        }
    }
    std::fs::create_dir_all(&out).expect("output folder");
    let side = ortho_px as f64 * ortho_res;
    let site = DroneSite::repeated((side / 200.0).ceil() as usize, (side / 160.0).ceil() as usize);
    for later in [false, true] {
        let spec = FlightSpec {
            later,
            dsm_resolution: dsm_res,
            ortho_resolution: ortho_res,
            extent: (0.0, 0.0, side, side),
            shift: if later { (0.24, -0.18) } else { (0.0, 0.0) },
            vertical_offset: if later { 0.35 } else { 0.0 },
            noise_m: 0.03,
            pix4d_nodata: later,
            date: if later { "2024:09:01 10:00:00" } else { "2024:03:01 10:00:00" },
        };
        let name = if later { "after" } else { "before" };
        let started = std::time::Instant::now();
        write_flight(&site, &spec, &out.join(format!("{name}_dsm.tif")), &out.join(format!("{name}_rgb.tif")))
            .expect("writing the flight");
        println!("{name}: {ortho_px} x {ortho_px} px orthomosaic written in {:.0} s", started.elapsed().as_secs_f64());
    }
}
