//! The overview map: every plot drawn from its own geometry in the analysis CRS (no tile server, no
//! network), coloured by what the scan found, each a link to its section. Plots too small to see at
//! the map's scale get a dot, so a registry spread over a province still shows every plot.

use std::fmt::Write;

use super::{PlotStatus, esc};

/// One plot on the map.
#[derive(Debug, Clone)]
pub struct MapPlot<'a> {
    /// Anchor of its section.
    pub anchor: &'a str,
    /// Tooltip.
    pub label: String,
    /// Colour class.
    pub status: PlotStatus,
    /// Outline rings, analysis CRS.
    pub rings: &'a [Vec<(f64, f64)>],
}

const WIDTH: f64 = 880.0;
const MAX_HEIGHT: f64 = 620.0;
const MARGIN: f64 = 14.0;
/// Plots smaller than this on the map (pixels across) get a dot.
const MIN_VISIBLE: f64 = 6.0;

/// The map as an `<svg class="overview">` element, in the analysis frame's projected CRS (metres), with
/// a scale bar, a north arrow and `crs_name`.
pub fn overview(plots: &[MapPlot], crs_name: &str) -> String {
    let pts = plots.iter().flat_map(|p| p.rings.iter().flatten());
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in pts {
        x0 = x0.min(*x);
        y0 = y0.min(*y);
        x1 = x1.max(*x);
        y1 = y1.max(*y);
    }
    if x0 > x1 {
        return r#"<svg class="overview" viewBox="0 0 200 40" width="200" height="40"><text x="10" y="25">no plot geometry</text></svg>"#.into();
    }
    let (dx, dy) = ((x1 - x0).max(1.0), (y1 - y0).max(1.0));
    let scale = ((WIDTH - 2.0 * MARGIN) / dx).min((MAX_HEIGHT - 2.0 * MARGIN - 30.0) / dy);
    let height = (dy * scale + 2.0 * MARGIN + 30.0).ceil();
    let px = |x: f64| MARGIN + (x - x0) * scale;
    let py = |y: f64| MARGIN + (y1 - y) * scale;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="overview" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="overview map of the plots" xmlns="http://www.w3.org/2000/svg"><rect width="100%" height="100%" fill="#f6f4ee"/>"##
    );
    // Quiet plots first, so flagged ones are drawn on top where they crowd.
    let mut order: Vec<&MapPlot> = plots.iter().collect();
    order.sort_by_key(|p| std::cmp::Reverse(p.status.rank()));
    for p in order {
        let colour = p.status.colour();
        let mut d = String::new();
        let (mut bx0, mut by0, mut bx1, mut by1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for ring in p.rings {
            for (i, (x, y)) in ring.iter().enumerate() {
                let (a, b) = (px(*x), py(*y));
                bx0 = bx0.min(a);
                bx1 = bx1.max(a);
                by0 = by0.min(b);
                by1 = by1.max(b);
                let _ = write!(d, "{}{a:.1},{b:.1}", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
        let dashed = if p.status == PlotStatus::OutsideScenes { r#" stroke-dasharray="3 2""# } else { "" };
        let _ = write!(
            s,
            r##"<a href="#{}" class="map-plot" data-status="{}"><title>{}</title><path d="{d}" fill="{colour}" fill-opacity="0.85" stroke="#333" stroke-width="0.6"{dashed}/>"##,
            esc(p.anchor),
            p.status.name(),
            esc(&p.label)
        );
        if bx1 - bx0 < MIN_VISIBLE && by1 - by0 < MIN_VISIBLE {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}" stroke="#333" stroke-width="0.6"/>"##,
                (bx0 + bx1) / 2.0,
                (by0 + by1) / 2.0
            );
        }
        s.push_str("</a>");
    }
    // Scale bar: a round length near a fifth of the map width.
    let target = dx / 5.0;
    let magnitude = 10f64.powf(target.log10().floor());
    let length = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).rfind(|l| *l <= target).unwrap_or(magnitude);
    let bar = length * scale;
    let by = height - 16.0;
    let label = if length >= 1000.0 { format!("{} km", length / 1000.0) } else { format!("{length} m") };
    let _ = write!(
        s,
        r##"<g font-size="11" fill="#333"><rect x="{MARGIN}" y="{by}" width="{bar:.1}" height="5" fill="#333"/><rect x="{MARGIN}" y="{by}" width="{:.1}" height="5" fill="#fff" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="{:.1}">{label}</text><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="24" text-anchor="middle" font-weight="bold">N</text><path d="M{:.1},28 l-5,12 l5,-3 l5,3 z" fill="#333"/></g>"##,
        bar / 2.0,
        MARGIN + bar + 6.0,
        by + 6.0,
        WIDTH - MARGIN,
        by + 6.0,
        esc(crs_name),
        WIDTH - MARGIN - 10.0,
        WIDTH - MARGIN - 10.0,
    );
    s.push_str("</svg>");
    s
}
