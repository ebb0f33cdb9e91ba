//! `jingtu demo`: builds the demo area (plots and a year of monthly scenes), scans it, writes the flags,
//! the report and the quicklooks, prints a summary.

use super::Outcome;
use super::args::DemoArgs;
use super::cmd_scan::{HtmlTarget, ReportPlan};
use super::config::Settings;
use crate::error::Error;
use crate::jobs::scan::ScanRequest;
use crate::synth::area::{AreaSpec, generate};

pub fn run(args: &DemoArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let dir = &args.out;
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        if !settings.overwrite {
            return Err(Error::OutputExists { path: dir.clone() }.into());
        }
        refuse_foreign_folder(dir)?;
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let progress = super::progress(settings);
    progress.stage("generating the demo area");
    let area = generate(&dir.join("data"), &AreaSpec::default())?;
    drop(progress);
    let request = ScanRequest {
        plots: area.plots.clone(),
        plot_fields: settings.config.plots.clone(),
        scenes: area.stac.clone(),
        collection: None,
        bands: settings.bands.clone(),
        store: Some(dir.join("store.gpkg")),
        as_of: None,
        out: Some(dir.join("flags.gpkg")),
        format: None,
        overwrite: true,
        no_wait: false,
        options: settings.config.scan.clone(),
    };
    let plan = ReportPlan { html: HtmlTarget::File(dir.join("report.html")), chips: Some(dir.join("chips")) };
    let summary = super::cmd_scan::scan_and_report(&request, &plan, settings)?;
    Ok(if summary.skipped_inputs { Outcome::Skipped } else { Outcome::Done })
}

/// What a demo run leaves in its folder (and what a killed one may leave: temporary outputs, the store's
/// journal and lock).
const DEMO_ENTRIES: [&str; 8] =
    ["data", "store.gpkg", "store.gpkg-journal", "store.gpkg.lock", "flags.gpkg", "report.html", "chips", "flags.html"];

/// `--overwrite` removes the demo folder before writing it again; a folder holding anything else (`--out .`
/// in a project, `--out ~`) is refused instead of being deleted with everything in it.
fn refuse_foreign_folder(dir: &std::path::Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !DEMO_ENTRIES.contains(&name.as_ref()) && !name.starts_with(".jingtu-tmp-") {
            return Err(Error::input(
                dir,
                format!(
                    "holds {name}, which the demo did not write; --overwrite only replaces a previous demo folder: choose another --out"
                ),
            ));
        }
    }
    Ok(())
}
