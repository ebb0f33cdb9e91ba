//! `jingtu export`: the changefeed.

use super::Outcome;
use super::args::ExportArgs;
use super::config::Settings;
use crate::error::Error;
use crate::export::RunFiles;
use crate::export::changefeed::{FeedFormat, export_changes};

pub fn run(args: &ExportArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let format = match args.common.format.as_deref().unwrap_or("ndjson") {
        "ndjson" => FeedFormat::Ndjson,
        "geojson" => FeedFormat::GeoJson,
        "gpkg" => FeedFormat::GeoPackage,
        other => {
            return Err(Error::Usage(format!(
                "--format: '{other}' is not a changefeed format (ndjson, geojson, gpkg)"
            ))
            .into());
        }
    };
    if !args.store.exists() {
        return Err(Error::input(&args.store, "no such store").into());
    }
    if let Some(out) = &args.out {
        RunFiles::new(settings.overwrite).input("--store", &args.store).output("--out", out, &[]).check()?;
    }
    let cursor = export_changes(&args.store, &args.since, format, args.out.as_deref(), settings.overwrite)?;
    if !settings.quiet && args.out.is_some() {
        eprintln!("jingtu: exported changes up to cursor {cursor}");
    }
    Ok(Outcome::Done)
}
