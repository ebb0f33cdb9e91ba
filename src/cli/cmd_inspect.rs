//! `jingtu inspect PATH`: what the engine sees in a raster or vector file; `jingtu inspect --backends`:
//! the GPU adapters on this machine and where `--backend auto` and `--backend gpu` would run kernels.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::Outcome;
use super::args::InspectArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::compute::gpu::{ALLOW_SOFTWARE_ENV, AdapterPolicy, AdapterSummary, GpuBackend, adapters};
use crate::compute::{Backend, CpuBackend};
use crate::error::Error;
use crate::io::raster::{BandMap, RasterInfo};
use crate::io::vector_info::{VectorInfo, describe_vector};
use crate::io::{Raster, crs};

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Report {
    Raster {
        #[serde(flatten)]
        info: Box<RasterInfo>,
        crs_name: Option<String>,
        band_map: Option<BandMap>,
        band_map_problem: Option<String>,
    },
    Vector(VectorInfo),
}

pub fn run(args: &InspectArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    match &args.path {
        Some(path) if !args.backends => {
            let report = inspect(path, settings)?;
            print_summary(settings.json, settings.quiet, &report, || render(&report));
        }
        _ => {
            let report = backends();
            print_summary(settings.json, settings.quiet, &report, || render_backends(&report));
        }
    }
    Ok(Outcome::Done)
}

/// Where one `--backend` choice would run kernels.
#[derive(Serialize)]
struct Choice {
    /// `gpu`, `cpu`, or `none` where the choice is an error.
    backend: &'static str,
    /// The backend's own description (`gpu (NVIDIA H200, vulkan)`, `cpu (16 threads)`).
    detail: Option<String>,
    /// Why it is not the GPU.
    reason: Option<String>,
}

#[derive(Serialize)]
struct BackendsReport {
    kind: &'static str,
    adapters: Vec<AdapterSummary>,
    auto: Choice,
    gpu: Choice,
    software_allowed: bool,
}

/// Opens the device as a job would, so that what is reported is what a job gets.
fn backends() -> BackendsReport {
    let cpu = || CpuBackend::new().name();
    let auto = match GpuBackend::new(AdapterPolicy::HardwareOnly) {
        Ok(g) => Choice { backend: "gpu", detail: Some(g.name()), reason: None },
        Err(e) => Choice { backend: "cpu", detail: Some(cpu()), reason: Some(gpu_reason(e)) },
    };
    let policy = AdapterPolicy::from_env();
    let gpu = match GpuBackend::new(policy) {
        Ok(g) => Choice { backend: "gpu", detail: Some(g.name()), reason: None },
        Err(e) => Choice { backend: "none", detail: None, reason: Some(gpu_reason(e)) },
    };
    BackendsReport {
        kind: "backends",
        adapters: adapters(),
        auto,
        gpu,
        software_allowed: policy == AdapterPolicy::AllowSoftware,
    }
}

fn gpu_reason(e: Error) -> String {
    match e {
        Error::Gpu(why) => why,
        other => other.to_string(),
    }
}

fn render_backends(r: &BackendsReport) -> String {
    let mut s = String::new();
    if r.adapters.is_empty() {
        let _ = writeln!(s, "GPU adapters: none found");
    } else {
        let _ = writeln!(s, "GPU adapters:");
        for a in &r.adapters {
            let kind = if a.software { format!("{} (software)", a.device_type) } else { a.device_type.clone() };
            let f64 = if a.f64 { "f64" } else { "no f64" };
            let _ = writeln!(s, "  {}  [{kind}, {}, {f64}]  {}", a.name, a.api, a.driver);
        }
    }
    let describe = |c: &Choice| match (&c.detail, &c.reason) {
        (Some(d), None) => d.clone(),
        (Some(d), Some(why)) => format!("{d}; {why}"),
        (None, Some(why)) => format!("error: {why}"),
        (None, None) => c.backend.to_string(),
    };
    let _ = writeln!(s, "--backend auto: {}", describe(&r.auto));
    let _ = writeln!(s, "--backend gpu:  {}", describe(&r.gpu));
    if r.software_allowed {
        let _ = writeln!(s, "({ALLOW_SOFTWARE_ENV}=1: --backend gpu may use a software adapter)");
    }
    s
}

fn inspect(path: &Path, settings: &Settings) -> Result<Report, Error> {
    if !path.exists() {
        return Err(Error::input(path, "no such file or folder"));
    }
    let raster_error = match Raster::open_to_describe(path) {
        Ok(raster) => {
            raster.verify_readable()?;
            let (band_map, band_map_problem) = match raster.band_map(&settings.bands, &[]) {
                Ok(m) if m.bands.is_empty() => {
                    (None, Some("no band roles recognised: pass --sensor or --bands".to_string()))
                }
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let crs_name = crs::srs_from_wkt(&raster.grid().crs_wkt).and_then(|s| s.name());
            return Ok(Report::Raster { info: Box::new(raster.info().clone()), crs_name, band_map, band_map_problem });
        }
        Err(e) => e,
    };
    // Empty files and unreadable rasters that GDAL recognised are reported as such; only files GDAL did
    // not recognise as rasters are tried as vectors.
    match &raster_error {
        Error::Input { problem, .. }
            if problem.contains("unrecognised format") || problem.contains("no raster bands") => {}
        _ => return Err(raster_error),
    }
    match describe_vector(path) {
        Ok(v) if !v.layers.is_empty() => Ok(Report::Vector(v)),
        _ => Err(Error::input(path, "not a raster or vector file GDAL can read (unrecognised or corrupt format)")),
    }
}

fn render(report: &Report) -> String {
    let mut s = String::new();
    match report {
        Report::Raster { info, crs_name, band_map, band_map_problem } => {
            let g = &info.grid;
            let _ = writeln!(s, "{}", info.path.display());
            let _ = writeln!(s, "  kind:         raster ({})", info.driver);
            let _ = writeln!(s, "  size:         {} x {} pixels, {} band(s)", g.width, g.height, info.bands.len());
            if info.georeferenced {
                let epsg = g.epsg.map_or("no EPSG code".to_string(), |c| format!("EPSG:{c}"));
                let _ = writeln!(
                    s,
                    "  crs:          {} ({epsg})",
                    crs_name.as_deref().unwrap_or(if g.crs_wkt.is_empty() { "none" } else { "unnamed" })
                );
                let _ = writeln!(s, "  geotransform: {:?}", g.transform.0);
                let (px, py) = g.transform.pixel_size();
                let _ = writeln!(s, "  resolution:   {px} x {py}");
                let b = g.bounds();
                let _ = writeln!(s, "  bounds:       {b}");
            } else {
                let _ = writeln!(s, "  crs:          none (not georeferenced: pixel grid only)");
            }
            match (&info.acquired, &info.acquired_from) {
                (Some(d), Some(from)) => {
                    let _ = writeln!(s, "  acquired:     {d} (from {from})");
                }
                _ => {
                    let _ = writeln!(s, "  acquired:     unknown");
                }
            }
            let _ = writeln!(s, "  bands:");
            for b in &info.bands {
                let mut line = format!("    {:>2} {:<8}", b.index, b.data_type);
                if !b.description.is_empty() {
                    let _ = write!(line, " \"{}\"", b.description);
                }
                if let Some(c) = &b.color {
                    let _ = write!(line, " colour={c}");
                }
                if let Some(nd) = &b.nodata {
                    let _ = write!(line, " nodata={nd}");
                }
                let _ = write!(
                    line,
                    " mask={}",
                    serde_json::to_value(b.mask).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                );
                if let Some(sc) = b.scale {
                    let _ = write!(line, " scale={sc}");
                }
                if let Some(o) = b.offset {
                    let _ = write!(line, " offset={o}");
                }
                if let Some(r) = b.role {
                    let _ = write!(line, " role={r}");
                }
                if b.overviews > 0 {
                    let _ = write!(line, " overviews={}", b.overviews);
                }
                let _ = writeln!(s, "{line}");
                if let Some(why) = &b.nodata_ignored {
                    let _ = writeln!(s, "       note: {why}");
                }
            }
            match (band_map, band_map_problem) {
                (Some(m), _) => {
                    let roles: Vec<String> = m
                        .bands
                        .iter()
                        .map(|b| format!("{}=band {} (x{:.6} {:+})", b.role, b.index, b.scale, b.offset))
                        .collect();
                    let _ = writeln!(s, "  engine reads: {} [{}]", roles.join(", "), m.origin);
                }
                (None, Some(p)) => {
                    let _ = writeln!(s, "  engine reads: {p}");
                }
                _ => {}
            }
        }
        Report::Vector(v) => {
            let _ = writeln!(s, "{}", v.path.display());
            let _ = writeln!(s, "  kind:   vector ({})", v.driver);
            for l in &v.layers {
                let epsg = l.epsg.map_or("no EPSG code".to_string(), |c| format!("EPSG:{c}"));
                let crs = if l.crs_wkt.is_empty() { "no CRS".to_string() } else { epsg };
                let _ = writeln!(s, "  layer {}: {} feature(s), {}, {crs}", l.name, l.features, l.geometry_type);
                for f in &l.fields {
                    let _ = writeln!(s, "    {} ({})", f.name, f.field_type);
                }
            }
        }
    }
    s
}
