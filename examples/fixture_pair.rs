//! Regenerates the bi-temporal fixture pair of `jingtu::synth::pair` on disk, for looking at it in a GIS
//! or running `jingtu change` on it by hand. The tests make their own copies in temporary folders.
//!
//! ```sh
//! cargo run --release --example fixture_pair -- OUT_DIR [--seed N] [--after-epsg CODE] [--no-holes]
//! cargo run --release --example fixture_pair -- --picture     # the layout picture of the module docs
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use jingtu::synth::pair::{PairOptions, layout_picture, write_pair};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixture_pair: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut options = PairOptions::new(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--picture" => {
                println!("{}", layout_picture());
                return Ok(());
            }
            "--seed" => options.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--after-epsg" => {
                let code = value("--after-epsg")?.parse().map_err(|e| format!("--after-epsg: {e}"))?;
                options.with_after_crs(code);
            }
            "--no-holes" => {
                options.with_nodata_holes(false);
            }
            other if !other.starts_with('-') && dir.is_none() => dir = Some(PathBuf::from(other)),
            other => {
                return Err(format!(
                    "unexpected argument '{other}' (OUT_DIR [--seed N] [--after-epsg CODE] [--no-holes])"
                ));
            }
        }
    }
    let dir = dir.ok_or("give the folder to write into")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pair = write_pair(&dir, &options).map_err(|e| e.to_string())?;
    for p in [&pair.before, &pair.after, &pair.truth_raster, &pair.truth_json, &pair.plots] {
        println!("wrote {}", p.display());
    }
    Ok(())
}
