//! `jingtu report --store FILE.gpkg [--scan ID] --out report.html [--chips DIR]`.

use std::fmt::Write;

use super::Outcome;
use super::args::ReportArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::error::Error;
use crate::jobs::report::{check_outputs, write_report};
use crate::report::ReportOptions;
use crate::store::Store;

pub fn run(args: &ReportArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    if !args.store.exists() {
        return Err(Error::input(&args.store, "no such store").into());
    }
    let options = ReportOptions {
        html: args.out.clone(),
        chips: args.chips.clone(),
        scan: args.scan.clone(),
        bands: settings.bands.clone(),
        scan_options: settings.config.scan.clone(),
        overwrite: settings.overwrite,
    };
    check_outputs(Some(&args.store), &options)?;
    let store = Store::open(Some(&args.store))?;
    let backend = super::backend(settings)?;
    let progress = super::progress(settings);
    let summary = write_report(&store, backend.as_ref(), &options, progress.as_ref())?;
    for w in &summary.warnings {
        progress.warn(w);
    }
    drop(progress);
    print_summary(settings.json, settings.quiet, &summary, || {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scan {} as of {}: {} plots, {} acquisitions ({} with imagery), {} flags, {} new since the previous scan",
            summary.scan_id,
            summary.as_of.map_or("-".into(), |d| d.to_string()),
            summary.plots,
            summary.scenes,
            summary.scenes_with_imagery,
            summary.flags_total,
            summary.flags_new
        );
        for (kind, by_status) in &summary.flags {
            let parts: Vec<String> = by_status.iter().map(|(st, n)| format!("{n} {st}")).collect();
            let _ = writeln!(s, "  {kind:<16} {}", parts.join(", "));
        }
        s.push_str(&super::cmd_scan::report_lines(&summary));
        s
    });
    Ok(if summary.scenes_with_imagery < summary.scenes { Outcome::Skipped } else { Outcome::Done })
}
