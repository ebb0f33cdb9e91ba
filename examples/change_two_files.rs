//! Change detection between two rasters from Rust, the flags printed by kind.
//!
//! `cargo run --release --example change_two_files -- [BEFORE AFTER]`; without files, the synthetic
//! fixture pair (fields turned into buildings and earthworks) is written into a temporary folder first.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let inputs = match args.as_slice() {
        [] => None,
        [before, after] => Some((before.clone(), after.clone())),
        _ => {
            eprintln!("usage: change_two_files [BEFORE AFTER]");
            return ExitCode::from(2);
        }
    };
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let outcome = match jingtu::jobs::api::change_two_files(inputs, scratch.path()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let s = &outcome.summary;
    println!(
        "{} change on a {} x {} grid ({} backend): {} of {} valid pixels changed, {} flags",
        s.method,
        outcome.grid.width,
        outcome.grid.height,
        s.backend,
        s.changed_pixels,
        s.valid_pixels,
        outcome.flags.len()
    );
    for (kind, count) in jingtu::jobs::api::count_by_kind(&outcome.flags) {
        let area: f64 = outcome.flags.iter().filter(|f| f.kind.name() == kind).map(|f| f.area_m2).sum();
        println!("  {kind:<16} {count:>4} flags {area:>12.0} m2");
    }
    ExitCode::SUCCESS
}
