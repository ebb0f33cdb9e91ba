//! Small inline SVG charts of an area through time: NDVI and BSI of its clear observations as lines on
//! one fixed scale (so charts of different flags compare at a glance), and under them a strip with the
//! clear share of the area on every acquisition (what clouds hid). Dates are placed by time, not by
//! index, so a gap of two lost months looks like one.

use std::fmt::Write;

use chrono::NaiveDate;

use super::esc;

/// One acquisition of the charted area.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// Acquisition date.
    pub date: NaiveDate,
    /// Scene id (tooltip).
    pub scene_id: String,
    /// Share of the area that was a clear observation; `None` where the imagery was not available.
    pub clear: Option<f64>,
    /// Mean NDVI of the clear pixels.
    pub ndvi: Option<f64>,
    /// Mean BSI of the clear pixels.
    pub bsi: Option<f64>,
}

/// A dated vertical marker (first seen, the chips' dates).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Where.
    pub date: NaiveDate,
    /// Short label drawn at the top.
    pub label: String,
    /// CSS colour.
    pub colour: String,
}

/// Share of the area that must be clear for its index values to be drawn as an observation (as the
/// scan counts an acquisition as seeing a region).
pub const CLEAR_ENOUGH: f64 = 0.5;

const W: f64 = 560.0;
const H: f64 = 188.0;
const LEFT: f64 = 38.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const PLOT_H: f64 = 110.0;
const STRIP: f64 = 12.0;
const Y_MIN: f64 = -0.6;
const Y_MAX: f64 = 1.0;
const NDVI_COLOUR: &str = "#2e8540";
const BSI_COLOUR: &str = "#a0522d";

/// The chart, as an `<svg class="chart">` element. `title` is its accessible name.
pub fn series_chart(title: &str, points: &[SeriesPoint], markers: &[Marker]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(title)
    );
    let _ = write!(s, "<title>{}</title>", esc(title));
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        s.push_str(r#"<text x="10" y="40" class="muted">no acquisitions</text></svg>"#);
        return s;
    };
    let span = (last.date - first.date).num_days().max(1) as f64;
    let pad = 8.0;
    let x = |d: NaiveDate| LEFT + pad + (d - first.date).num_days() as f64 / span * (W - LEFT - RIGHT - 2.0 * pad);
    let y = |v: f64| TOP + (Y_MAX - v.clamp(Y_MIN, Y_MAX)) / (Y_MAX - Y_MIN) * PLOT_H;

    // Axes and grid.
    for v in [-0.5, 0.0, 0.5, 1.0] {
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="{}" stroke-width="1"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{v:.1}</text>"##,
            W - RIGHT,
            if v == 0.0 { "#999" } else { "#e3e3e3" },
            LEFT - 4.0,
            yy + 3.5
        );
    }
    // Markers under the data.
    for m in markers {
        let xx = x(m.date);
        let _ = write!(
            s,
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{:.1}" stroke="{}" stroke-width="1.2" stroke-dasharray="3 2"/><text x="{xx:.1}" y="{:.1}" font-size="9.5" text-anchor="middle" fill="{}">{}</text>"#,
            TOP + PLOT_H,
            esc(&m.colour),
            TOP - 4.0,
            esc(&m.colour),
            esc(&m.label)
        );
    }
    // Lines through clear observations only.
    for (colour, get) in [
        (NDVI_COLOUR, (|p: &SeriesPoint| p.ndvi) as fn(&SeriesPoint) -> Option<f64>),
        (BSI_COLOUR, |p: &SeriesPoint| p.bsi),
    ] {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.clear.is_some_and(|c| c >= CLEAR_ENOUGH))
            .filter_map(|p| get(p).map(|v| (x(p.date), y(v))))
            .collect();
        if pts.len() >= 2 {
            let d: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ =
                write!(s, r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#, d.join(" "));
        }
        for (a, b) in &pts {
            let _ = write!(s, r#"<circle cx="{a:.1}" cy="{b:.1}" r="2.6" fill="{colour}"/>"#);
        }
    }
    // Clear share strip: a full bar is a fully clear area; grey where the imagery was missing.
    let strip_top = TOP + PLOT_H + 8.0;
    let bar_w = ((W - LEFT - RIGHT) / points.len() as f64 * 0.6).clamp(3.0, 14.0);
    let _ = write!(
        s,
        r##"<text x="{}" y="{:.1}" font-size="9" text-anchor="end" fill="#555">clear</text>"##,
        LEFT - 4.0,
        strip_top + STRIP - 2.0
    );
    for p in points {
        let xx = x(p.date);
        let tip = format!(
            "{} {}: {}{}{}",
            p.date,
            p.scene_id,
            p.clear.map_or("imagery not available".into(), |c| format!("{:.0}% clear", c * 100.0)),
            p.ndvi
                .filter(|_| p.clear.is_some_and(|c| c >= CLEAR_ENOUGH))
                .map_or(String::new(), |v| format!(", NDVI {v:.2}")),
            p.bsi
                .filter(|_| p.clear.is_some_and(|c| c >= CLEAR_ENOUGH))
                .map_or(String::new(), |v| format!(", BSI {v:.2}"))
        );
        let _ = write!(
            s,
            r##"<g><title>{}</title><rect x="{:.1}" y="{strip_top:.1}" width="{bar_w:.1}" height="{STRIP}" fill="#eef0f3" stroke="#c9ced6" stroke-width="0.5"/>"##,
            esc(&tip),
            xx - bar_w / 2.0
        );
        if let Some(c) = p.clear {
            let h = STRIP * c.clamp(0.0, 1.0);
            let fill = if c >= CLEAR_ENOUGH { "#5b8fc7" } else { "#b8c4d6" };
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{fill}"/>"#,
                xx - bar_w / 2.0,
                strip_top + STRIP - h
            );
        } else {
            let _ = write!(
                s,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{strip_top:.1}" y2="{:.1}" stroke="#999" stroke-width="1"/>"##,
                xx - bar_w / 2.0,
                xx + bar_w / 2.0,
                strip_top + STRIP
            );
        }
        s.push_str("</g>");
    }
    // Date labels: at most about eight, never overlapping.
    let step = points.len().div_ceil(8).max(1);
    let label_y = strip_top + STRIP + 12.0;
    // About 5.3 px per character at 9.5 px: a date label is 53 px wide.
    const LABEL_W: f64 = 53.0;
    let mut last_right = f64::MIN;
    for (i, p) in points.iter().enumerate() {
        let xx = x(p.date);
        // Labels at the ends stay inside the chart.
        let (anchor, left) = if xx - LEFT < 30.0 {
            ("start", xx - 6.0)
        } else if W - xx < 30.0 {
            ("end", xx + 6.0 - LABEL_W)
        } else {
            ("middle", xx - LABEL_W / 2.0)
        };
        if (i % step == 0 || i + 1 == points.len()) && left >= last_right + 4.0 {
            let at = match anchor {
                "start" => xx - 6.0,
                "end" => xx + 6.0,
                _ => xx,
            };
            let _ = write!(
                s,
                r##"<text x="{at:.1}" y="{label_y:.1}" font-size="9.5" text-anchor="{anchor}" fill="#444">{}</text>"##,
                p.date.format("%Y-%m-%d")
            );
            last_right = left + LABEL_W;
        }
    }
    // Legend, on its own row above the markers' labels.
    let _ = write!(
        s,
        r##"<g font-size="10"><line x1="{}" x2="{}" y1="7" y2="7" stroke="{NDVI_COLOUR}" stroke-width="2"/><text x="{}" y="10.5" fill="#333">NDVI</text><line x1="{}" x2="{}" y1="7" y2="7" stroke="{BSI_COLOUR}" stroke-width="2"/><text x="{}" y="10.5" fill="#333">BSI</text></g>"##,
        LEFT + 2.0,
        LEFT + 16.0,
        LEFT + 19.0,
        LEFT + 50.0,
        LEFT + 64.0,
        LEFT + 67.0
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(d: &str, clear: Option<f64>, ndvi: f64) -> SeriesPoint {
        SeriesPoint { date: d.parse().unwrap(), scene_id: "s".into(), clear, ndvi: Some(ndvi), bsi: Some(-ndvi / 2.0) }
    }

    #[test]
    fn cloudy_and_missing_acquisitions_are_not_drawn_as_observations() {
        let pts = [
            p("2026-01-05", Some(1.0), 0.7),
            p("2026-02-05", Some(0.1), 0.1),
            p("2026-03-05", None, 0.0),
            p("2026-04-05", Some(0.9), 0.1),
        ];
        let svg = series_chart("t", &pts, &[]);
        // Two clear points per line: two circles for NDVI and two for BSI.
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        assert!(svg.contains("imagery not available"));
        assert!(svg.starts_with("<svg class=\"chart\""));
        assert!(series_chart("empty", &[], &[]).contains("no acquisitions"));
    }
}
