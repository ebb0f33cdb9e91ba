//! `jingtu review --store FILE.gpkg FLAG_ID --outcome ... --reviewer ... [--note ...]`: a field check
//! recorded offline, as `POST /flags/{flag_id}/reviews` records it.

use super::Outcome;
use super::args::ReviewArgs;
use super::config::Settings;
use super::output::print_summary;
use crate::error::Error;
use crate::store::Store;
use crate::store::reviews::Outcome as ReviewOutcome;

pub fn run(args: &ReviewArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    if !args.store.is_file() {
        return Err(Error::input(&args.store, "no such store").into());
    }
    let outcome = ReviewOutcome::parse(&args.outcome).ok_or_else(|| {
        Error::Usage(format!(
            "--outcome: '{}' is not an outcome (confirmed, false_alarm, permitted, remediated)",
            args.outcome
        ))
    })?;
    let mut store = Store::open(Some(&args.store))?;
    let review = store
        .add_review(&args.flag_id, outcome, args.note.as_deref(), &args.reviewer, "cli")?
        .ok_or_else(|| Error::store(&args.store, format!("has no flag '{}'", args.flag_id)))?;
    print_summary(settings.json, settings.quiet, &review, || {
        format!(
            "jingtu: flag {} reviewed: {} by {} at {}\n",
            review.flag_id, review.outcome, review.reviewer, review.reviewed_at
        )
    });
    Ok(Outcome::Done)
}
