//! `jingtu drone --before-dsm A --after-dsm B [--before-ortho A --after-ortho B] --out FILE`.

use std::fmt::Write;

use super::Outcome;
use super::args::DroneArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::jobs::drone::{DroneRequest, run_drone};

pub fn run(args: &DroneArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let backend = super::backend(settings)?;
    let request = DroneRequest {
        before_dsm: args.before_dsm.clone(),
        after_dsm: args.after_dsm.clone(),
        before_ortho: args.before_ortho.clone(),
        after_ortho: args.after_ortho.clone(),
        bands: settings.bands.clone(),
        plots: args.plots.clone(),
        plot_fields: settings.config.plots.clone(),
        out: args.out.clone(),
        format: settings.format,
        height_raster: args.height_raster.clone(),
        overwrite: settings.overwrite,
        options: settings.config.drone.clone(),
    };
    let progress = super::progress(settings);
    let result = run_drone(backend.as_ref(), &request, progress.as_ref())?;
    let summary = &result.summary;
    for w in &summary.warnings {
        progress.warn(w);
    }
    drop(progress);
    print_summary(settings.json, settings.quiet, summary, || {
        let mut s = String::new();
        let g = &summary.grid;
        let _ = writeln!(
            s,
            "compared {} x {} pixels at {:.2} m in {} tile(s) ({} with heights on both flights)",
            g.width, g.height, summary.resolution_m, summary.tiles, summary.valid_pixels
        );
        match &summary.shift {
            Some(e) => {
                let _ = writeln!(
                    s,
                    "shift between flights {:+.2} m east, {:+.2} m north ({:.2} m, from the {}, {} of {} windows): {}",
                    e.dx_m,
                    e.dy_m,
                    e.length_m(),
                    e.source,
                    e.windows_used,
                    e.windows_tried,
                    if e.corrected { "corrected" } else { "NOT corrected" }
                );
            }
            None => {
                let _ = writeln!(s, "shift between flights: could not be measured");
            }
        }
        let _ = writeln!(
            s,
            "vertical offset {:+.2} m (removed); unchanged ground agrees to {:.2} m",
            summary.vertical.offset_m, summary.vertical.spread_m
        );
        let _ = writeln!(s, "{} flags:", summary.flags);
        for (kind, n) in &summary.flags_by_kind {
            let _ = writeln!(s, "  {kind:<16} {n}");
        }
        if summary.flags_by_kind.contains_key("earthworks") {
            let _ = writeln!(s, "earthworks: {:.0} m3 cut, {:.0} m3 fill", summary.cut_m3, summary.fill_m3);
        }
        for f in &result.flags {
            let height = f.evidence.get("structure_height_m").and_then(|v| v.as_f64());
            let detail = match (f.kind.name(), height) {
                ("earthworks", _) => {
                    format!("cut {} m3, fill {} m3", f.evidence["volume_m3"]["cut"], f.evidence["volume_m3"]["fill"])
                }
                (_, Some(h)) => format!("{h:.1} m high, {} m3", f.evidence["volume_m3"]),
                _ => String::new(),
            };
            let _ = writeln!(s, "  {} {:<12} {:>9.1} m2  {detail}", f.flag_id, f.kind.name(), f.area_m2);
        }
        for o in &summary.outputs {
            let _ = writeln!(s, "wrote {}", o.display());
        }
        s
    });
    Ok(Outcome::Done)
}
