//! Settings resolved from the command line and the config file (which the command line overrides).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::args::CommonArgs;
use crate::change::ChangeOptions;
use crate::compute::BackendChoice;
use crate::drone::DroneOptions;
use crate::error::{Error, Result};
use crate::export::VectorFormat;
use crate::io::BandSelection;
use crate::io::plots::PlotFields;
use crate::io::sensor::{Sensor, parse_band_overrides};

/// The config file (`--config FILE.toml`). Every table is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// `auto`, `gpu` or `cpu`.
    pub backend: Option<BackendChoice>,
    /// Detector settings of `change`.
    pub change: ChangeOptions,
    /// Settings of `scan`.
    pub scan: crate::scan::ScanOptions,
    /// Drone flight settings.
    pub drone: DroneOptions,
    /// Registry field names.
    pub plots: PlotFields,
    /// Reflectance scale applied to every band, overriding file metadata and profiles.
    pub reflectance_scale: Option<f64>,
    /// Reflectance offset applied after the scale.
    pub reflectance_offset: Option<f64>,
}

impl ConfigFile {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        ConfigFile::parse(&text).map_err(|problem| Error::input(path, format!("invalid config: {problem}")))
    }

    /// Parses and validates the text of a config file; the error says what is wrong, naming the key.
    pub fn parse(text: &str) -> std::result::Result<ConfigFile, String> {
        let config = toml::from_str(text).map_err(|e: toml::de::Error| e.message().to_string())?;
        // Types are checked by serde; ranges here, on the keys as the user wrote them, so the message
        // names the key (plot_margin_m = nan or 1e9 and idle_months = 0 were accepted, or failed later
        // blaming something else).
        let raw: toml::Table = toml::from_str(text).map_err(|e: toml::de::Error| e.message().to_string())?;
        check_ranges(&toml::Value::Table(raw), "")?;
        Ok(config)
    }
}

/// The range of a setting, from its name: lengths, areas, durations and counts cannot be negative or
/// beyond what makes sense on Earth; a few settings have tighter bounds of their own.
fn range_of(key: &str) -> Option<(f64, f64, &'static str)> {
    Some(match key {
        "idle_months" => (1.0, 120.0, "months"),
        "reflectance_scale" => (1e-9, 1e6, ""),
        "plot_margin_m" | "cloud_buffer_m" => (0.0, 10_000.0, "m"),
        k if k.ends_with("_months") || k.ends_with("_confirmations") => (1.0, 1000.0, ""),
        k if k.ends_with("_m2") => (0.0, 1e10, "m²"),
        k if k.ends_with("_m") => (0.0, 100_000.0, "m"),
        k if k.ends_with("_days") => (0.0, 3660.0, "days"),
        k if k.ends_with("_px") || k.ends_with("_pixels") || k.ends_with("_size") || k.ends_with("_side") => {
            (0.0, 1e9, "pixels")
        }
        k if k.ends_with("_rows") || k.ends_with("_radius") || k.ends_with("_iterations") => (0.0, 1e6, ""),
        k if k.ends_with("_fraction") => (0.0, 1.0, ""),
        _ => return None,
    })
}

/// Checks every number in a config table: finite, and within its key's range.
fn check_ranges(value: &toml::Value, key: &str) -> std::result::Result<(), String> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let number = match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                check_ranges(v, &path)?;
            }
            return Ok(());
        }
        toml::Value::Array(a) => {
            for v in a {
                check_ranges(v, key)?;
            }
            return Ok(());
        }
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        _ => return Ok(()),
    };
    if !number.is_finite() {
        return Err(format!("{key} = {number} is not a finite number"));
    }
    if let Some((lo, hi, unit)) = range_of(leaf) {
        if !(lo..=hi).contains(&number) {
            return Err(format!(
                "{key} = {number} is out of range ({lo} to {hi}{}{unit})",
                if unit.is_empty() { "" } else { " " }
            ));
        }
    }
    Ok(())
}

/// Everything a command needs from the shared options.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Band mapping.
    pub bands: BandSelection,
    /// Backend choice.
    pub backend: BackendChoice,
    /// Explicit output format.
    pub format: Option<VectorFormat>,
    /// Replace outputs.
    pub overwrite: bool,
    /// Quiet.
    pub quiet: bool,
    /// JSON lines on stdout.
    pub json: bool,
    /// The config file's content (defaults when none).
    pub config: ConfigFile,
}

impl Settings {
    /// Resolves the shared options; command-line values win over the config file.
    pub fn resolve(common: &CommonArgs) -> Result<Settings> {
        crate::io::vsi::set_offline(common.offline);
        let config = match &common.config {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        let sensor = common.sensor.as_deref().map(str::parse::<Sensor>).transpose().map_err(Error::Usage)?;
        let overrides =
            common.bands.as_deref().map(parse_band_overrides).transpose().map_err(Error::Usage)?.unwrap_or_default();
        let scaling = match (config.reflectance_scale, config.reflectance_offset) {
            (None, None) => None,
            (s, o) => Some((s.unwrap_or(1.0), o.unwrap_or(0.0))),
        };
        let backend = match &common.backend {
            Some(b) => b.parse().map_err(Error::Usage)?,
            None => config.backend.unwrap_or_default(),
        };
        let format = match common.format.as_deref() {
            Some("ndjson") => None,
            other => other.map(str::parse::<VectorFormat>).transpose().map_err(Error::Usage)?,
        };
        Ok(Settings {
            bands: BandSelection { sensor, overrides, scaling },
            backend,
            format,
            overwrite: common.overwrite,
            quiet: common.quiet,
            json: common.json,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_overrides_defaults_and_rejects_typos() {
        let c: ConfigFile =
            toml::from_str("backend = \"cpu\"\n[change]\nmin_area_m2 = 900.0\n[plots]\nplot_id = \"地块编号\"\n")
                .unwrap();
        assert_eq!(c.backend, Some(BackendChoice::Cpu));
        assert_eq!(c.change.min_area_m2, 900.0);
        assert_eq!(c.change.min_pixels, ChangeOptions::default().min_pixels);
        assert_eq!(c.plots.plot_id, "地块编号");
        assert!(toml::from_str::<ConfigFile>("bakend = \"cpu\"").is_err());
        // Typos inside a table were ignored (found by the bad-input campaign).
        assert!(toml::from_str::<ConfigFile>("[scan]\nplot_margin = 5.0\n").is_err());
        assert!(toml::from_str::<ConfigFile>("[scan.temporal]\nidle_month = 5\n").is_err());
        let d: ConfigFile = toml::from_str("[drone]\nstructure_min_height_m = 3.0\n").unwrap();
        assert_eq!(d.drone.structure_min_height_m, 3.0);
        assert_eq!(d.drone.earthworks_min_area_m2, DroneOptions::default().earthworks_min_area_m2);
        assert!(toml::from_str::<ConfigFile>("[drone]\nstructure_height = 3.0\n").is_err(), "typos rejected");
    }

    #[test]
    fn the_readme_config_example_is_a_valid_config() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("README has a TOML example") + 8;
        let end = start + readme[start..].find("```").expect("closed");
        let c: ConfigFile = toml::from_str(&readme[start..end]).expect("README config parses");
        assert_eq!(c.plots.plot_id, "地块编号");
        assert_eq!(c.scan.temporal.idle_months, 3);
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, key) in [
            ("[scan]\nplot_margin_m = nan\n", "scan.plot_margin_m"),
            ("[scan]\nplot_margin_m = inf\n", "scan.plot_margin_m"),
            ("[scan]\nplot_margin_m = 1e9\n", "scan.plot_margin_m"),
            ("[scan.temporal]\nidle_months = 0\n", "scan.temporal.idle_months"),
            ("[scan]\nmin_area_m2 = -1.0\n", "scan.min_area_m2"),
            ("[scan]\ncloud_buffer_m = 1e308\n", "scan.cloud_buffer_m"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = ConfigFile::load(&path).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        std::fs::write(&path, "[scan]\nplot_margin_m = 100.0\n[scan.temporal]\nidle_months = 4\n").unwrap();
        ConfigFile::load(&path).unwrap();
    }

    #[test]
    fn command_line_wins_over_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "backend = \"gpu\"\n").unwrap();
        let common = CommonArgs {
            config: Some(path),
            backend: Some("cpu".into()),
            sensor: Some("landsat-tm".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&common).unwrap();
        assert_eq!(s.backend, BackendChoice::Cpu);
        assert_eq!(s.bands.sensor, Some(Sensor::LandsatTm));
        let bad = CommonArgs { sensor: Some("spot".into()), ..Default::default() };
        assert!(Settings::resolve(&bad).unwrap_err().to_string().contains("unknown sensor"));
    }
}
