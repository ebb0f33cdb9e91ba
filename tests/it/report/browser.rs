//! Issue 6, acceptance 1: the demo's report, opened in headless Chromium, renders without console
//! errors; every flag section has two loaded image chips and a chart; the plot table's filters and
//! sorting work when clicked. Screenshots land in `target/tmp/report-screenshots/`.
//!
//! Needs Chromium (`./.ci/setup-debian` installs Debian's `chromium`); fails without it unless
//! `JINGTU_SKIP_BROWSER_TESTS=1`, as the GPU tests do without a Vulkan driver.

use crate::support as common;
use crate::support::browser;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn chromium_or_skip() -> Option<PathBuf> {
    match browser::chromium() {
        Some(p) => Some(p),
        None if std::env::var_os("JINGTU_SKIP_BROWSER_TESTS").is_some() => {
            eprintln!("SKIPPED: no Chromium and JINGTU_SKIP_BROWSER_TESTS is set");
            None
        }
        None => panic!(
            "no Chromium found (/usr/bin/chromium or JINGTU_CHROMIUM): run ./.ci/setup-debian, or set \
             JINGTU_SKIP_BROWSER_TESTS=1 on a machine that cannot have one"
        ),
    }
}

/// Decodes a PNG screenshot: (width, height, RGBA or RGB bytes, channels).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, channels)
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    println!("screenshot: {} ({} bytes)", p.display(), bytes.len());
    p
}

/// Visible rows of the plot table and the text of the counter.
fn visible_rows(b: &mut browser::Browser) -> Value {
    b.eval(
        "(() => { const rows = [...document.querySelectorAll('#plot-table tbody tr')]; \
         const vis = rows.filter(r => !r.hidden && r.offsetParent !== null); \
         return {total: rows.length, visible: vis.length, shown: document.getElementById('shown').textContent, \
         kinds: vis.map(r => r.dataset.kind), statuses: vis.map(r => r.dataset.status), \
         categories: vis.map(r => r.dataset.category), \
         confidence: vis.map(r => parseFloat(r.cells[6].dataset.sort))}; })()",
    )
}

#[test]
fn demo_report_renders_in_chromium_with_chips_charts_and_working_filters() {
    let Some(chrome) = chromium_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let run = common::jingtu(["demo", "--out", demo.to_str().unwrap(), "--backend", "cpu", "--json"]);
    run.expect_code(0, "jingtu demo");
    let summary = run.json_summary();
    let report = &summary["report"];
    let flags_total = report["flags_total"].as_u64().expect("the summary counts the report's flags");
    assert!(flags_total >= 20, "the demo should raise a good number of flags: {report}");
    assert_eq!(report["flags_with_chips"], report["flags_total"], "every demo flag has imagery");
    let html = demo.join("report.html");
    assert_eq!(report["html"].as_str().map(PathBuf::from), Some(html.clone()));
    let text = std::fs::read_to_string(&html).unwrap();
    for forbidden in ["<link ", "src=\"http", "url(http", "@import"] {
        assert!(!text.contains(forbidden), "the report must not load anything: found {forbidden}");
    }

    let mut b = browser::Browser::launch(&chrome, 1400, 1000);
    b.navigate(&format!("file://{}", html.display()));
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");

    // Structure: every flag has two loaded chips with outlines and a chart.
    let dom = b.eval(
        "(() => { const arts = [...document.querySelectorAll('article.flag')]; \
         const ok = img => img && img.complete && img.naturalWidth > 0; \
         return {flags: arts.length, \
           bad: arts.filter(a => { const chips = [...a.querySelectorAll('figure.chip')]; \
             return chips.length !== 2 \
               || !chips.every(f => ok(f.querySelector('img.img-true')) && ok(f.querySelector('img.img-false'))) \
               || !chips.every(f => (f.querySelector('svg.overlay path.flag-line')?.getAttribute('d') || '').length > 4) \
               || a.querySelectorAll('svg.chart').length !== 1 \
               || a.querySelector('svg.chart circle') === null \
               || a.querySelector('.reason').textContent.length < 20; }).map(a => a.id), \
           broken: [...document.images].filter(i => !ok(i)).length, \
           images: document.images.length, \
           map_plots: document.querySelectorAll('svg.overview a.map-plot').length, \
           plots: document.querySelectorAll('#plot-table tbody tr').length, \
           chip_width: document.querySelector('figure.chip img.img-true').getBoundingClientRect().width, \
           title: document.title}; })()",
    );
    println!("{dom}");
    assert_eq!(dom["flags"].as_u64(), Some(flags_total), "one section per flag: {dom}");
    assert_eq!(dom["bad"], serde_json::json!([]), "flag sections without two chips and a chart");
    assert_eq!(dom["broken"], 0, "{dom}");
    assert_eq!(dom["images"].as_u64(), Some(4 * flags_total), "true and false colour, before and after");
    assert_eq!(dom["plots"].as_u64(), summary["plots"].as_u64());
    assert_eq!(dom["map_plots"].as_u64(), summary["plots"].as_u64());
    assert!(dom["chip_width"].as_f64().unwrap() >= 200.0, "chips are shown large enough to judge: {dom}");

    let top = b.screenshot();
    let top_path = save(&shots, "report-top.png", &top);
    let (w, h, px, ch) = decode(&top);
    assert_eq!((w, h), (1400, 1000));
    assert_eq!(&px[..3], &[0x18, 0x32, 0x4f], "the header band is drawn ({})", top_path.display());
    let distinct: std::collections::HashSet<&[u8]> = px.chunks(ch).map(|c| &c[..3]).collect();
    assert!(distinct.len() > 200, "a rendered page, not a blank one: {} colours", distinct.len());

    // Filters: a click on a kind hides the plots without that kind.
    let all = visible_rows(&mut b);
    let total = all["total"].as_u64().unwrap();
    assert_eq!(all["visible"].as_u64(), Some(total));
    b.click("button.filter[data-dim='kind'][data-value='construction']");
    let only = visible_rows(&mut b);
    let n = only["visible"].as_u64().unwrap();
    assert!(n > 0 && n < total, "the construction filter hides rows: {only}");
    assert!(
        only["kinds"].as_array().unwrap().iter().all(|k| k.as_str().unwrap().split(' ').any(|k| k == "construction"))
    );
    assert_eq!(only["shown"], format!("{n} of {total} plots shown"));
    b.click("button.filter[data-dim='status'][data-value='ongoing']");
    let both = visible_rows(&mut b);
    assert!(both["visible"].as_u64().unwrap() <= n);
    assert!(both["statuses"].as_array().unwrap().iter().all(|s| s.as_str().unwrap().contains("ongoing")));
    b.click("button.filter[data-dim='kind'][data-value='']");
    b.click("button.filter[data-dim='status'][data-value='']");
    assert_eq!(visible_rows(&mut b)["visible"].as_u64(), Some(total), "'all' shows every plot again");
    b.click("button.filter[data-dim='category'][data-value='bare_soil']");
    let bare = visible_rows(&mut b);
    assert!(bare["visible"].as_u64().unwrap() < total);
    assert!(bare["categories"].as_array().unwrap().iter().all(|c| c == "bare_soil"), "{bare}");
    let filtered = b.screenshot();
    save(&shots, "report-filtered.png", &filtered);
    b.click("button.filter[data-dim='category'][data-value='']");

    // Sorting: two clicks on "confidence" sort it descending.
    b.click("#plot-table th:nth-child(7)");
    b.click("#plot-table th:nth-child(7)");
    let sorted = visible_rows(&mut b);
    let conf: Vec<f64> = sorted["confidence"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(conf.windows(2).all(|w| w[0] >= w[1]), "descending by confidence: {conf:?}");

    // A table link leads to the plot's section; the colour switch shows the false-colour chips.
    b.click("#plot-table tbody tr:first-child td:first-child a");
    let target = b.eval("(() => { const e = document.getElementById(decodeURIComponent(location.hash.slice(1))); return e ? e.className : null; })()");
    assert!(target.as_str().is_some_and(|c| c.contains("plot")), "the link reaches a plot section: {target}");
    b.click("button.mode-btn[data-mode='false']");
    let modes = b.eval(
        "(() => { const f = document.querySelector('article.flag figure.chip'); \
         return [f.querySelector('img.img-true').offsetWidth, f.querySelector('img.img-false').offsetWidth]; })()",
    );
    assert!(modes[0] == 0 && modes[1].as_f64().unwrap() > 0.0, "false colour replaces true colour: {modes}");
    b.click("button.mode-btn[data-mode='true']");
    b.eval("document.querySelector('article.flag').scrollIntoView({block: 'start'})");
    let flag_shot = b.screenshot();
    save(&shots, "report-flag.png", &flag_shot);
    assert!(decode(&flag_shot).2.len() > 1000);

    let errors = b.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
