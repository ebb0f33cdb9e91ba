//! `jingtu scan`: the monthly job.

use std::fmt::Write;

use super::Outcome;
use super::args::ScanArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::error::Error;
use crate::scan::{ScanRequest, ScanSummary, run_scan};

pub fn run(args: &ScanArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let as_of = args
        .as_of
        .as_deref()
        .map(|s| {
            s.parse::<chrono::NaiveDate>()
                .map_err(|_| Error::Usage(format!("--as-of: '{s}' is not a date (YYYY-MM-DD)")))
        })
        .transpose()?;
    let request = ScanRequest {
        plots: args.plots.clone(),
        plot_fields: settings.config.plots.clone(),
        scenes: args.scenes.clone(),
        bands: settings.bands.clone(),
        store: args.store.clone(),
        as_of,
        out: args.out.clone(),
        format: settings.format,
        overwrite: settings.overwrite,
        options: settings.config.scan.clone(),
    };
    let summary = scan_and_report(&request, settings)?;
    Ok(if summary.skipped_inputs { Outcome::Skipped } else { Outcome::Done })
}

/// Runs a scan with the settings' backend and progress, prints warnings and the summary.
pub(crate) fn scan_and_report(request: &ScanRequest, settings: &Settings) -> anyhow::Result<ScanSummary> {
    let backend = super::backend(settings)?;
    let progress = super::progress(settings);
    let summary = run_scan(backend.as_ref(), request, progress.as_ref())?;
    for s in &summary.scenes_skipped {
        progress.warn(&format!("skipped: {s}"));
    }
    for w in &summary.warnings {
        progress.warn(w);
    }
    drop(progress);
    print_summary(settings.json, settings.quiet, &summary, || render(&summary));
    Ok(summary)
}

/// The human summary: scenes, per-plot lines with flags, totals.
pub(crate) fn render(s: &ScanSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scan {} up to {}: {} new scene(s), {} already ingested, {} skipped; {} plots",
        s.scan_id,
        s.as_of.map_or("-".into(), |d| d.to_string()),
        s.scenes_new,
        s.scenes_known,
        s.scenes_skipped.len(),
        s.plots
    );
    let _ = writeln!(out, "\n{:<12} {:<22} {:<20} {:>4}  active flags", "plot", "name", "category", "obs");
    for p in &s.per_plot {
        let flags = if p.state != "observed" {
            p.state.replace('_', " ")
        } else if p.active.is_empty() {
            "-".to_string()
        } else {
            p.active.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
        };
        let name: String = p.name.clone().unwrap_or_default().chars().take(10).collect();
        let _ = writeln!(
            out,
            "{:<12} {:<22} {:<20} {:>4}  {}",
            p.plot_id,
            name,
            p.category.clone().unwrap_or_default(),
            p.observations,
            flags
        );
    }
    let _ = writeln!(out, "\nflags in the store:");
    for (kind, by_status) in &s.flags {
        let parts: Vec<String> = by_status.iter().map(|(st, n)| format!("{n} {st}")).collect();
        let _ = writeln!(out, "  {kind:<16} {}", parts.join(", "));
    }
    let _ = writeln!(out, "{} flag(s) changed by this scan", s.flags_changed);
    let mb = |b: u64| b as f64 / 1e6;
    let _ = writeln!(
        out,
        "read {} plot window(s): {:.1} MB decoded{}{}",
        s.reads.windows,
        mb(s.reads.decoded_bytes),
        s.reads.file_bytes.map_or(String::new(), |b| format!(", {:.1} MB read from files", mb(b))),
        s.reads.hashed_bytes.map_or(String::new(), |b| format!(" (and {:.1} MB hashed)", mb(b)))
    );
    for o in &s.outputs {
        let _ = writeln!(out, "wrote {}", o.display());
    }
    out
}
