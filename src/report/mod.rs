//! The scan report: evidence an analyst can act on in seconds, in one self-contained HTML file (images
//! inline, no network, opens from a USB stick), and PNG quicklooks per flag for registry services.
//!
//! | step | file |
//! | --- | --- |
//! | read the scan, scenes, plots, flags and summaries from the store | [`data`] |
//! | find the scanned imagery again and read windows around flags | [`imagery`] |
//! | true and false colour chips with one shared stretch, outlines, PNG | [`chips`] |
//! | time series charts (inline SVG) | [`charts`] |
//! | overview map of the plots (inline SVG) | [`map`] |
//! | the HTML page | `html` |
//!
//! The job that runs these steps over a scan and writes the files is [`crate::jobs::report`].
//!
//! Per flag the report shows the acquisition before the event (the latest one before `first_seen`, or
//! before `bare_since` for idle ground, on which the flagged area was clear) and the one that last showed
//! it (`last_seen`), on the same grid, at the same scale and with one stretch computed from both, so a
//! difference between the chips is a difference on the ground. The flagged area's NDVI, BSI and clear
//! share on every acquisition are measured again from the imagery with the scan's own masking.

pub mod charts;
pub mod chips;
pub mod data;
pub(crate) mod html;
pub mod imagery;
pub mod map;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use crate::flags::FlagStatus;
use crate::io::BandSelection;
use crate::raster::Grid;
use crate::scan::ScanOptions;
use charts::SeriesPoint;
use chips::{Composite, Stretch};
use data::{FlagInfo, ReportData};

/// Clear share, mean NDVI and mean BSI of a flagged area on one acquisition.
pub(crate) type AreaStats = (f64, Option<f64>, Option<f64>);
/// A chosen acquisition: scene index and the clear share of the flagged area on it.
pub(crate) type Pick = Option<(usize, f64)>;

/// What to write.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The HTML report.
    pub html: Option<PathBuf>,
    /// A folder for PNG quicklooks, one per flag, and an `index.json` describing them.
    pub chips: Option<PathBuf>,
    /// The scan to report on (latest when `None`).
    pub scan: Option<String>,
    /// Band mapping for folders of rasters (as given to the scan).
    pub bands: BandSelection,
    /// The scan's settings (class rules and cloud buffer, for the series).
    pub scan_options: ScanOptions,
    /// Replace existing outputs.
    pub overwrite: bool,
}

/// What a report run wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    /// Reported scan.
    pub scan_id: String,
    /// Its latest acquisition.
    pub as_of: Option<NaiveDate>,
    /// Plots in the report.
    pub plots: usize,
    /// Acquisitions up to the scan.
    pub scenes: usize,
    /// Acquisitions whose imagery was found unchanged.
    pub scenes_with_imagery: usize,
    /// Flags by kind and status.
    pub flags: BTreeMap<String, BTreeMap<String, usize>>,
    /// Flags in total.
    pub flags_total: usize,
    /// Flags that appeared since the previous scan.
    pub flags_new: usize,
    /// Flags with both image chips.
    pub flags_with_chips: usize,
    /// The HTML file.
    pub html: Option<PathBuf>,
    /// Its size in bytes.
    pub html_bytes: u64,
    /// The quicklook folder.
    pub chips_dir: Option<PathBuf>,
    /// Quicklooks written.
    pub chips_written: usize,
    /// Seconds the report took.
    pub seconds: f64,
    /// Non-fatal problems (missing imagery).
    pub warnings: Vec<String>,
}

/// How a plot looks on the map and in the table: what the scan found there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlotStatus {
    /// A flag that appeared since the previous scan.
    NewFlag,
    /// Active flags, none new.
    ActiveFlag,
    /// Only resolved flags.
    Resolved,
    /// Observed, nothing flagged.
    Clear,
    /// No clear acquisition yet.
    Unobserved,
    /// Outside every scene.
    OutsideScenes,
}

impl PlotStatus {
    /// Every status, in legend order.
    pub const ALL: [PlotStatus; 6] = [
        PlotStatus::NewFlag,
        PlotStatus::ActiveFlag,
        PlotStatus::Resolved,
        PlotStatus::Clear,
        PlotStatus::Unobserved,
        PlotStatus::OutsideScenes,
    ];

    /// Machine name.
    pub fn name(self) -> &'static str {
        match self {
            PlotStatus::NewFlag => "new_flag",
            PlotStatus::ActiveFlag => "active_flag",
            PlotStatus::Resolved => "resolved",
            PlotStatus::Clear => "clear",
            PlotStatus::Unobserved => "unobserved",
            PlotStatus::OutsideScenes => "outside_scenes",
        }
    }

    /// Legend text.
    pub fn label(self) -> &'static str {
        match self {
            PlotStatus::NewFlag => "new flag since the previous scan",
            PlotStatus::ActiveFlag => "active flag",
            PlotStatus::Resolved => "flags resolved",
            PlotStatus::Clear => "observed, nothing flagged",
            PlotStatus::Unobserved => "no clear acquisition yet",
            PlotStatus::OutsideScenes => "outside every scene",
        }
    }

    /// Map colour.
    pub fn colour(self) -> &'static str {
        match self {
            PlotStatus::NewFlag => "#d62728",
            PlotStatus::ActiveFlag => "#f5a623",
            PlotStatus::Resolved => "#6baed6",
            PlotStatus::Clear => "#a6d5a0",
            PlotStatus::Unobserved => "#bdbdbd",
            PlotStatus::OutsideScenes => "#ffffff",
        }
    }

    /// Drawing order: higher is drawn first (underneath).
    fn rank(self) -> u8 {
        match self {
            PlotStatus::NewFlag => 0,
            PlotStatus::ActiveFlag => 1,
            PlotStatus::Resolved => 2,
            PlotStatus::Clear => 3,
            PlotStatus::Unobserved => 4,
            PlotStatus::OutsideScenes => 5,
        }
    }
}

/// HTML and XML text escaping (element content and quoted attributes).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id usable as an HTML anchor, unique per input (plot and flag ids may hold any character).
pub(crate) fn anchor(prefix: &str, id: &str) -> String {
    let mut out = String::from(prefix);
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else {
            out.push_str(&format!(".{:x}", c as u32));
        }
    }
    out
}

/// One flag, ready to draw.
#[derive(Debug, Clone)]
pub(crate) struct FlagView {
    /// Index into `ReportData::flags`.
    pub flag: usize,
    /// The chip grid.
    pub grid: Grid,
    /// The acquisition before (scene index, clear share of the flagged area).
    pub before: Option<(usize, f64)>,
    /// The acquisition after.
    pub after: Option<(usize, f64)>,
    /// Per composite: the stretch and the native-resolution PNGs (before, after).
    pub images: Vec<(Composite, Stretch, Vec<u8>, Vec<u8>)>,
    /// SVG path data of the flag on the chip grid (pixel units).
    pub flag_path: String,
    /// SVG path data of its plot on the chip grid.
    pub plot_path: String,
    /// Series of the flagged area on every acquisition.
    pub series: Vec<SeriesPoint>,
    /// Why there are no chips, if there are none.
    pub missing: Option<String>,
}

/// SVG path data of rings.
pub(crate) fn svg_path(rings: &[Vec<(f64, f64)>]) -> String {
    let mut d = String::new();
    for ring in rings {
        for (i, (x, y)) in ring.iter().enumerate() {
            d.push_str(&format!("{}{}", if i == 0 { "M" } else { "L" }, fmt_coord(*x, *y)));
        }
        d.push('Z');
    }
    d
}

fn fmt_coord(x: f64, y: f64) -> String {
    let f = |v: f64| {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    format!("{},{}", f(x), f(y))
}

/// Statuses a plot's flags have at the scan.
pub(crate) fn plot_status(data: &ReportData, plot_id: &str, state: &str) -> PlotStatus {
    let flags: Vec<&FlagInfo> = data.flags.iter().filter(|f| f.flag.plot_id.as_deref() == Some(plot_id)).collect();
    let active = flags.iter().filter(|f| f.status != FlagStatus::Resolved);
    if flags.iter().any(|f| f.new_since_previous && f.status != FlagStatus::Resolved) {
        PlotStatus::NewFlag
    } else if active.count() > 0 {
        PlotStatus::ActiveFlag
    } else if !flags.is_empty() {
        PlotStatus::Resolved
    } else {
        match state {
            "unobserved" => PlotStatus::Unobserved,
            "outside_scenes" => PlotStatus::OutsideScenes,
            _ => PlotStatus::Clear,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_unique_and_safe() {
        assert_eq!(anchor("plot-", "TZ-CL-001"), "plot-TZ-CL-001");
        assert_ne!(anchor("p-", "a b"), anchor("p-", "a_b"));
        assert!(anchor("p-", "地块 1").chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn svg_paths_are_compact() {
        assert_eq!(svg_path(&[vec![(1.0, 2.5), (3.25, 4.0)]]), "M1,2.5L3.25,4Z");
    }
}
