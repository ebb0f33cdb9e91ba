//! Generates a demo area of any size, for benchmarks: the demo's landscape and scenarios with more
//! (or fewer) plots.
//!
//! ```sh
//! cargo bench --bench demo_area -- DIR [PLOTS_PER_CATEGORY] [SIZE_PX] [SEED]
//! ```
//!
//! Prints the registry and catalogue paths. Four categories, so 50 plots per category is a registry
//! of 200; the area needs one 32-pixel cell per plot (512 px holds 256).

use std::path::PathBuf;

use jingtu::synth::area::{AreaSpec, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        return Err("usage: demo_area DIR [PLOTS_PER_CATEGORY] [SIZE_PX] [SEED]".into());
    };
    let default = AreaSpec::default();
    let spec = AreaSpec {
        plots_per_category: args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(default.plots_per_category),
        size: args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(default.size),
        seed: args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(default.seed),
        ..default
    };
    let cells = (spec.size / 32) * (spec.size / 32);
    if spec.plots_per_category * 4 > cells {
        return Err(format!(
            "{} plots do not fit in {} px ({cells} cells of 32 px)",
            spec.plots_per_category * 4,
            spec.size
        )
        .into());
    }
    let area = generate(&dir, &spec)?;
    println!("plots {}", area.plots.display());
    println!("scenes {}", area.stac.display());
    Ok(())
}
