//! A scan of a plot registry from Rust, into a store in a temporary folder, the flags printed.
//!
//! `cargo run --release --example scan_registry -- [PLOTS SCENES]`; without them, a small synthetic area
//! (the demo's layout: plots and two years of monthly scenes) is generated first.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let inputs = match args.as_slice() {
        [] => None,
        [plots, scenes] => Some((plots.clone(), scenes.clone())),
        _ => {
            eprintln!("usage: scan_registry [PLOTS SCENES]");
            return ExitCode::from(2);
        }
    };
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let outcome = match jingtu::jobs::api::scan_registry(inputs, scratch.path()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let s = &outcome.summary;
    println!(
        "scan {} as of {}: {} plots, {} new scenes, {} flags",
        s.scan_id,
        s.as_of.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        s.plots,
        s.scenes_new,
        outcome.flags.len()
    );
    for (kind, count) in jingtu::jobs::api::count_by_kind(&outcome.flags) {
        println!("  {kind:<14} {count:>4}");
    }
    for f in &outcome.flags {
        println!(
            "  {} {:<10} {:<12} {:<9} {:>8.0} m2  first seen {}",
            f.flag_id,
            f.plot_id.as_deref().unwrap_or("-"),
            f.kind.name(),
            f.status.name(),
            f.area_m2,
            f.first_seen.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
        );
    }
    ExitCode::SUCCESS
}
