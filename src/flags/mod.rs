//! Flags: the polygons with evidence that analysts, registries and reports consume (CONTRACT.md).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a flag says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// A new building or hard surface.
    Construction,
    /// Soil disturbed: excavation, fill, stripping.
    Earthworks,
    /// Vegetation removed.
    VegetationLoss,
    /// Bare ground neither re-greened nor covered for at least the idle period.
    IdleBare,
    /// Surface height rose (drone DSM): a new structure or a spoil heap.
    HeightGain,
    /// Surface height fell (drone DSM): a pit or a demolition.
    HeightLoss,
}

impl FlagKind {
    /// The contract's name (`construction`, `idle_bare`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FlagKind::Construction => "construction",
            FlagKind::Earthworks => "earthworks",
            FlagKind::VegetationLoss => "vegetation_loss",
            FlagKind::IdleBare => "idle_bare",
            FlagKind::HeightGain => "height_gain",
            FlagKind::HeightLoss => "height_loss",
        }
    }

    /// Parses the contract's name.
    pub fn parse(s: &str) -> Option<FlagKind> {
        [
            FlagKind::Construction,
            FlagKind::Earthworks,
            FlagKind::VegetationLoss,
            FlagKind::IdleBare,
            FlagKind::HeightGain,
            FlagKind::HeightLoss,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Where a flag is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// First shown by this scan.
    New,
    /// Shown before and still there.
    Ongoing,
    /// Re-greened, covered, or its evidence gone.
    Resolved,
}

impl FlagStatus {
    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            FlagStatus::New => "new",
            FlagStatus::Ongoing => "ongoing",
            FlagStatus::Resolved => "resolved",
        }
    }

    /// Parses the contract's name.
    pub fn parse(s: &str) -> Option<FlagStatus> {
        [FlagStatus::New, FlagStatus::Ongoing, FlagStatus::Resolved].into_iter().find(|k| k.name() == s)
    }
}

/// One flagged area (CONTRACT.md, "Flags").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// Stable id: the same evidence gives the same id on every rerun.
    pub flag_id: String,
    /// Registry id of the plot the flag lies in.
    pub plot_id: Option<String>,
    /// The plot's name from the registry (kept in its own script, e.g. Chinese).
    pub plot_name: Option<String>,
    /// What happened.
    pub kind: FlagKind,
    /// Lifecycle state.
    pub status: FlagStatus,
    /// Acquisition that first showed it.
    pub first_seen: Option<NaiveDate>,
    /// Acquisition that last showed it.
    pub last_seen: Option<NaiveDate>,
    /// For `idle_bare`: first acquisition of the unbroken bare run.
    pub bare_since: Option<NaiveDate>,
    /// For `idle_bare`: days from `bare_since` to `last_seen`.
    pub idle_days: Option<i64>,
    /// Area in square metres.
    pub area_m2: f64,
    /// 0 to 1.
    pub confidence: f64,
    /// Scenes compared, index values, observations, clouds, heights.
    pub evidence: serde_json::Value,
    /// The scan (or `change` run) that produced it.
    pub scan_id: String,
    /// jingtu version.
    pub engine_version: String,
    /// Polygon as ISO WKB in the analysis CRS.
    #[serde(skip)]
    pub geometry: Vec<u8>,
}

/// Flags that share one CRS, ready to write.
#[derive(Debug, Clone, Default)]
pub struct FlagSet {
    /// The flags.
    pub flags: Vec<Flag>,
    /// CRS of every geometry, as WKT (empty for pixel grids).
    pub crs_wkt: String,
}

/// The engine version written into every flag.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A short, stable id from the parts that identify a piece of evidence.
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

/// Rounds a confidence or index value for output (four decimals are more than the data supports).
pub fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separate_their_parts() {
        assert_eq!(stable_id("f", &["a", "bc"]), stable_id("f", &["a", "bc"]));
        assert_ne!(stable_id("f", &["a", "bc"]), stable_id("f", &["ab", "c"]));
        assert!(stable_id("chg", &["x"]).starts_with("chg-"));
        assert_eq!(stable_id("chg", &["x"]).len(), 4 + 20);
    }

    #[test]
    fn kinds_and_statuses_round_trip_their_names() {
        for k in ["construction", "earthworks", "vegetation_loss", "idle_bare", "height_gain", "height_loss"] {
            assert_eq!(FlagKind::parse(k).unwrap().name(), k);
            assert_eq!(serde_json::to_value(FlagKind::parse(k).unwrap()).unwrap(), k);
        }
        for s in ["new", "ongoing", "resolved"] {
            assert_eq!(FlagStatus::parse(s).unwrap().name(), s);
        }
    }
}
