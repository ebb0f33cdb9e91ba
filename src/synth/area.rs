//! The demo area: a few kilometres of Jiangsu-like countryside with registered plots of every category,
//! a year of monthly Sentinel-2-like acquisitions, and the truth of what happened on every plot.
//!
//! ```text
//!  +--------------------------------------------------------------+   640 x 640 px at 10 m, EPSG:32651
//!  | fields (rice-wheat rotation)   ====== road ======   village  |
//!  |   +------+          +---------+            +------+          |   plots (rectangles on 10 m edges):
//!  |   | P1   |  canal   | P2 ##   |  ponds     | P3   |          |     base cover stays as it is,
//!  |   |  ### |  ~~~~~~  |    ##   |            | ~~~  |          |     one event region (###) per plot
//!  |   +------+          +---------+            +------+          |     follows its scenario
//!  |        trees               clouds + shadows drift each month |
//!  +--------------------------------------------------------------+
//! ```
//!
//! Scenarios per event region (month m0 is drawn per plot):
//! - construction: grass, one month of excavation, then a concrete or blue steel building;
//! - earthworks: pits of moist soil and heaps of light fill that swap every month for 2-4 months, then
//!   covered, re-greened, continued or left bare (then idle);
//! - idle: bare soil from m0 (demolished factory, stripped grass or bare from the start), sometimes
//!   re-greened late;
//! - negatives: bare 1-2 months then re-greened or netted, seasonal crops, stable grass, old buildings,
//!   construction and works on construction sites (not watched), approved remediation works (reported
//!   as permitted).
//!
//! Acquisitions carry realistic nuisances: clouds with thin edges and shadows flagged in SCL, a few
//! clouds SCL misses, a wet month that darkens all soil, a swath edge of nodata, per-scene atmosphere
//! and sensor noise.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::noise::ValueNoise;
use super::rng::Rng;
use super::spectra::{self, Spectrum, mix};
use crate::error::{Error, Result};
use crate::flags::FlagKind;
use crate::io::dates::add_months;
use crate::io::plots::Category;
use crate::raster::GeoTransform;

/// West edge of the demo area (UTM 51N easting, about 120.9 E near Taizhou).
const ORIGIN_X: f64 = 300_000.0;
/// North edge (about 32.5 N).
const ORIGIN_Y: f64 = 3_600_000.0;
/// Pixel size in metres.
const PIXEL: f64 = 10.0;
/// Size of the cells plots are placed in.
const CELL: usize = 32;

/// Which mix of scenarios to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventMix {
    /// The demo's mix.
    Standard,
    /// A different mix (more works and idle ground, fewer negatives), to check that defaults are not
    /// fitted to one area.
    Alternative,
}

/// What to generate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AreaSpec {
    /// Seed of everything.
    pub seed: u64,
    /// Pixels per side.
    pub size: usize,
    /// Plots per category.
    pub plots_per_category: usize,
    /// Month of the first acquisition (day ignored).
    pub first_month: NaiveDate,
    /// Monthly acquisitions, history included.
    pub months: usize,
    /// Acquisitions at the start in which nothing happens yet: the year of history each pixel's
    /// seasonal model needs before it can tell stripping from a harvest.
    #[serde(default)]
    pub history_months: usize,
    /// Scenario mix.
    pub mix: EventMix,
}

impl Default for AreaSpec {
    fn default() -> Self {
        AreaSpec {
            seed: 2026,
            size: 640,
            plots_per_category: 20,
            first_month: NaiveDate::from_ymd_opt(2024, 11, 1).expect("date"),
            months: 25,
            history_months: 12,
            mix: EventMix::Standard,
        }
    }
}

/// A pixel rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixRect {
    /// First column.
    pub col: usize,
    /// First row.
    pub row: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl PixRect {
    /// Pixels inside.
    pub fn pixels(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (self.row..self.row + self.height).flat_map(move |r| (self.col..self.col + self.width).map(move |c| (c, r)))
    }
}

/// What happens in an event region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// A new building (flagged on watched plots).
    Construction,
    /// Works (flagged on watched plots).
    Earthworks,
    /// Bare ground left idle (flagged everywhere).
    IdleBare,
    /// Bare for a short while, then re-greened (never idle).
    Regreened,
    /// Bare for a short while, then covered with dust nets (never idle).
    Covered,
    /// Crops with their seasonal bare weeks (never idle, never works).
    SeasonalCrop,
    /// Grass throughout.
    StableVegetation,
    /// An old building throughout.
    StableBuilt,
    /// A building on a construction site (not watched for construction).
    ExpectedConstruction,
    /// Works on a construction site (not watched for works).
    ExpectedWorks,
    /// Approved remediation works on a listed plot (reported as permitted).
    PermittedWorks,
}

/// How works end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorksOutcome {
    /// Dust nets.
    Covered,
    /// Grass sown.
    Regreened,
    /// Still going at the last acquisition.
    Continued,
    /// Left as bare soil: idle afterwards.
    LeftBare,
}

/// A plot of the demo registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthPlot {
    /// Id.
    pub plot_id: String,
    /// Chinese name.
    pub name: String,
    /// Category.
    pub category: Category,
    /// Approved works allowed.
    pub works_allowed: bool,
    /// Footprint.
    pub rect: PixRect,
}

/// A true event (or a negative: something that must not be flagged).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthEvent {
    /// Id.
    pub id: String,
    /// Plot.
    pub plot_id: String,
    /// Scenario.
    pub scenario: Scenario,
    /// Region.
    pub rect: PixRect,
    /// Month index the scenario starts.
    pub start_month: usize,
    /// Month index it ends (exclusive; `months` when it lasts).
    pub end_month: usize,
    /// The flag kind expected on it, `None` for negatives.
    pub expected: Option<FlagKind>,
    /// Expected flags are reported as permitted works.
    pub permitted: bool,
    /// For idle ground: no idle flag may appear before this date (three months after the run began).
    pub idle_not_before: Option<NaiveDate>,
    /// For idle ground: the first acquisition at which the idle flag must be there.
    pub idle_expected_by: Option<NaiveDate>,
    /// Whether the acquisitions saw enough of it to detect it at all (clouds can hide an event): works
    /// seen clear on two acquisitions, a building seen once before and twice after it went up, idle
    /// ground with an `idle_expected_by`. Unobservable events are neither found nor missed.
    pub observable: bool,
    /// For idle ground after works: the run starts after the settled soil is first seen.
    pub after_settling: bool,
    /// How works ended.
    pub outcome: Option<WorksOutcome>,
}

/// Everything a test needs to score a scan of the area.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AreaTruth {
    /// The generation settings.
    pub spec: AreaSpec,
    /// Pixel grid of the scenes.
    pub transform: GeoTransform,
    /// EPSG code of the scenes.
    pub epsg: u32,
    /// Plots.
    pub plots: Vec<TruthPlot>,
    /// Events and negatives.
    pub events: Vec<TruthEvent>,
    /// Acquisitions (id, date), in order.
    pub acquisitions: Vec<(String, NaiveDate)>,
}

/// A generated area on disk.
#[derive(Debug, Clone)]
pub struct DemoArea {
    /// Its folder.
    pub dir: PathBuf,
    /// The plot registry (GeoPackage, EPSG:32651).
    pub plots: PathBuf,
    /// The STAC Collection (`catalog.json`, linking one Item file per acquisition).
    pub stac: PathBuf,
    /// The truth (also written as truth.json).
    pub truth: AreaTruth,
}

/// Ground covers the painter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Cover {
    Crop,
    Grass,
    Trees,
    Soil,
    MoistSoil,
    Fill,
    Concrete,
    BlueRoof,
    Asphalt,
    Water,
    Net,
}

/// The months of a scenario, painted into per-month cover arrays.
struct Painter {
    size: usize,
    months: usize,
    covers: Vec<Vec<Cover>>,
}

impl Painter {
    fn set(&mut self, month: usize, c: usize, r: usize, cover: Cover) {
        self.covers[month][r * self.size + c] = cover;
    }

    fn fill_rect(
        &mut self,
        rect: &PixRect,
        months: std::ops::Range<usize>,
        cover: impl Fn(usize, usize, usize) -> Cover,
    ) {
        for m in months.start..months.end.min(self.months) {
            for (c, r) in rect.pixels() {
                self.set(m, c, r, cover(m, c, r));
            }
        }
    }
}

/// Generates the area into `dir` (which must not hold an earlier area's files).
pub fn generate(dir: &Path, spec: &AreaSpec) -> Result<DemoArea> {
    crate::io::gdal_env::init();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let rng = Rng::new(spec.seed);
    let size = spec.size;
    let months = spec.months;
    let dates: Vec<NaiveDate> = (0..months)
        .map(|m| {
            let month = add_months(spec.first_month.with_day(1).expect("day 1"), m as u32);
            let day = 5 + rng.fork(100 + m as u64).int(0, 16) as u32;
            month.with_day(day).expect("days 5-20 exist in every month")
        })
        .collect();
    let mut painter = Painter { size, months, covers: vec![background(size, &rng); months] };
    let (plots, events) = layout(spec, &rng, &mut painter);
    let clouds: Vec<CloudField> = (0..months).map(|m| CloudField::new(size, &rng.fork(500 + m as u64), m)).collect();
    let mut truth_events = events;
    for e in truth_events.iter_mut() {
        match e.expected {
            Some(FlagKind::IdleBare) => {
                let (not_before, expected_by) = idle_timing(e, &dates, &clouds);
                e.idle_not_before = Some(not_before);
                e.idle_expected_by = expected_by;
                e.observable = expected_by.is_some();
            }
            Some(FlagKind::Earthworks) => e.observable = seen(e, e.start_month..e.end_month, &clouds) >= 2,
            Some(FlagKind::Construction) => {
                e.observable =
                    seen(e, 0..e.start_month - 1, &clouds) >= 1 && seen(e, e.start_month..months, &clouds) >= 2
            }
            _ => {}
        }
    }
    let transform = GeoTransform::north_up(ORIGIN_X, ORIGIN_Y, PIXEL, PIXEL);
    let acquisitions: Vec<(String, NaiveDate)> = dates
        .iter()
        .map(|d| {
            (
                format!("S2{}_MSIL2A_{}T025101_T51STR", if d.month() % 2 == 0 { "A" } else { "B" }, d.format("%Y%m%d")),
                *d,
            )
        })
        .collect();
    let scenes_dir = dir.join("scenes");
    std::fs::create_dir_all(&scenes_dir).map_err(|e| Error::io(&scenes_dir, e))?;
    let textures = Textures::new(spec.seed);
    let mut items = Vec::new();
    for (m, (id, date)) in acquisitions.iter().enumerate() {
        let scene_dir = scenes_dir.join(date.to_string());
        let written = super::scene_writer::write_scene(&scene_dir, size, &transform, |c, r| {
            pixel_at(&painter.covers[m][r * size + c], m, date, c, r, &textures, &clouds[m], &rng)
        })?;
        items.push(super::scene_writer::stac_item(
            id,
            date,
            &scene_dir,
            dir,
            written.cloud_cover,
            &transform,
            size,
            32651,
        )?);
    }
    let stac = super::scene_writer::write_catalog(dir, &mut items)?;
    let plots_path = dir.join("plots.gpkg");
    super::scene_writer::write_plots(&plots_path, &plots, &transform, dates[0])?;
    let truth = AreaTruth { spec: spec.clone(), transform, epsg: 32651, plots, events: truth_events, acquisitions };
    let truth_path = dir.join("truth.json");
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth).expect("serializable"))
        .map_err(|e| Error::io(&truth_path, e))?;
    Ok(DemoArea { dir: dir.to_path_buf(), plots: plots_path, stac, truth })
}

/// Fields, roads, a canal, ponds, villages and trees.
fn background(size: usize, rng: &Rng) -> Vec<Cover> {
    let mut r = rng.fork(1);
    let mut covers = vec![Cover::Crop; size * size];
    let fields = ValueNoise::new(rng.fork(2).next_u64(), 90.0, 2);
    for row in 0..size {
        for col in 0..size {
            let v = fields.at(col as f64, row as f64);
            covers[row * size + col] = if v > 0.55 {
                Cover::Trees
            } else if v < -0.6 {
                Cover::Water
            } else {
                Cover::Crop
            };
        }
    }
    for _ in 0..6 {
        let (c0, r0) = (r.int(0, size as i64 - 40) as usize, r.int(0, size as i64 - 40) as usize);
        let (w, h) = (r.int(15, 40) as usize, r.int(15, 40) as usize);
        for row in r0..(r0 + h).min(size) {
            for col in c0..(c0 + w).min(size) {
                covers[row * size + col] = if (row / 3 + col / 4) % 3 == 0 { Cover::BlueRoof } else { Cover::Concrete };
            }
        }
    }
    for k in 0..3 {
        let at = r.int(20, size as i64 - 20) as usize;
        for i in 0..size {
            for w in 0..2 {
                let (c, rr) = if k % 2 == 0 { (i, at + w) } else { (at + w, i) };
                covers[rr * size + c] = Cover::Asphalt;
            }
        }
    }
    let canal = r.int(30, size as i64 - 30) as usize;
    for row in 0..size {
        for w in 0..3 {
            covers[row * size + canal + w] = Cover::Water;
        }
    }
    covers
}

/// Places plots in cells and draws each plot's scenario.
fn layout(spec: &AreaSpec, rng: &Rng, painter: &mut Painter) -> (Vec<TruthPlot>, Vec<TruthEvent>) {
    let cells_per_side = spec.size / CELL;
    let mut cells: Vec<(usize, usize)> =
        (0..cells_per_side).flat_map(|r| (0..cells_per_side).map(move |c| (c, r))).collect();
    let mut r = rng.fork(3);
    for i in (1..cells.len()).rev() {
        let j = r.int(0, i as i64 + 1) as usize;
        cells.swap(i, j);
    }
    let stems = [
        "化工厂旧址",
        "农药厂地块",
        "电镀厂旧址",
        "印染厂地块",
        "钢铁厂旧址",
        "造纸厂地块",
        "制药厂旧址",
        "焦化厂地块",
    ];
    let districts = ["海陵区", "高港区", "姜堰区", "兴化市", "靖江市", "泰兴市"];
    let mut plots = Vec::new();
    let mut events = Vec::new();
    let mut next_cell = cells.into_iter();
    for (ci, category) in Category::ALL.into_iter().enumerate() {
        let scenarios = scenario_deck(category, spec.plots_per_category, spec.mix, &mut r.fork(10 + ci as u64));
        for (k, (scenario, works_allowed)) in scenarios.into_iter().enumerate() {
            let (cx, cy) = next_cell.next().expect("enough cells for the plots");
            let mut pr = r.fork((ci * 1000 + k) as u64);
            let w = pr.int(16, 27) as usize;
            let h = pr.int(14, 25) as usize;
            let col = cx * CELL + pr.int(2, (CELL - w - 1) as i64) as usize;
            let row = cy * CELL + pr.int(2, (CELL - h - 1) as i64) as usize;
            let rect = PixRect { col, row, width: w, height: h };
            let plot_id = format!("TZ-{}-{:03}", ["CL", "LI", "BS", "CS"][ci], k + 1);
            let name =
                format!("{}{}{:02}", districts[(k + ci) % districts.len()], stems[(k * 3 + ci) % stems.len()], k + 1);
            let base = base_cover(category, &mut pr);
            painter.fill_rect(&rect, 0..spec.months, |_, _, _| base);
            let ew = pr.int(7, (w - 2).min(14) as i64 + 1) as usize;
            let eh = pr.int(7, (h - 2).min(13) as i64 + 1) as usize;
            let ev = PixRect {
                col: col + pr.int(1, (w - ew) as i64) as usize,
                row: row + pr.int(1, (h - eh) as i64) as usize,
                width: ew,
                height: eh,
            };
            let event = paint_scenario(
                scenario,
                category,
                works_allowed,
                &plot_id,
                ev,
                (spec.history_months, spec.months),
                &mut pr,
                painter,
            );
            events.extend(event);
            plots.push(TruthPlot { plot_id, name, category, works_allowed, rect });
        }
    }
    (plots, events)
}

/// The scenarios of one category's plots, shuffled; the bool is `works_allowed`.
fn scenario_deck(category: Category, n: usize, mix: EventMix, r: &mut Rng) -> Vec<(Scenario, bool)> {
    use Scenario::*;
    let standard: &[(Scenario, usize)] = match category {
        Category::ContaminatedListed => &[
            (Construction, 5),
            (Earthworks, 5),
            (IdleBare, 3),
            (PermittedWorks, 2),
            (Covered, 2),
            (StableVegetation, 3),
        ],
        Category::LegacyIndustrial => {
            &[(Construction, 4), (Earthworks, 3), (IdleBare, 4), (Regreened, 3), (Covered, 3), (StableBuilt, 3)]
        }
        Category::BareSoil => &[(IdleBare, 7), (Regreened, 4), (SeasonalCrop, 5), (Covered, 4)],
        Category::ConstructionSite => &[(ExpectedConstruction, 6), (IdleBare, 5), (Covered, 5), (ExpectedWorks, 4)],
    };
    let alternative: &[(Scenario, usize)] = match category {
        Category::ContaminatedListed => {
            &[(Construction, 7), (Earthworks, 7), (IdleBare, 4), (PermittedWorks, 1), (Regreened, 1)]
        }
        Category::LegacyIndustrial => {
            &[(Construction, 6), (Earthworks, 5), (IdleBare, 6), (SeasonalCrop, 1), (Covered, 2)]
        }
        Category::BareSoil => &[(IdleBare, 10), (Regreened, 3), (SeasonalCrop, 4), (Covered, 3)],
        Category::ConstructionSite => &[(ExpectedConstruction, 4), (IdleBare, 8), (Covered, 3), (ExpectedWorks, 5)],
    };
    let table = if mix == EventMix::Standard { standard } else { alternative };
    let total: usize = table.iter().map(|(_, k)| k).sum();
    let mut deck: Vec<(Scenario, bool)> = Vec::new();
    for i in 0..n {
        let mut pick = (i * total / n.max(1)) % total;
        for (s, k) in table {
            if pick < *k {
                deck.push((*s, *s == PermittedWorks));
                break;
            }
            pick -= k;
        }
    }
    for i in (1..deck.len()).rev() {
        let j = r.int(0, i as i64 + 1) as usize;
        deck.swap(i, j);
    }
    deck
}

fn base_cover(category: Category, r: &mut Rng) -> Cover {
    match category {
        Category::ContaminatedListed => [Cover::Grass, Cover::Grass, Cover::Trees, Cover::Net][r.int(0, 4) as usize],
        Category::LegacyIndustrial => {
            [Cover::Grass, Cover::Concrete, Cover::BlueRoof, Cover::Net][r.int(0, 4) as usize]
        }
        Category::BareSoil => [Cover::Grass, Cover::Grass, Cover::Crop][r.int(0, 3) as usize],
        Category::ConstructionSite => [Cover::Net, Cover::Concrete, Cover::Grass][r.int(0, 3) as usize],
    }
}

#[allow(clippy::too_many_arguments)]
fn paint_scenario(
    scenario: Scenario,
    category: Category,
    works_allowed: bool,
    plot_id: &str,
    rect: PixRect,
    (history, months): (usize, usize),
    r: &mut Rng,
    p: &mut Painter,
) -> Vec<TruthEvent> {
    use Scenario::*;
    // Events start after the history; their months are drawn over what is left.
    let span = (months - history) as i64;
    let at = |m: i64| history + m as usize;
    let watched = category.forbids_development();
    let mut event = TruthEvent {
        id: format!("{plot_id}-event"),
        plot_id: plot_id.to_string(),
        scenario,
        rect,
        start_month: 0,
        end_month: months,
        expected: None,
        permitted: false,
        idle_not_before: None,
        idle_expected_by: None,
        observable: true,
        after_settling: false,
        outcome: None,
    };
    let building = if r.chance(0.5) { Cover::Concrete } else { Cover::BlueRoof };
    match scenario {
        Construction | ExpectedConstruction => {
            let m0 = at(r.int(2, span - 4));
            p.fill_rect(&rect, 0..m0, |_, _, _| Cover::Grass);
            p.fill_rect(&rect, m0..m0 + 1, |_, _, _| Cover::MoistSoil);
            p.fill_rect(&rect, m0 + 1..months, |_, _, _| building);
            event.start_month = m0 + 1;
            event.expected = (scenario == Construction && watched).then_some(FlagKind::Construction);
            if event.expected.is_some() {
                // The grass is stripped the month before the building goes up: that is works too.
                let mut stripping = event.clone();
                stripping.id = format!("{plot_id}-stripping");
                stripping.start_month = m0;
                stripping.end_month = m0 + 2;
                stripping.expected = Some(FlagKind::Earthworks);
                let mut out = vec![event, stripping];
                out.truncate(2);
                return out;
            }
        }
        Earthworks | ExpectedWorks | PermittedWorks => {
            let prior = [Cover::Grass, Cover::Net, Cover::Grass][r.int(0, 3) as usize];
            let m0 = at(r.int(1, span - 4));
            let len = r.int(3, 6) as usize;
            let m1 = (m0 + len).min(months);
            let outcome = if m1 >= months {
                WorksOutcome::Continued
            } else if scenario == ExpectedWorks {
                [WorksOutcome::Covered, WorksOutcome::Continued][r.int(0, 2) as usize]
            } else {
                [WorksOutcome::Covered, WorksOutcome::Regreened, WorksOutcome::LeftBare, WorksOutcome::Continued]
                    [r.int(0, 4) as usize]
            };
            let m1 = if outcome == WorksOutcome::Continued { months } else { m1 };
            p.fill_rect(&rect, 0..m0, |_, _, _| prior);
            // Blocks of 3 x 3 pixels move between moist excavated soil, heaps of light fill and turned
            // topsoil, a different one every month, in no fixed order.
            let seed = r.next_u64();
            p.fill_rect(&rect, m0..m1, |m, c, rr| works_cover(seed, c / 3, rr / 3, m));
            let after = match outcome {
                WorksOutcome::Covered => Cover::Net,
                WorksOutcome::Regreened => Cover::Grass,
                WorksOutcome::LeftBare => Cover::Soil,
                WorksOutcome::Continued => Cover::Soil,
            };
            p.fill_rect(&rect, m1..months, |_, _, _| after);
            event.start_month = m0;
            event.end_month = m1;
            event.outcome = Some(outcome);
            event.expected = match scenario {
                Earthworks if watched => Some(FlagKind::Earthworks),
                PermittedWorks => Some(FlagKind::Earthworks),
                _ => None,
            };
            event.permitted = scenario == PermittedWorks && works_allowed;
        }
        IdleBare => {
            let m0 = at(r.int(0, span - 5));
            let prior = if category == Category::LegacyIndustrial { building } else { Cover::Grass };
            let regreen = if r.chance(0.3) {
                Some(r.int((m0 + 5) as i64, months as i64 + 1) as usize).filter(|m| *m < months)
            } else {
                None
            };
            let end = regreen.unwrap_or(months);
            p.fill_rect(&rect, 0..m0, |_, _, _| prior);
            p.fill_rect(&rect, m0..end, |_, _, _| Cover::Soil);
            p.fill_rect(&rect, end..months, |_, _, _| Cover::Grass);
            event.start_month = m0;
            event.end_month = end;
            event.expected = Some(FlagKind::IdleBare);
            if watched && m0 > 0 {
                // Grass stripped or a building demolished to bare soil on a watched plot is works, at
                // the first acquisition that shows it (CONTRACT.md), before the ground lies idle.
                let works = if prior == Cover::Grass { "stripping" } else { "demolition" };
                let first = works_event(&event, plot_id, works, m0, works_allowed);
                return vec![event, first];
            }
        }
        Regreened | Covered => {
            let m0 = at(r.int(1, span - 3));
            let k = r.int(1, 3) as usize;
            let after = if scenario == Regreened { Cover::Grass } else { Cover::Net };
            p.fill_rect(&rect, 0..m0, |_, _, _| Cover::Grass);
            p.fill_rect(&rect, m0..m0 + k, |_, _, _| Cover::Soil);
            p.fill_rect(&rect, m0 + k..months, |_, _, _| after);
            event.start_month = m0;
            if watched {
                // Sown or netted within weeks, the stripping still happened.
                let first = works_event(&event, plot_id, "stripping", m0, works_allowed);
                return vec![event, first];
            }
        }
        SeasonalCrop => p.fill_rect(&rect, 0..months, |_, _, _| Cover::Crop),
        StableVegetation => p.fill_rect(&rect, 0..months, |_, _, _| Cover::Grass),
        StableBuilt => p.fill_rect(&rect, 0..months, |_, _, _| building),
    }
    // Works left bare become idle ground: the settling month is the last change, the run starts after.
    let mut out = vec![event.clone()];
    if event.outcome == Some(WorksOutcome::LeftBare) && event.end_month + 1 + 3 < months {
        out.push(TruthEvent {
            id: format!("{plot_id}-idle-after-works"),
            scenario: IdleBare,
            start_month: event.end_month,
            end_month: months,
            expected: Some(FlagKind::IdleBare),
            permitted: false,
            outcome: None,
            after_settling: true,
            ..event
        });
    }
    out
}

/// The works that bared a watched plot's ground in month `m0` (stripping, demolition): `earthworks`
/// from the first acquisition that shows them, over the two months after.
fn works_event(event: &TruthEvent, plot_id: &str, what: &str, m0: usize, works_allowed: bool) -> TruthEvent {
    TruthEvent {
        id: format!("{plot_id}-{what}"),
        start_month: m0,
        // Within the area's months: the event itself ends with them at the latest.
        end_month: (m0 + 2).min(event.end_month.max(m0 + 1)),
        expected: Some(FlagKind::Earthworks),
        permitted: works_allowed,
        idle_not_before: None,
        idle_expected_by: None,
        after_settling: false,
        outcome: None,
        ..event.clone()
    }
}

/// The state of a works block in a month: never the same as the month before.
fn works_cover(seed: u64, bx: usize, by: usize, month: usize) -> Cover {
    const STATES: [Cover; 3] = [Cover::MoistSoil, Cover::Fill, Cover::Soil];
    let block = Rng::new(seed ^ ((bx as u64) << 20) ^ ((by as u64) << 40));
    let mut state = block.fork(0).int(0, 3) as usize;
    for m in 1..=month {
        state = (state + block.fork(m as u64).int(1, 3) as usize) % 3;
    }
    STATES[state]
}

/// Buffer the scanner puts around clouds, shadows and nodata (`ScanOptions::cloud_buffer_m` at 10 m).
const TRUTH_BUFFER_PX: usize = 2;

/// Acquisitions in `months` on which at least half of the event's region was clear.
fn seen(e: &TruthEvent, months: std::ops::Range<usize>, clouds: &[CloudField]) -> usize {
    let n = e.rect.width * e.rect.height;
    // Short areas: an event may run to the end of the months, or start in the last one.
    let months = months.start.min(clouds.len())..months.end.min(clouds.len());
    months.filter(|m| e.rect.pixels().filter(|(c, r)| clouds[*m].usable(*c, *r)).count() * 2 >= n).count()
}

/// When an idle event may first be flagged and when it must be: the earliest is three calendar months
/// after the ground became bare (after works: after the month they ended); the latest is the first
/// acquisition at which half the region has been seen bare for three months and is clear, with clouds
/// honoured as the scanner sees them (after works, a pixel's run starts at its first clear observation
/// after it was first seen settled).
fn idle_timing(e: &TruthEvent, dates: &[NaiveDate], clouds: &[CloudField]) -> (NaiveDate, Option<NaiveDate>) {
    // The ground is quiet at the earliest from the month works ended (or it became bare).
    let not_before = add_months(dates[e.start_month], 3);
    let pixels: Vec<(usize, usize)> = e.rect.pixels().collect();
    let starts: Vec<Option<usize>> = pixels
        .iter()
        .map(|(c, r)| {
            let usable = |m: &usize| clouds[*m].usable(*c, *r);
            let first = (e.start_month..e.end_month).find(usable);
            if e.after_settling { first.and_then(|f| (f + 1..e.end_month).find(usable)) } else { first }
        })
        .collect();
    // A pixel's run starts again after a gap of more than 75 days without a clear look at it.
    let starts_at = |p: usize, t: usize| -> Option<usize> {
        let (c, r) = pixels[p];
        let mut start = starts[p]?;
        let mut last = start;
        for m in start + 1..=t {
            if clouds[m].usable(c, r) {
                if (dates[m] - dates[last]).num_days() > 75 {
                    start = m;
                }
                last = m;
            }
        }
        Some(start)
    };
    for t in e.start_month..e.end_month {
        let ready = (0..pixels.len())
            .filter(|p| {
                let (c, r) = pixels[*p];
                clouds[t].usable(c, r)
                    && starts_at(*p, t).is_some_and(|s| s <= t && add_months(dates[s], 3) <= dates[t])
            })
            .count();
        if ready * 2 >= pixels.len() {
            return (not_before, Some(dates[t]));
        }
    }
    (not_before, None)
}

/// One month's clouds, shadows, missed clouds and nodata.
#[derive(Clone)]
struct CloudField {
    size: usize,
    opacity: Vec<f32>,
    shadow: Vec<bool>,
    missed: Vec<bool>,
    nodata: Vec<bool>,
    usable: Vec<bool>,
}

impl CloudField {
    fn new(size: usize, r: &Rng, month: usize) -> CloudField {
        let mut r = r.clone();
        let coverage = if month % 5 == 3 { 0.45 } else { r.range(0.0, 0.3) };
        let noise = ValueNoise::new(r.next_u64(), 45.0, 3);
        let values: Vec<f64> = (0..size * size).map(|i| noise.at((i % size) as f64, (i / size) as f64)).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let threshold = sorted[((1.0 - coverage) * (sorted.len() - 1) as f64) as usize];
        let opacity: Vec<f32> = values
            .iter()
            .map(|v| if coverage <= 0.0 { 0.0 } else { (((v - threshold) / 0.08).clamp(0.0, 1.0)) as f32 })
            .collect();
        let (dx, dy) = (6usize, 9usize);
        let mut shadow = vec![false; size * size];
        for row in dy..size {
            for col in dx..size {
                if opacity[(row - dy) * size + col - dx] > 0.5 && opacity[row * size + col] < 0.02 {
                    shadow[row * size + col] = true;
                }
            }
        }
        let mut missed = vec![false; size * size];
        for _ in 0..3 {
            let (cx, cy) = (r.int(10, size as i64 - 10), r.int(10, size as i64 - 10));
            for row in (cy - 3).max(0)..(cy + 4).min(size as i64) {
                for col in (cx - 3).max(0)..(cx + 4).min(size as i64) {
                    if (row - cy).pow(2) + (col - cx).pow(2) <= 9 {
                        missed[row as usize * size + col as usize] = true;
                    }
                }
            }
        }
        let stripe = if month == 4 { size / 12 } else { 0 };
        let nodata: Vec<bool> = (0..size * size).map(|i| i % size < stripe).collect();
        let invalid: Vec<bool> =
            (0..size * size).map(|i| opacity[i] >= 0.02 || shadow[i] || missed[i] || nodata[i]).collect();
        let mut usable = vec![true; size * size];
        let b = TRUTH_BUFFER_PX as i64;
        for row in 0..size as i64 {
            for col in 0..size as i64 {
                if invalid[(row as usize) * size + col as usize] {
                    for y in (row - b).max(0)..(row + b + 1).min(size as i64) {
                        for x in (col - b).max(0)..(col + b + 1).min(size as i64) {
                            usable[y as usize * size + x as usize] = false;
                        }
                    }
                }
            }
        }
        CloudField { size, opacity, shadow, missed, nodata, usable }
    }

    fn usable(&self, c: usize, r: usize) -> bool {
        self.usable[r * self.size + c]
    }
}

/// Static textures: soil, vegetation and built surfaces vary field to field and within a field.
struct Textures {
    field: ValueNoise,
    fine: ValueNoise,
    phenology: ValueNoise,
}

impl Textures {
    fn new(seed: u64) -> Self {
        Textures {
            field: ValueNoise::new(seed ^ 0xF1E1D, 24.0, 2),
            fine: ValueNoise::new(seed ^ 0xF1AE, 3.0, 1),
            phenology: ValueNoise::new(seed ^ 0x9E40, 40.0, 1),
        }
    }

    fn factor(&self, c: usize, r: usize, amount: f64) -> f32 {
        (1.0 + amount * (0.7 * self.field.at(c as f64, r as f64) + 0.3 * self.fine.at(c as f64, r as f64))) as f32
    }
}

/// Share of green cover of crops (rice-wheat rotation) and of grass, by month (January first).
const CROP_GREEN: [f32; 12] = [0.45, 0.5, 0.7, 0.9, 0.75, 0.05, 0.5, 0.9, 0.95, 0.6, 0.1, 0.3];
const GRASS_GREEN: [f32; 12] = [0.55, 0.55, 0.7, 0.85, 0.9, 0.9, 0.9, 0.9, 0.85, 0.75, 0.65, 0.55];

fn seasonal(table: &[f32; 12], month0: u32, shift: f64) -> f32 {
    let x = (month0 as f64 + shift).rem_euclid(12.0);
    let (i, t) = (x.floor() as usize % 12, (x - x.floor()) as f32);
    table[i] * (1.0 - t) + table[(i + 1) % 12] * t
}

/// One pixel of one acquisition: reflectance (None for nodata) and its SCL code.
#[allow(clippy::too_many_arguments)]
fn pixel_at(
    cover: &Cover,
    month: usize,
    date: &NaiveDate,
    c: usize,
    r: usize,
    tex: &Textures,
    cloud: &CloudField,
    rng: &Rng,
) -> (Option<Spectrum>, u8) {
    let i = r * cloud.size + c;
    if cloud.nodata[i] {
        return (None, 0);
    }
    let m0 = date.month0();
    // A wet month: rain darkens all soil alike (what the reference-soil logic must see through).
    let wet = if month == 5 { 0.82 } else { 1.0 };
    let soil_tex = tex.factor(c, r, 0.10);
    let scale = |s: &Spectrum, k: f32| -> Spectrum { s.map(|v| v * k) };
    let (ground, scl) = match cover {
        Cover::Crop => {
            let shift = tex.phenology.at(c as f64, r as f64) * 0.4;
            let g = seasonal(&CROP_GREEN, m0, shift);
            (mix(&scale(&spectra::SOIL, soil_tex * wet), &spectra::VEGETATION, g), if g > 0.35 { 4 } else { 5 })
        }
        Cover::Grass => {
            (mix(&scale(&spectra::SOIL, soil_tex), &spectra::VEGETATION, seasonal(&GRASS_GREEN, m0, 0.0)), 4)
        }
        Cover::Trees => (scale(&spectra::FOREST, tex.factor(c, r, 0.06)), 4),
        Cover::Soil => (scale(&spectra::SOIL, soil_tex * wet), 5),
        Cover::MoistSoil => (scale(&spectra::MOIST_SOIL, tex.factor(c, r, 0.06)), 5),
        Cover::Fill => (scale(&spectra::FILL, tex.factor(c, r, 0.06) * wet), 5),
        Cover::Concrete => (scale(&spectra::CONCRETE, tex.factor(c, r, 0.05)), 5),
        Cover::BlueRoof => (scale(&spectra::BLUE_ROOF, tex.factor(c, r, 0.04)), 5),
        Cover::Asphalt => (scale(&spectra::ASPHALT, tex.factor(c, r, 0.05)), 5),
        Cover::Water => (scale(&spectra::WATER, tex.factor(c, r, 0.05)), 6),
        Cover::Net => (scale(&spectra::DUST_NET, tex.factor(c, r, 0.04)), 5),
    };
    let mut px = rng.fork(((month as u64) << 40) ^ i as u64);
    let mut atmosphere = rng.fork(9000 + month as u64);
    let mut value = [0f32; 6];
    for b in 0..6 {
        let gain = 1.0 + atmosphere.range(-0.02, 0.02) as f32;
        let offset = atmosphere.range(-0.003, 0.003) as f32;
        value[b] = ground[b] * gain + offset + 0.004 * px.normal() as f32;
    }
    let alpha = if cloud.missed[i] { 0.7 } else { cloud.opacity[i] };
    if alpha > 0.0 {
        value = mix(&value, &spectra::CLOUD, alpha);
    } else if cloud.shadow[i] {
        value = value.map(|v| v * 0.45);
    }
    let scl = if cloud.missed[i] {
        scl
    } else if alpha > 0.4 {
        9
    } else if alpha > 0.1 {
        8
    } else if alpha >= 0.02 {
        10
    } else if cloud.shadow[i] {
        3
    } else {
        scl
    };
    (Some(value.map(|v| v.max(0.0001))), scl)
}
