//! `jingtu demo`: the main job on generated demo data.

use super::Outcome;
use super::args::DemoArgs;
use super::config::Settings;

pub fn run(_args: &DemoArgs, _settings: &Settings) -> anyhow::Result<Outcome> {
    anyhow::bail!("demo data generator not built yet")
}
