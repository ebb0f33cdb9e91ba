//! `jingtu export`: the changefeed.

use super::Outcome;
use super::args::ExportArgs;
use super::config::Settings;
use super::output::print_summary;
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
    let summary = export_changes(&args.store, &args.since, format, args.out.as_deref(), settings.overwrite)?;
    if settings.json {
        if args.out.is_some() {
            print_summary(true, settings.quiet, &summary, String::new);
        } else {
            // The feed itself is on standard output, where a summary line would be read as part of it
            // (a GeoJSON FeatureCollection followed by a second object is not JSON): it goes to stderr.
            let mut value = serde_json::to_value(&summary).unwrap_or(serde_json::Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.insert("event".into(), "summary".into());
            }
            eprintln!("{value}");
        }
    } else if !settings.quiet && args.out.is_some() {
        eprintln!(
            "jingtu: exported {} changes ({} upserts, {} resolves) up to cursor {}",
            summary.features, summary.upserts, summary.resolves, summary.cursor
        );
    }
    Ok(Outcome::Done)
}
