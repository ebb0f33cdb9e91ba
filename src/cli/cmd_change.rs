//! `jingtu change BEFORE AFTER --out FILE`.

use std::fmt::Write;

use super::Outcome;
use super::args::ChangeArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::jobs::change::{ChangeRequest, run_change};

pub fn run(args: &ChangeArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let backend = super::backend(settings)?;
    let request = ChangeRequest {
        before: args.before.clone(),
        after: args.after.clone(),
        bands: settings.bands.clone(),
        plots: args.plots.clone(),
        plot_fields: settings.config.plots.clone(),
        out: args.out.clone(),
        format: settings.format,
        change_raster: args.change_raster.clone(),
        pixel_grid: args.pixel_grid,
        overwrite: settings.overwrite,
        options: settings.config.change.clone(),
    };
    keep_freed_memory();
    let progress = super::progress(settings);
    let summary = run_change(backend.as_ref(), &request, progress.as_ref())?;
    for w in &summary.warnings {
        progress.warn(w);
    }
    drop(progress);
    print_summary(settings.json, settings.quiet, &summary, || {
        let mut s = String::new();
        let g = &summary.grid;
        let (px, _) = g.transform.pixel_size();
        let _ = writeln!(
            s,
            "compared {} x {} pixels at {px:.2} {} ({} valid on both dates)",
            g.width,
            g.height,
            if summary.georeferenced { "m" } else { "px" },
            summary.valid_pixels
        );
        if summary.method == "rgb" {
            let _ = writeln!(
                s,
                "RGB only: change where colours depart from what the same earlier colour usually became, over \
                 segments, cut at maximum entropy"
            );
        } else {
            let _ = writeln!(
                s,
                "change threshold {:.4} RMS reflectance (minimum error {}, Otsu {}), {:.0}% of pixels used as \
                 invariant for normalization",
                summary.threshold_rms,
                summary.min_error_rms.map_or("n/a".into(), |t| format!("{t:.4}")),
                summary.otsu_rms.map_or("n/a".into(), |t| format!("{t:.4}")),
                summary.invariant_fraction * 100.0
            );
        }
        let _ = writeln!(s, "{} changed pixels; {} flags:", summary.changed_pixels, summary.flags);
        for (kind, n) in &summary.flags_by_kind {
            let _ = writeln!(s, "  {kind:<16} {n}");
        }
        for o in &summary.outputs {
            let _ = writeln!(s, "wrote {}", o.display());
        }
        s
    });
    Ok(Outcome::Done)
}

/// The streamed change job (`jobs::change::stream`) allocates and frees buffers of a few megabytes for
/// every piece of every strip; glibc would map each afresh from the system and return it when freed, and
/// the job would then spend a tenth of its time faulting in and zeroing pages it had a moment ago. Served
/// from the heap and kept there instead, they are reused. (Resident memory stays bounded by what the job
/// holds at once; the job hands the strips' memory back when its pass is done.) The allocator's settings
/// are the process's, so the binary sets them for its command; the library never does.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it takes the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
