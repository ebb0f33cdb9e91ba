//! `jingtu scan`: the monthly job, and the report drawn from its store.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::Outcome;
use super::args::ScanArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::error::Error;
use crate::export::RunFiles;
use crate::jobs::report::{report_files, write_report};
use crate::jobs::scan::{ScanRequest, ScanSummary, run_scan_keeping_store};
use crate::report::{ReportOptions, ReportSummary};

/// Where the HTML report of a scan goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HtmlTarget {
    /// No report.
    None,
    /// This file (`--report`, the demo's): an existing one is an error without `--overwrite`, before any
    /// work is done.
    File(PathBuf),
    /// The default beside `--out` (`flags.gpkg` gives `flags.html`): an existing one (the report of an
    /// output with the same name in another format) is kept, with a warning, unless `--overwrite`. A
    /// default output never fails a scan.
    Beside(PathBuf),
    /// `DIR/STEM-AS_OF.html` beside the store: one per month. An existing one (a rerun that found
    /// nothing new) is kept, with a warning, unless `--overwrite`.
    Dated {
        /// Folder.
        dir: PathBuf,
        /// File stem before the date.
        stem: String,
    },
}

/// The outputs drawn from the store after a scan.
#[derive(Debug, Clone)]
pub(crate) struct ReportPlan {
    /// The HTML report.
    pub html: HtmlTarget,
    /// Quicklook folder.
    pub chips: Option<PathBuf>,
}

impl ReportPlan {
    /// The scan command's choice (see `--report` in args.rs).
    fn for_scan(args: &ScanArgs) -> ReportPlan {
        let html = if args.no_report {
            HtmlTarget::None
        } else if let Some(r) = &args.report {
            HtmlTarget::File(r.clone())
        } else if let Some(out) = &args.out {
            HtmlTarget::Beside(out.with_extension("html"))
        } else if let Some(store) = &args.store {
            HtmlTarget::Dated {
                dir: store.parent().map(Path::to_path_buf).unwrap_or_default(),
                stem: store.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into()),
            }
        } else {
            HtmlTarget::None
        };
        ReportPlan { html, chips: args.chips.clone() }
    }

    /// Fails before any work when an output that must not be replaced exists, or when an output is an
    /// input, the store or another output (`--out` equal to `--store` replaced the store).
    fn check(&self, request: &ScanRequest, settings: &Settings) -> Result<(), Error> {
        let html = match &self.html {
            HtmlTarget::File(p) => Some(p.clone()),
            _ => None,
        };
        if let Some(d) = &self.chips {
            if d.exists() && !d.is_dir() {
                return Err(Error::input(d, "--chips must be a folder"));
            }
        }
        let mut files = RunFiles::new(settings.overwrite).input("--plots", &request.plots);
        if request.scenes.is_file() {
            files = files.input("--scenes", &request.scenes);
        }
        if let Some(s) = &request.store {
            files = files.store("--store", s);
        }
        if let Some(out) = &request.out {
            let format = crate::export::resolve_format(out, request.format)?;
            files = files.output("--out", out, format.sidecars());
        }
        if let HtmlTarget::Beside(p) = &self.html {
            files = files.optional_output("the report beside --out", p);
        }
        let options = ReportOptions { html, chips: self.chips.clone(), ..Default::default() };
        report_files(files, None, &options).check()
    }
}

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
        collection: args.collection.clone(),
        bands: settings.bands.clone(),
        store: args.store.clone(),
        as_of,
        out: args.out.clone(),
        format: settings.format,
        overwrite: settings.overwrite,
        no_wait: args.no_wait,
        options: settings.config.scan.clone(),
    };
    let plan = ReportPlan::for_scan(args);
    let summary = scan_and_report(&request, &plan, settings)?;
    Ok(if summary.skipped_inputs { Outcome::Skipped } else { Outcome::Done })
}

/// Runs a scan with the settings' backend and progress, writes the report the plan asks for, prints
/// warnings and the summary.
pub(crate) fn scan_and_report(
    request: &ScanRequest,
    plan: &ReportPlan,
    settings: &Settings,
) -> anyhow::Result<ScanSummary> {
    plan.check(request, settings)?;
    let backend = super::backend(settings)?;
    let progress = super::progress(settings);
    let (mut summary, store) = run_scan_keeping_store(backend.as_ref(), request, progress.as_ref())?;
    for s in &summary.scenes_skipped {
        // Named even with -q: a scene left out changes the flags, and -q only quietens progress.
        if settings.quiet && !settings.json {
            eprintln!("jingtu: warning: skipped: {s}");
        } else {
            progress.warn(&format!("skipped: {s}"));
        }
    }
    for w in &summary.warnings {
        progress.warn(w);
    }
    let default_path = match &plan.html {
        HtmlTarget::None | HtmlTarget::File(_) => None,
        HtmlTarget::Beside(p) => Some(p.clone()),
        HtmlTarget::Dated { dir, stem } => {
            let date = summary.as_of.map_or("no-acquisition".to_string(), |d| d.to_string());
            Some(dir.join(format!("{stem}-{date}.html")))
        }
    };
    let html = match (&plan.html, default_path) {
        (HtmlTarget::File(p), _) => Some(p.clone()),
        (_, Some(p)) if p.exists() && !settings.overwrite => {
            progress.warn(&format!(
                "report {} exists; kept as it is: pass --overwrite or --report FILE to write it again",
                p.display()
            ));
            None
        }
        (_, p) => p,
    };
    if html.is_some() || plan.chips.is_some() {
        let options = ReportOptions {
            html,
            chips: plan.chips.clone(),
            scan: None,
            bands: settings.bands.clone(),
            scan_options: request.options.clone(),
            overwrite: settings.overwrite,
        };
        let report = write_report(&store, backend.as_ref(), &options, progress.as_ref()).map_err(|e| {
            anyhow::anyhow!(
                "the scan is stored, but its report failed: {e}; run jingtu report --store STORE --out FILE to retry"
            )
        })?;
        for w in &report.warnings {
            progress.warn(w);
        }
        summary.outputs.extend(report.html.iter().cloned());
        summary.outputs.extend(report.chips_dir.iter().cloned());
        summary.report = Some(report);
    }
    drop(progress);
    print_summary(settings.json, settings.quiet, &summary, || render(&summary));
    Ok(summary)
}

/// `text` cut to `width` terminal columns (an ellipsis marks a cut) and padded to exactly `width`:
/// CJK characters take two columns, so counting chars would misalign every row with a Chinese name.
pub(crate) fn fit(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    if text.width() > width {
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if used + w + 1 > width {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('\u{2026}');
        used += 1;
    } else {
        out.push_str(text);
        used = text.width();
    }
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
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
    let _ =
        writeln!(out, "\n{} {} {} {:>4}  active flags", fit("plot", 12), fit("name", 22), fit("category", 20), "obs");
    for p in &s.per_plot {
        let flags = if p.state != "observed" {
            p.state.replace('_', " ")
        } else if p.active.is_empty() {
            "-".to_string()
        } else {
            p.active.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "{} {} {} {:>4}  {}",
            fit(&p.plot_id, 12),
            fit(p.name.as_deref().unwrap_or(""), 22),
            fit(p.category.as_deref().unwrap_or(""), 20),
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
    if let Some(r) = &s.report {
        out.push_str(&report_lines(r));
    }
    let mb = |b: u64| b as f64 / 1e6;
    let _ = writeln!(
        out,
        "read {} plot window(s): {:.1} MB decoded{}{}{}",
        s.reads.windows,
        mb(s.reads.decoded_bytes),
        s.reads.file_bytes.map_or(String::new(), |b| format!(", {:.1} MB read from files", mb(b))),
        if s.reads.fetched_bytes > 0 {
            format!(", {:.1} MB fetched over the network", mb(s.reads.fetched_bytes))
        } else {
            String::new()
        },
        s.reads.hashed_bytes.map_or(String::new(), |b| format!(" (and {:.1} MB hashed)", mb(b)))
    );
    for o in &s.outputs {
        let _ = writeln!(out, "wrote {}", o.display());
    }
    out
}

/// What a report run wrote, in two lines.
pub(crate) fn report_lines(r: &ReportSummary) -> String {
    let mut out = String::new();
    if let Some(h) = &r.html {
        let _ = writeln!(
            out,
            "report: {} ({:.1} MB, {} of {} flags with image chips, {} new since the previous scan, {:.1} s)",
            h.display(),
            r.html_bytes as f64 / 1e6,
            r.flags_with_chips,
            r.flags_total,
            r.flags_new,
            r.seconds
        );
    }
    if let Some(d) = &r.chips_dir {
        let _ = writeln!(out, "quicklooks: {} PNG(s) and index.json in {}", r.chips_written, d.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_width::UnicodeWidthStr;

    #[test]
    fn cjk_names_fill_the_same_columns_as_latin_ones() {
        assert_eq!(fit("化工厂旧址", 12).width(), 12);
        assert_eq!(fit("abc", 12).width(), 12);
        let long = fit("海陵区化工厂旧址地块东区二期", 12);
        assert_eq!(long.width(), 12, "{long:?}");
        assert!(long.trim_end().ends_with('\u{2026}'));
    }
}
