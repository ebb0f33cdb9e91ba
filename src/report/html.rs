//! The report page: one HTML file with its style, script, images (PNG data URIs) and drawings (SVG)
//! inline. A Content-Security-Policy forbids every network request, so the page provably works from a
//! USB stick on a machine without network, and leaks nothing when opened on one with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use base64::Engine;

use super::charts::{CLEAR_ENOUGH, Marker, SeriesPoint, series_chart};
use super::data::{FlagInfo, PlotInfo, ReportData};
use super::map::{MapPlot, overview};
use super::{FlagView, PlotStatus, anchor, esc, plot_status};
use crate::flags::{FlagKind, FlagStatus};
use crate::store::style::{KINDS, STATUSES, hex, kind_colour};

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn pct(v: f64) -> String {
    format!("{:.0}\u{a0}%", v * 100.0)
}

fn kind_badge(kind: FlagKind) -> String {
    format!(
        r#"<span class="badge kind" style="background:{}">{}</span>"#,
        hex(kind_colour(kind)),
        esc(&kind.name().replace('_', " "))
    )
}

fn status_badge(status: FlagStatus) -> String {
    format!(r#"<span class="badge st-{0}">{0}</span>"#, status.name())
}

fn category_label(c: Option<&str>) -> String {
    c.map_or("-".into(), |c| c.replace('_', " "))
}

fn name_html(p: &PlotInfo) -> String {
    p.name.as_deref().map_or(String::new(), |n| format!(r#"<span lang="zh-CN">{}</span>"#, esc(n)))
}

struct Page<'a> {
    data: &'a ReportData,
    views: &'a [FlagView],
    statuses: BTreeMap<&'a str, PlotStatus>,
}

impl<'a> Page<'a> {
    fn flags_of(&self, plot_id: &str) -> Vec<(&'a FlagInfo, Option<&'a FlagView>)> {
        let mut out: Vec<(&FlagInfo, Option<&FlagView>)> = self
            .data
            .flags
            .iter()
            .enumerate()
            .filter(|(_, f)| f.flag.plot_id.as_deref() == Some(plot_id))
            .map(|(i, f)| (f, self.views.iter().find(|v| v.flag == i)))
            .collect();
        out.sort_by_key(|(f, _)| (f.status, f.flag.first_seen, f.flag.flag_id.clone()));
        out
    }

    /// Plots in the order an analyst works through them: new flags, active, resolved, then the rest.
    fn ordered_plots(&self) -> Vec<&'a PlotInfo> {
        let mut plots: Vec<&PlotInfo> = self.data.plots.iter().collect();
        plots.sort_by_key(|p| (self.statuses[p.plot_id.as_str()].rank(), p.plot_id.clone()));
        plots
    }
}

/// The CSP source of the page's one script, `sha256-BASE64`: only that exact script runs, so text that
/// escaped escaping (a plot name with `<script>`) still could not execute; escaping is not the only
/// guard.
fn script_hash() -> String {
    use base64::Engine;
    use sha2::Digest;
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT.as_bytes())))
}

/// The whole page.
pub(crate) fn render(data: &ReportData, views: &[FlagView], warnings: &[String], scenes_with_imagery: usize) -> String {
    let statuses = data.plots.iter().map(|p| (p.plot_id.as_str(), plot_status(data, &p.plot_id, &p.state))).collect();
    let page = Page { data, views, statuses };
    let as_of = data.scan.as_of.map_or("-".into(), |d| d.to_string());
    let mut s = String::with_capacity(1 << 20);
    let _ = write!(
        s,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '{}'">
<meta name="generator" content="jingtu {}">
<title>jingtu scan report, as of {as_of}</title>
<style>{STYLE}</style>
</head>
<body>
<header class="top"><h1>Scan report <span class="muted">as of {as_of}</span></h1>
<p class="meta">scan <code>{}</code> · finished {} · store <code>{}</code> · jingtu {}</p>
<nav><a href="#summary">Summary</a> <a href="#map">Map</a> <a href="#plots">Plots</a> <a href="#flags">Flags</a> <a href="#scenes">Acquisitions</a> <a href="#method">How to read</a></nav>
</header>
<main>
"##,
        script_hash(),
        crate::flags::ENGINE_VERSION,
        esc(&data.scan.scan_id),
        esc(data.scan.finished_at.get(..19).unwrap_or(&data.scan.finished_at).replace('T', " ").as_str()),
        esc(&data.store_path.display().to_string()),
        crate::flags::ENGINE_VERSION,
    );
    summary(&mut s, &page, scenes_with_imagery);
    if !warnings.is_empty() {
        s.push_str(r#"<section class="warnings"><h2>Warnings</h2><ul>"#);
        for w in warnings {
            let _ = write!(s, "<li>{}</li>", esc(w));
        }
        s.push_str("</ul></section>\n");
    }
    map_section(&mut s, &page);
    plot_table(&mut s, &page);
    flag_sections(&mut s, &page);
    quiet_plots(&mut s, &page);
    scenes_section(&mut s, data);
    method(&mut s, data);
    let _ = write!(s, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
    s
}

fn summary(s: &mut String, page: &Page, scenes_with_imagery: usize) {
    let data = page.data;
    let count_state = |st: &str| data.plots.iter().filter(|p| p.state == st).count();
    let active = data.flags.iter().filter(|f| f.status != FlagStatus::Resolved).count();
    let new: Vec<&FlagInfo> = data.flags.iter().filter(|f| f.new_since_previous).collect();
    let first = data.scenes.first().map(|s| s.acquired.to_string()).unwrap_or_default();
    let last = data.scenes.last().map(|s| s.acquired.to_string()).unwrap_or_default();
    let (previous, new_heading) = match &data.previous {
        Some(p) => {
            let since =
                format!("since the previous scan (as of {})", p.as_of.map_or("-".to_string(), |d| d.to_string()));
            (since.clone(), format!("New {since}"))
        }
        None => (
            "this is the store's first scan".to_string(),
            "New flags: this is the store's first scan, so every flag is new".to_string(),
        ),
    };
    let _ = write!(
        s,
        r#"<section id="summary"><h2>Summary</h2><div class="cards">
<div class="card"><div class="big">{}</div><div>plots scanned</div><div class="muted">{} observed · {} unobserved · {} outside the scenes</div></div>
<div class="card"><div class="big">{}</div><div>acquisitions</div><div class="muted">{first} to {last}{}</div></div>
<div class="card"><div class="big">{}</div><div>flags</div><div class="muted">{active} active · {} resolved</div></div>
<div class="card{}"><div class="big">{}</div><div>new flags</div><div class="muted">{}</div></div>
</div>
"#,
        data.plots.len(),
        count_state("observed"),
        count_state("unobserved"),
        count_state("outside_scenes"),
        data.scenes.len(),
        if scenes_with_imagery < data.scenes.len() {
            format!(" · imagery found for {scenes_with_imagery}")
        } else {
            String::new()
        },
        data.flags.len(),
        data.flags.len() - active,
        if new.is_empty() { "" } else { " alert" },
        new.len(),
        esc(&previous),
    );
    // Flags by kind and status.
    let counts = data.counts();
    s.push_str(r#"<table class="counts"><thead><tr><th>kind</th>"#);
    for st in STATUSES {
        let _ = write!(s, "<th>{}</th>", st.name());
    }
    s.push_str("<th>total</th></tr></thead><tbody>");
    for k in KINDS {
        let Some(row) = counts.get(k.name()) else { continue };
        let _ = write!(s, "<tr><td>{}</td>", kind_badge(k));
        for st in STATUSES {
            let _ = write!(s, "<td>{}</td>", row.get(st.name()).copied().unwrap_or(0));
        }
        let _ = write!(s, "<td>{}</td></tr>", row.values().sum::<usize>());
    }
    if counts.is_empty() {
        s.push_str(r#"<tr><td colspan="5">no flags</td></tr>"#);
    }
    s.push_str("</tbody></table>\n");
    if !new.is_empty() {
        let _ = write!(s, "<h3>{}</h3><ul class=\"new-flags\">", esc(&new_heading));
        // What needs a decision first: active before resolved, then by kind and plot.
        let mut new = new;
        new.sort_by_key(|f| (f.status == FlagStatus::Resolved, f.flag.kind, f.flag.plot_id.clone()));
        for f in &new {
            let plot = f.flag.plot_id.as_deref().and_then(|p| data.plot(p));
            let _ = write!(
                s,
                r##"<li><a href="#{}">{} {} {}</a> {}</li>"##,
                anchor("flag-", &f.flag.flag_id),
                kind_badge(f.flag.kind),
                esc(f.flag.plot_id.as_deref().unwrap_or("")),
                plot.map(name_html).unwrap_or_default(),
                esc(f.flag.evidence.get("reason").and_then(|r| r.as_str()).unwrap_or("")),
            );
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

fn map_section(s: &mut String, page: &Page) {
    let data = page.data;
    let anchors: Vec<String> = data.plots.iter().map(|p| anchor("plot-", &p.plot_id)).collect();
    let plots: Vec<MapPlot> = data
        .plots
        .iter()
        .zip(&anchors)
        .map(|(p, a)| MapPlot {
            anchor: a,
            label: format!(
                "{} {}: {}",
                p.plot_id,
                p.name.as_deref().unwrap_or(""),
                page.statuses[p.plot_id.as_str()].label()
            ),
            status: page.statuses[p.plot_id.as_str()],
            rings: &p.rings,
        })
        .collect();
    let crs = data.frame.epsg.map_or("analysis CRS".to_string(), |e| format!("EPSG:{e}"));
    let _ = write!(
        s,
        r#"<section id="map"><h2>Overview map</h2><div class="map-wrap">{}</div><ul class="legend">"#,
        overview(&plots, &crs)
    );
    for st in PlotStatus::ALL {
        let n = page.statuses.values().filter(|v| **v == st).count();
        if n > 0 {
            let _ = write!(
                s,
                r#"<li><span class="swatch" style="background:{}"></span>{} ({n})</li>"#,
                st.colour(),
                st.label()
            );
        }
    }
    s.push_str("</ul></section>\n");
}

fn plot_table(s: &mut String, page: &Page) {
    let data = page.data;
    let categories: BTreeSet<&str> = data.plots.iter().filter_map(|p| p.category.as_deref()).collect();
    let kinds: BTreeSet<FlagKind> = data.flags.iter().map(|f| f.flag.kind).collect();
    let statuses: BTreeSet<FlagStatus> = data.flags.iter().map(|f| f.status).collect();
    s.push_str(r#"<section id="plots"><h2>Plots</h2><div class="filters">"#);
    let group = |s: &mut String, dim: &str, title: &str, values: Vec<(String, String)>| {
        let _ = write!(
            s,
            r#"<div class="filter-group" role="group" aria-label="{title}"><span class="fl">{title}</span><button type="button" class="filter" data-dim="{dim}" data-value="" aria-pressed="true">all</button>"#
        );
        for (v, label) in values {
            let _ = write!(
                s,
                r#"<button type="button" class="filter" data-dim="{dim}" data-value="{}" aria-pressed="false">{}</button>"#,
                esc(&v),
                esc(&label)
            );
        }
        s.push_str("</div>");
    };
    group(s, "category", "Category", categories.iter().map(|c| (c.to_string(), c.replace('_', " "))).collect());
    let mut kind_values: Vec<(String, String)> =
        kinds.iter().map(|k| (k.name().to_string(), k.name().replace('_', " "))).collect();
    kind_values.push(("none".into(), "no flags".into()));
    group(s, "kind", "Flag kind", kind_values);
    let mut status_values: Vec<(String, String)> =
        statuses.iter().map(|st| (st.name().to_string(), st.name().to_string())).collect();
    status_values.push(("none".into(), "no flags".into()));
    group(s, "status", "Flag status", status_values);
    let _ = write!(
        s,
        r#"</div><p id="shown" class="muted">{0} of {0} plots shown</p>
<div class="table-wrap"><table id="plot-table" class="plots"><thead><tr>
<th data-sort="text" aria-sort="none">plot</th><th data-sort="text">name</th><th data-sort="text">category</th><th data-sort="num">status</th><th data-sort="num">flags</th><th data-sort="num">flagged m²</th><th data-sort="num">confidence</th><th data-sort="num">obs.</th><th data-sort="text">last observed</th></tr></thead><tbody>
"#,
        data.plots.len()
    );
    for p in page.ordered_plots() {
        let flags = page.flags_of(&p.plot_id);
        let status = page.statuses[p.plot_id.as_str()];
        let kinds: BTreeSet<&str> = flags.iter().map(|(f, _)| f.flag.kind.name()).collect();
        let sts: BTreeSet<&str> = flags.iter().map(|(f, _)| f.status.name()).collect();
        let join = |set: BTreeSet<&str>| {
            if set.is_empty() { "none".to_string() } else { set.into_iter().collect::<Vec<_>>().join(" ") }
        };
        let area: f64 =
            flags.iter().filter(|(f, _)| f.status != FlagStatus::Resolved).map(|(f, _)| f.flag.area_m2).sum();
        let confidence = flags.iter().map(|(f, _)| f.flag.confidence).fold(f64::NAN, f64::max);
        let badges: Vec<String> = flags
            .iter()
            .map(|(f, _)| {
                format!(
                    r##"<a class="flag-link st-{}" href="#{}" title="{} {}">{}</a>"##,
                    f.status.name(),
                    anchor("flag-", &f.flag.flag_id),
                    f.flag.kind.name(),
                    f.status.name(),
                    kind_badge(f.flag.kind)
                )
            })
            .collect();
        let active = flags.iter().filter(|(f, _)| f.status != FlagStatus::Resolved).count();
        let _ = writeln!(
            s,
            r##"<tr data-category="{}" data-kind="{}" data-status="{}"><td><a href="#{}">{}</a></td><td>{}</td><td>{}</td><td data-sort="{}"><span class="dot" style="background:{}"></span>{}</td><td data-sort="{}">{}</td><td data-sort="{}">{}</td><td data-sort="{}">{}</td><td>{}</td><td>{}</td></tr>"##,
            esc(p.category.as_deref().unwrap_or("")),
            join(kinds),
            join(sts),
            anchor("plot-", &p.plot_id),
            esc(&p.plot_id),
            name_html(p),
            esc(&category_label(p.category.as_deref())),
            status.rank(),
            status.colour(),
            esc(status.label()),
            active * 100 + flags.len(),
            if badges.is_empty() { "-".to_string() } else { badges.join(" ") },
            area,
            if area > 0.0 { thousands(area) } else { "-".into() },
            if confidence.is_nan() { -1.0 } else { confidence },
            if confidence.is_nan() { "-".into() } else { format!("{confidence:.2}") },
            p.observations,
            esc(p.last_observed.as_deref().unwrap_or("-")),
        );
    }
    s.push_str("</tbody></table></div></section>\n");
}

fn flag_sections(s: &mut String, page: &Page) {
    let data = page.data;
    let _ = write!(
        s,
        r#"<section id="flags"><h2>Flags</h2>
<div class="mode" role="group" aria-label="chip colours"><span class="fl">Chips</span><button type="button" class="mode-btn" data-mode="true" aria-pressed="true">true colour</button><button type="button" class="mode-btn" data-mode="false" aria-pressed="false">false colour</button>
<span class="muted">yellow: flag outline · dashed cyan: plot boundary · both chips of a flag share one stretch</span></div>
"#
    );
    let mut any = false;
    for p in page.ordered_plots() {
        let flags = page.flags_of(&p.plot_id);
        if flags.is_empty() {
            continue;
        }
        any = true;
        let status = page.statuses[p.plot_id.as_str()];
        let _ = write!(
            s,
            r#"<section class="plot" id="{}"><h3><span class="dot" style="background:{}"></span>{} {} <span class="muted">{}{}</span></h3>
<p class="plot-facts">{} · observed on {} acquisitions, last {} · {}</p>
"#,
            anchor("plot-", &p.plot_id),
            status.colour(),
            esc(&p.plot_id),
            name_html(p),
            esc(&category_label(p.category.as_deref())),
            if p.works_allowed { " · approved works allowed" } else { "" },
            esc(status.label()),
            p.observations,
            esc(p.last_observed.as_deref().unwrap_or("-")),
            flags.len().to_string() + if flags.len() == 1 { " flag" } else { " flags" },
        );
        for (f, view) in flags {
            flag_article(s, data, f, view);
        }
        let _ = writeln!(
            s,
            r#"<details class="whole-plot"><summary>whole plot over time</summary>{}</details></section>"#,
            plot_chart(p)
        );
    }
    if !any {
        s.push_str("<p>No flags.</p>");
    }
    s.push_str("</section>\n");
}

fn flag_article(s: &mut String, data: &ReportData, f: &FlagInfo, view: Option<&FlagView>) {
    let flag = &f.flag;
    let ev = &flag.evidence;
    let reason = ev.get("reason").and_then(|r| r.as_str()).unwrap_or("");
    let mut facts =
        vec![format!("area {}\u{a0}m²", thousands(flag.area_m2)), format!("confidence {:.2}", flag.confidence)];
    if let Some(d) = flag.first_seen {
        facts.push(format!("first seen {d}"));
    }
    if let Some(d) = flag.last_seen {
        facts.push(format!("last seen {d}"));
    }
    if let (Some(b), Some(n)) = (flag.bare_since, flag.idle_days) {
        facts.push(format!("bare since {b} ({n} days)"));
    }
    if ev.get("permitted_works").and_then(|v| v.as_bool()) == Some(true) {
        facts.push("approved works: reported, not a violation".into());
    }
    let _ = write!(
        s,
        r#"<article class="flag st-{}" id="{}" data-kind="{}"><h4>{} {} {}<code class="fid">{}</code></h4>
<p class="reason">{}</p><p class="facts">{}</p><div class="evidence">"#,
        f.status.name(),
        anchor("flag-", &flag.flag_id),
        flag.kind.name(),
        kind_badge(flag.kind),
        status_badge(f.status),
        if f.new_since_previous { r#"<span class="badge newbadge">new since previous scan</span>"# } else { "" },
        esc(&flag.flag_id),
        if reason.is_empty() { "(no reason recorded)".to_string() } else { esc(reason) },
        esc(&facts.join(" · ")),
    );
    // What field checks found, latest first: the analyst reading the report sees whether the lead was
    // already followed up.
    for r in f.reviews.iter().rev() {
        let _ = write!(
            s,
            r#"<p class="review">field check: <b>{}</b> by {} on {}{}</p>"#,
            esc(&r.outcome.replace('_', " ")),
            esc(&r.reviewer),
            esc(r.reviewed_at.get(..10).unwrap_or(&r.reviewed_at)),
            r.note.as_deref().map(|n| format!(": {}", esc(n))).unwrap_or_default(),
        );
    }
    match view {
        Some(v) => {
            chips_html(s, data, v);
            let _ = write!(s, r#"<div class="side">{}"#, flag_chart(data, f, v));
        }
        None => s.push_str(r#"<div class="side">"#),
    }
    evidence_table(s, ev);
    s.push_str("</div></div></article>\n");
}

fn chips_html(s: &mut String, data: &ReportData, v: &FlagView) {
    s.push_str(r#"<div class="chips">"#);
    let (w, h) = (v.grid.width, v.grid.height);
    let anchor_date = |i: usize| data.scenes[i].acquired;
    for (role, pick) in [("before", v.before), ("after", v.after)] {
        let _ = write!(s, r#"<figure class="chip" data-role="{role}"><div class="frame">"#);
        if v.images.is_empty() {
            let _ = write!(
                s,
                r#"<div class="nochip" style="aspect-ratio:{w}/{h}">{}</div>"#,
                esc(v.missing.as_deref().unwrap_or("no imagery"))
            );
        } else {
            for (c, _, before, after) in &v.images {
                let png = if role == "before" { before } else { after };
                let _ = write!(
                    s,
                    r#"<img class="img-{}" width="{w}" height="{h}" alt="{role}, {}" src="data:image/png;base64,{}">"#,
                    c.key,
                    esc(c.label),
                    base64::engine::general_purpose::STANDARD.encode(png)
                );
            }
            let _ = write!(
                s,
                r#"<svg class="overlay" viewBox="0 0 {w} {h}" preserveAspectRatio="none" aria-hidden="true"><path class="plot-line" d="{}"/><path class="flag-halo" d="{}"/><path class="flag-line" d="{}"/></svg>"#,
                v.plot_path, v.flag_path, v.flag_path
            );
        }
        s.push_str("</div><figcaption>");
        match pick {
            Some((i, clear)) => {
                let sc = &data.scenes[i];
                let note = if role == "before" && v.after.is_some_and(|a| anchor_date(a.0) <= sc.acquired) {
                    " (no earlier acquisition)"
                } else {
                    ""
                };
                let _ = write!(
                    s,
                    r#"<b>{}</b> {}{note}<br><span class="muted">{} · flagged area {} clear</span>"#,
                    if role == "before" { "Before" } else { "After" },
                    sc.acquired,
                    esc(&sc.scene_id),
                    pct(clear)
                );
            }
            None => {
                let _ = write!(s, "<b>{}</b> no acquisition", if role == "before" { "Before" } else { "After" });
            }
        }
        s.push_str("</figcaption></figure>");
    }
    if !v.images.is_empty() {
        let res = v.grid.transform.pixel_size().0;
        s.push_str(r#"<p class="stretch muted">"#);
        let _ = write!(
            s,
            "{w} × {h} pixels of {res}\u{a0}m. One stretch for both dates and all three bands (2–98\u{a0}% of their clear pixels): reflectance "
        );
        let parts: Vec<String> = v
            .images
            .iter()
            .map(|(c, st, ..)| format!(r#"<span class="img-{}">{:.3}–{:.3}</span>"#, c.key, st.lo[0], st.hi[0]))
            .collect();
        s.push_str(&parts.join(""));
        s.push_str("</p>");
    }
    s.push_str("</div>");
}

fn flag_chart(data: &ReportData, f: &FlagInfo, v: &FlagView) -> String {
    let mut markers = Vec::new();
    let colour = hex(kind_colour(f.flag.kind));
    if let Some(b) = f.flag.bare_since {
        markers.push(Marker { date: b, label: "bare since".into(), colour: colour.clone() });
    } else if let Some(d) = f.flag.first_seen {
        markers.push(Marker { date: d, label: "first seen".into(), colour: colour.clone() });
    }
    for (label, pick) in [("B", v.before), ("A", v.after)] {
        if let Some((i, _)) = pick {
            markers.push(Marker { date: data.scenes[i].acquired, label: label.into(), colour: "#555".into() });
        }
    }
    let valid = v.series.iter().filter(|p| p.clear.is_some_and(|c| c >= CLEAR_ENOUGH)).count();
    let cloudy = v.series.iter().filter(|p| p.clear.is_some_and(|c| c < CLEAR_ENOUGH)).count();
    let missing = v.series.iter().filter(|p| p.clear.is_none()).count();
    format!(
        r#"<div class="chart-box"><div class="chart-title">Flagged area over time: clear on {valid} of {} acquisitions{}{}</div>{}</div>"#,
        v.series.len(),
        if cloudy > 0 { format!(", {cloudy} mostly clouded") } else { String::new() },
        if missing > 0 { format!(", {missing} without imagery") } else { String::new() },
        series_chart(&format!("NDVI and BSI of flag {}", f.flag.flag_id), &v.series, &markers)
    )
}

fn plot_chart(p: &PlotInfo) -> String {
    let points: Vec<SeriesPoint> = p
        .days
        .iter()
        .map(|d| SeriesPoint {
            date: d.acquired,
            scene_id: String::new(),
            clear: Some(d.clear_fraction),
            ndvi: d.ndvi,
            bsi: d.bsi,
        })
        .collect();
    series_chart(&format!("NDVI and BSI of plot {}", p.plot_id), &points, &[])
}

fn fmt_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n.as_f64().map_or(n.to_string(), |x| {
            if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.3}").trim_end_matches('0').to_string() }
        }),
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn evidence_table(s: &mut String, ev: &serde_json::Value) {
    let idx = |part: &str, key: &str| ev.get(part).and_then(|p| p.get(key)).map(fmt_value).unwrap_or("-".into());
    let _ = write!(
        s,
        r#"<table class="ev"><thead><tr><th></th><th>before</th><th>latest</th></tr></thead><tbody><tr><th>NDVI</th><td>{}</td><td>{}</td></tr><tr><th>BSI</th><td>{}</td><td>{}</td></tr></tbody></table><dl class="ev">"#,
        idx("before", "ndvi"),
        idx("latest", "ndvi"),
        idx("before", "bsi"),
        idx("latest", "bsi"),
    );
    if let Some(map) = ev.as_object() {
        for (k, v) in map {
            if matches!(k.as_str(), "before" | "latest" | "reason" | "scenes") {
                continue;
            }
            let text = if k == "cloud_fraction" { v.as_f64().map_or(fmt_value(v), pct) } else { fmt_value(v) };
            let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(&k.replace('_', " ")), esc(&text));
        }
        if let Some(sc) = map.get("scenes") {
            for part in ["first", "last"] {
                if let Some(p) = sc.get(part) {
                    let date = p.get("date").map(fmt_value).unwrap_or_default();
                    let id = p.get("id").and_then(|v| v.as_str()).map(|i| format!(" ({i})")).unwrap_or_default();
                    let _ = write!(s, "<dt>scene {part}</dt><dd>{}</dd>", esc(&format!("{date}{id}")));
                }
            }
        }
    }
    s.push_str("</dl>");
}

fn quiet_plots(s: &mut String, page: &Page) {
    let rest: Vec<&PlotInfo> =
        page.ordered_plots().into_iter().filter(|p| page.flags_of(&p.plot_id).is_empty()).collect();
    let _ = write!(
        s,
        r#"<section id="other-plots"><h2>Plots without flags <span class="muted">({})</span></h2>"#,
        rest.len()
    );
    for p in rest {
        let status = page.statuses[p.plot_id.as_str()];
        let _ = writeln!(
            s,
            r#"<details class="quiet" id="{}"><summary><span class="dot" style="background:{}"></span>{} {} <span class="muted">{} · {} · observed on {} acquisitions</span></summary>{}</details>"#,
            anchor("plot-", &p.plot_id),
            status.colour(),
            esc(&p.plot_id),
            name_html(p),
            esc(&category_label(p.category.as_deref())),
            esc(status.label()),
            p.observations,
            plot_chart(p)
        );
    }
    s.push_str("</section>\n");
}

fn scenes_section(s: &mut String, data: &ReportData) {
    let _ = write!(
        s,
        r#"<section id="scenes"><h2>Acquisitions <span class="muted">({})</span></h2><div class="table-wrap"><table class="scenes"><thead><tr><th>date</th><th>scene</th><th>scene cloud cover</th><th>plots clear</th></tr></thead><tbody>"#,
        data.scenes.len()
    );
    for sc in &data.scenes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            sc.acquired,
            esc(&sc.scene_id),
            sc.cloud_cover.map_or("-".into(), |c| format!("{c:.1}\u{a0}%")),
            sc.plots_clear.map_or("-".into(), pct),
        );
    }
    s.push_str("</tbody></table></div></section>\n");
}

fn method(s: &mut String, data: &ReportData) {
    let _ = write!(
        s,
        r#"<section id="method"><h2>How to read this report</h2><ul>
<li>A flag is a lead for a field check, not proof. Each flag shows the acquisition before the event (the latest one before it was first seen, or before the bare run began for idle ground, on which the flagged area was clear) and the latest acquisition that showed it, cut on the same {res}&nbsp;m grid.</li>
<li>Both chips of a flag share one linear stretch (2–98&nbsp;% of the clear pixels of both dates and all three bands), so a change of colour is a change on the ground, not of contrast, and colours keep their balance. Black pixels have no observation.</li>
<li>False colour uses SWIR 1.6&nbsp;µm, NIR and red where the sensor has SWIR: vegetation is green, bare soil and buildings pink to brown, water dark blue. Without SWIR it is colour infrared: vegetation red.</li>
<li>The chart shows the flagged area's mean NDVI (green) and BSI (brown) on every acquisition where at least half of it was clear, measured again from the imagery with the scan's cloud masking; the strip below is the clear share of the area (dark blue: counted, light: mostly clouded, empty with a line: imagery not available).</li>
<li>NDVI = (nir − red)/(nir + red): high for vegetation. BSI = ((swir1 + red) − (nir + blue))/((swir1 + red) + (nir + blue)) (Rikimaru 2002): high for bare soil.</li>
<li>Status: <b>new</b> flags first appeared on the latest acquisition, <b>ongoing</b> ones earlier and are still there, <b>resolved</b> ones are re-greened, covered or gone. “New since the previous scan” compares with the previous scan in the store.</li>
</ul><p class="muted">Evidence and outlines are as stored; statuses are as of this scan. Generated by jingtu {version} from {store}.</p></section>
"#,
        res = data.frame.resolution,
        version = crate::flags::ENGINE_VERSION,
        store = esc(&data.store_path.display().to_string())
    );
}

#[cfg(test)]
mod csp_tests {
    #[test]
    fn the_policy_allows_the_page_script_by_hash_and_no_inline_script() {
        let hash = super::script_hash();
        assert!(hash.starts_with("sha256-") && hash.len() == 7 + 44, "{hash}");
    }
}
