//! The landscape's layout, what happens on every plot, and the flags a scan must raise.
//!
//! Thirty plots are placed one per 320 m cell, each an irregular polygon of 0.6-3 ha. A fixed deck of
//! scenarios (shuffled over the cells, with random dates, covers and materials) guarantees every flag
//! kind and every negative in every seed. An event covers part of its plot: a smaller irregular polygon
//! clipped to the plot.
//!
//! Truth rules (what the issue asks of the detector):
//! - vegetation stripped to soil on a watched plot (`contaminated_listed`, `legacy_industrial`):
//!   `earthworks`, first seen at the first acquisition showing it;
//! - excavation and fill on bare ground of a watched plot: `earthworks`;
//! - ground built over and staying built on a watched plot: `construction` (plus `earthworks` when it was
//!   stripped first);
//! - stripped ground netted within two months: `earthworks` only;
//! - a bare run of 4.5 months or more on any plot: `idle_bare`, first seen within one acquisition of
//!   three calendar months after the run's first bare acquisition;
//! - bare runs of two months or less, seasonal crops, winter fallow, leaf-off trees, nets, established
//!   roofs, the wet month and thin clouds: nothing.
//!
//! Works on `works_allowed` plots are their own kind, `permitted_works`.

use chrono::NaiveDate;

use super::geometry::{self, Footprint, HEIGHT_PX, Polygon, WIDTH_PX, footprint, smooth_noise, voronoi_parcels};
use super::scenes::{Acquisition, plan_acquisitions};
use super::spectra::{Cover, NetColour, Roof, Soil, is_bare};
use super::{Rng, add_days, add_months, date_between};

/// Month of the first acquisition.
pub const FIRST_MONTH: (i32, u32) = (2022, 1);
/// Monthly acquisitions planned (one or two are lost per seed).
pub const MONTHS: u32 = 36;
/// History every pixel has before any event starts: the detector learns a year of seasons first.
pub const WARM_UP_MONTHS: u32 = 15;
/// Side of the square cell each plot is placed in, in pixels.
const CELL_PX: usize = 32;
/// Bare runs this long or longer are idle.
pub const IDLE_RUN_MIN_DAYS: i64 = 137;
/// Bare runs this long or shorter are never idle.
pub const SHORT_RUN_MAX_DAYS: i64 = 62;

/// The kinds the scorer scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExpectedKind {
    /// `construction` not on a works-allowed plot.
    Construction,
    /// `earthworks` not on a works-allowed plot.
    Earthworks,
    /// `idle_bare` anywhere.
    IdleBare,
    /// `construction` or `earthworks` on a works-allowed plot, reported as permitted.
    PermittedWorks,
}

impl ExpectedKind {
    /// Every kind, in table order.
    pub const ALL: [ExpectedKind; 4] =
        [ExpectedKind::Construction, ExpectedKind::Earthworks, ExpectedKind::IdleBare, ExpectedKind::PermittedWorks];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            ExpectedKind::Construction => "construction",
            ExpectedKind::Earthworks => "earthworks",
            ExpectedKind::IdleBare => "idle_bare",
            ExpectedKind::PermittedWorks => "permitted_works",
        }
    }
}

/// What happens on a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Vegetation stripped to soil, left bare (sometimes re-greened after 7-8.5 months).
    StripThenIdle,
    /// Vegetation stripped, grass sown within 20-50 days.
    StripThenRegreen,
    /// Vegetation stripped, dust nets within 20-50 days.
    StripThenNets,
    /// Vegetation stripped, a building up within 28-55 days.
    StripThenBuild,
    /// Bare from the start; part of it excavated and filled over two to three months.
    BareExcavated,
    /// Bare from the start; part of it built over.
    BareBuiltOver,
    /// Grass with old buildings of one roof material (negative).
    StableRoofs,
    /// Farmland: rice-wheat or rice with winter fallow (negative).
    SeasonalFarmland,
    /// Deciduous trees with a grass glade (negative).
    Woodland,
    /// Covered by dust nets throughout (negative).
    NetsThroughout,
}

/// The plots of every seed: (category, scenario, works_allowed). Every kind appears, permitted works
/// twice, and the negatives sit on all categories.
const DECK: [(&str, Scenario, bool); 30] = [
    ("contaminated_listed", Scenario::StripThenIdle, false),
    ("contaminated_listed", Scenario::StripThenRegreen, false),
    ("contaminated_listed", Scenario::StripThenNets, false),
    ("contaminated_listed", Scenario::StripThenBuild, false),
    ("contaminated_listed", Scenario::BareExcavated, false),
    ("contaminated_listed", Scenario::Woodland, false),
    ("contaminated_listed", Scenario::StripThenBuild, true),
    ("contaminated_listed", Scenario::StripThenNets, true),
    ("contaminated_listed", Scenario::StableRoofs, false),
    ("legacy_industrial", Scenario::StripThenIdle, false),
    ("legacy_industrial", Scenario::StripThenBuild, false),
    ("legacy_industrial", Scenario::BareExcavated, false),
    ("legacy_industrial", Scenario::BareBuiltOver, false),
    ("legacy_industrial", Scenario::StripThenRegreen, false),
    ("legacy_industrial", Scenario::StripThenNets, false),
    ("legacy_industrial", Scenario::StableRoofs, false),
    ("legacy_industrial", Scenario::NetsThroughout, false),
    ("bare_soil", Scenario::StripThenIdle, false),
    ("bare_soil", Scenario::StripThenIdle, false),
    ("bare_soil", Scenario::StripThenRegreen, false),
    ("bare_soil", Scenario::SeasonalFarmland, false),
    ("bare_soil", Scenario::SeasonalFarmland, false),
    ("bare_soil", Scenario::SeasonalFarmland, false),
    ("bare_soil", Scenario::Woodland, false),
    ("construction_site", Scenario::StripThenIdle, false),
    ("construction_site", Scenario::StripThenBuild, false),
    ("construction_site", Scenario::StripThenNets, false),
    ("construction_site", Scenario::BareExcavated, false),
    ("construction_site", Scenario::NetsThroughout, false),
    ("construction_site", Scenario::StripThenRegreen, false),
];

/// Ground whose cover follows a timeline.
#[derive(Debug, Clone)]
pub struct Surface {
    /// (from date, cover), sorted; the first entry holds from the beginning.
    pub timeline: Vec<(NaiveDate, Cover)>,
    /// Soil beneath vegetation and nets, and what stripping reveals.
    pub soil_under: Soil,
    /// Phenology shift of this parcel in days.
    pub phase_days: f64,
    /// Brightness of this parcel's soil (moisture, organic matter).
    pub brightness: f32,
}

impl Surface {
    fn new(cover: Cover, soil_under: Soil, rng: &mut Rng) -> Surface {
        Surface {
            timeline: vec![(NaiveDate::MIN, cover)],
            soil_under,
            phase_days: rng.uniform(-12.0, 12.0),
            brightness: rng.uniform(0.88, 1.12) as f32,
        }
    }

    /// The cover on `date`.
    pub fn cover_on(&self, date: NaiveDate) -> Cover {
        self.timeline.iter().rev().find(|(from, _)| *from <= date).map_or(self.timeline[0].1, |(_, c)| *c)
    }

    /// Whether the ground is bare on `date`.
    pub fn bare_on(&self, date: NaiveDate) -> bool {
        is_bare(self.cover_on(date), self.soil_under, date, self.phase_days)
    }
}

/// A registered plot.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Registry id.
    pub plot_id: String,
    /// Registry name.
    pub name: String,
    /// Registry category.
    pub category: &'static str,
    /// Approved works may disturb the ground.
    pub works_allowed: bool,
    /// Date listed.
    pub listed_on: NaiveDate,
    /// Outline.
    pub polygon: Polygon,
    /// Pixels at least half inside.
    pub footprint: Footprint,
    /// Pixels touched at all.
    pub touched: Footprint,
    /// What happens on it.
    pub scenario: Scenario,
}

/// One flag the scan must raise.
#[derive(Debug, Clone)]
pub struct ExpectedFlag {
    /// Event id (`<plot_id>-<what>`).
    pub event_id: String,
    /// Plot.
    pub plot_id: String,
    /// Kind it is scored as.
    pub kind: ExpectedKind,
    /// Whether it must be reported as permitted works.
    pub permitted: bool,
    /// Pixels at least half covered by the event.
    pub footprint: Footprint,
    /// When the ground changed (for idle ground: when the bare run began).
    pub start: NaiveDate,
    /// Earliest acceptable `first_seen`.
    pub first_seen_earliest: NaiveDate,
    /// Latest acceptable `first_seen`; `None` when the acquisitions never show it clearly enough, and
    /// then the flag is not required (a flag on it is still right).
    pub first_seen_latest: Option<NaiveDate>,
    /// The surface index of the event's ground, for consistency checks.
    pub surface: usize,
}

impl ExpectedFlag {
    /// Whether the scan must find it.
    pub fn required(&self) -> bool {
        self.first_seen_latest.is_some()
    }
}

/// A generated landscape: geometry, covers, acquisitions and truth.
pub struct Landscape {
    /// Seed.
    pub seed: u64,
    /// Every surface.
    pub surfaces: Vec<Surface>,
    /// Surface of every 2 m cell.
    pub surface_of_cell: Vec<u16>,
    /// Spatially correlated texture of every cell, in [-1, 1].
    pub texture: Vec<f32>,
    /// Plots.
    pub plots: Vec<Plot>,
    /// Acquisitions with their nuisances.
    pub acquisitions: Vec<Acquisition>,
    /// The flags a scan must raise.
    pub expected: Vec<ExpectedFlag>,
    /// Surfaces of plot grounds and events, to check their bare runs.
    pub plot_surfaces: Vec<usize>,
}

/// Generates the landscape of `seed` (nothing is written).
pub fn generate(seed: u64) -> Landscape {
    let rng = Rng::new(seed);
    let acquisitions = plan_acquisitions(&mut rng.derive(1));
    let mut surfaces = Vec::new();
    let (surface_of_cell, texture) = background(&mut rng.derive(2), &mut surfaces);
    let mut landscape = Landscape {
        seed,
        surfaces,
        surface_of_cell,
        texture,
        plots: Vec::new(),
        acquisitions,
        expected: Vec::new(),
        plot_surfaces: Vec::new(),
    };
    lay_out_plots(&mut rng.derive(3), &mut landscape);
    landscape
}

/// Field parcels, village roofs, ponds and two roads.
fn background(rng: &mut Rng, surfaces: &mut Vec<Surface>) -> (Vec<u16>, Vec<f32>) {
    let (parcel_of_cell, parcels) = voronoi_parcels(rng, 75.0);
    let soils = [Soil::DryLoess, Soil::GreyAlluvial, Soil::GreyAlluvial, Soil::RedEarth];
    let roofs = [Roof::Concrete, Roof::BlueSteel, Roof::RedTile, Roof::WhiteCoating];
    for _ in 0..parcels {
        let roll = rng.unit();
        let cover = match roll {
            r if r < 0.33 => Cover::RiceWheat,
            r if r < 0.47 => Cover::RiceFallow,
            r if r < 0.57 => Cover::Grass,
            r if r < 0.63 => Cover::Shrub,
            r if r < 0.73 => Cover::DeciduousTrees,
            r if r < 0.83 => Cover::Roof(rng.pick(&roofs)),
            r if r < 0.91 => Cover::Water,
            r if r < 0.94 => Cover::Asphalt,
            r if r < 0.97 => Cover::Soil(rng.pick(&soils)),
            _ => Cover::Net(NetColour::Green),
        };
        let soil = rng.pick(&soils);
        surfaces.push(Surface::new(cover, soil, rng));
    }
    let mut surface_of_cell: Vec<u16> = parcel_of_cell.iter().map(|p| *p as u16).collect();
    for _ in 0..2 {
        let road = surfaces.len() as u16;
        surfaces.push(Surface::new(Cover::Asphalt, Soil::GreyAlluvial, rng));
        for c in geometry::road_cells(rng, 8.0) {
            surface_of_cell[c as usize] = road;
        }
    }
    let texture = smooth_noise(rng, 20);
    (surface_of_cell, texture)
}

const DISTRICTS: [&str; 4] = ["海陵区", "高港区", "姜堰区", "医药高新区"];

fn plot_name(category: &str, k: usize, rng: &mut Rng) -> String {
    let stems: &[&str] = match category {
        "contaminated_listed" => &["原化工厂污染地块", "原农药厂地块", "原电池厂污染地块"],
        "legacy_industrial" => &["原电镀厂旧址", "原印染厂旧址", "原船厂旧址", "原铸造厂旧址"],
        "bare_soil" => &["闲置空地", "待建空地", "拆迁空地"],
        _ => &["安置房工地", "道路工程工地", "厂房工地"],
    };
    format!("泰州市{}{}{:02}", rng.pick(&DISTRICTS), rng.pick(stems), k + 1)
}

/// Places the deck's plots, draws their grounds and events, and writes down the expected flags.
fn lay_out_plots(rng: &mut Rng, land: &mut Landscape) {
    let cells_x = WIDTH_PX / CELL_PX;
    let cells_y = HEIGHT_PX / CELL_PX;
    assert!(cells_x * cells_y >= DECK.len(), "one cell per plot");
    let mut order: Vec<usize> = (0..cells_x * cells_y).collect();
    rng.shuffle(&mut order);
    let first = land.acquisitions[0].date;
    let last = land.acquisitions.last().expect("acquisitions").date;
    let warm_up_end =
        add_months(NaiveDate::from_ymd_opt(FIRST_MONTH.0, FIRST_MONTH.1, 1).expect("date"), WARM_UP_MONTHS);
    let mut farmland_seen = 0;
    for (k, (category, scenario, works_allowed)) in DECK.iter().copied().enumerate() {
        let mut r = rng.derive(100 + k as u64);
        let cell = order[k];
        let cell_m = CELL_PX as f64 * geometry::PIXEL_M;
        let (cx, cy) =
            ((cell % cells_x) as f64 * cell_m + cell_m / 2.0, (cell / cells_x) as f64 * cell_m + cell_m / 2.0);
        let area = r.uniform(6_000.0, 30_000.0);
        let mut polygon = Polygon::star(&mut r, cx, cy, area);
        // Shift the plot off the cell centre as far as it can go while staying 15 m inside its cell, so the
        // scan's 60 m window margins see neighbouring ground, not another plot.
        let slack = (cell_m / 2.0 - polygon.max_radius_from(cx, cy) - 15.0).max(0.0);
        let (dx, dy) = (r.uniform(-slack, slack), r.uniform(-slack, slack));
        for v in polygon.ring.iter_mut() {
            v.0 += dx;
            v.1 += dy;
        }
        let (pcx, pcy) = (cx + dx, cy + dy);
        let plot_cells = polygon.cells();
        let code = match category {
            "contaminated_listed" => "CL",
            "legacy_industrial" => "LI",
            "bare_soil" => "BS",
            _ => "CS",
        };
        let plot_id = format!("LS-{code}-{:02}", k + 1);
        let listed_on = date_between(
            &mut r,
            NaiveDate::from_ymd_opt(2016, 1, 1).expect("date"),
            NaiveDate::from_ymd_opt(2021, 12, 1).expect("date"),
        );
        let plot = Plot {
            plot_id: plot_id.clone(),
            name: plot_name(category, k, &mut r),
            category,
            works_allowed,
            listed_on,
            footprint: footprint(&plot_cells, 0.5),
            touched: footprint(&plot_cells, 0.0),
            polygon,
            scenario,
        };
        let soil = r.pick(&[Soil::DryLoess, Soil::GreyAlluvial, Soil::RedEarth]);
        // The plot's ground.
        let base_cover = match scenario {
            Scenario::StripThenIdle
            | Scenario::StripThenRegreen
            | Scenario::StripThenNets
            | Scenario::StripThenBuild => {
                r.pick(&[Cover::Grass, Cover::Grass, Cover::Shrub, Cover::DeciduousTrees, Cover::RiceWheat])
            }
            Scenario::BareExcavated | Scenario::BareBuiltOver => Cover::Soil(soil),
            Scenario::StableRoofs => Cover::Grass,
            Scenario::SeasonalFarmland => {
                farmland_seen += 1;
                // Winter fallow is the hardest negative (3.4 bare months every winter): at least one per seed.
                if farmland_seen == 1 { Cover::RiceFallow } else { r.pick(&[Cover::RiceWheat, Cover::RiceFallow]) }
            }
            Scenario::Woodland => Cover::DeciduousTrees,
            Scenario::NetsThroughout => {
                Cover::Net(r.pick(&[NetColour::Green, NetColour::Black, NetColour::Blue, NetColour::White]))
            }
        };
        let base = Surface::new(base_cover, soil, &mut r);
        let base_index = land.surfaces.len();
        land.surfaces.push(base.clone());
        land.plot_surfaces.push(base_index);
        for c in &plot_cells {
            land.surface_of_cell[*c as usize] = base_index as u16;
        }
        // The event (or the negative's second cover): a smaller irregular polygon inside, clipped to the plot.
        let offset = 0.25 * (area / std::f64::consts::PI).sqrt();
        let (ex, ey) = (pcx + r.uniform(-offset, offset), pcy + r.uniform(-offset, offset));
        let event_area = area * r.uniform(0.35, 0.6);
        let event_polygon = Polygon::star(&mut r, ex, ey, event_area);
        let inside: std::collections::HashSet<u32> = plot_cells.iter().copied().collect();
        let event_cells: Vec<u32> = event_polygon.cells().into_iter().filter(|c| inside.contains(c)).collect();
        let mut event = base.clone();
        let watched = matches!(category, "contaminated_listed" | "legacy_industrial");
        let mut plan = EventPlan::default();
        // New buildings get concrete, blue steel or white-coated roofs, as new factories and sheds on these
        // sites do; red clay tile, which at 10 m is spectrally red earth (a building no spectral detector
        // could be asked to see), appears among the established roofs and the villages only.
        let new_roof = r.pick(&[Roof::Concrete, Roof::BlueSteel, Roof::WhiteCoating]);
        let old_roof = r.pick(&[Roof::Concrete, Roof::BlueSteel, Roof::RedTile, Roof::WhiteCoating]);
        let net = r.pick(&[NetColour::Green, NetColour::Black, NetColour::Blue, NetColour::White]);
        let latest_start = |months_before_end: u32| add_months(first, MONTHS - 1 - months_before_end);
        match scenario {
            Scenario::StripThenIdle => {
                let strip = strip_date(&mut r, &base, warm_up_end, latest_start(9));
                event.timeline.push((strip, Cover::Soil(soil)));
                let mut bare_until = None;
                if r.chance(0.35) {
                    let regreen = add_days(strip, r.uniform(215.0, 260.0) as i64);
                    if regreen < add_days(last, -20) {
                        event.timeline.push((regreen, Cover::Grass));
                        bare_until = Some(regreen);
                    }
                }
                plan.stripped = Some((strip, bare_until));
                plan.idle = Some((strip, bare_until));
            }
            Scenario::StripThenRegreen | Scenario::StripThenNets | Scenario::StripThenBuild => {
                // Short bare runs are placed so that at least one acquisition falls inside them: a run
                // between two looks would be invisible to any detector (clouds may still hide it, and then
                // the event is not required).
                let (strip, look) =
                    strip_before_a_look(&mut r, &base, &land.acquisitions, warm_up_end, latest_start(5));
                event.timeline.push((strip, Cover::Soil(soil)));
                let shortest = ((look - strip).num_days() + 2) as f64;
                let (after, days) = match scenario {
                    Scenario::StripThenRegreen => (Cover::Grass, r.uniform(shortest.max(20.0), 50.0)),
                    Scenario::StripThenNets => (Cover::Net(net), r.uniform(shortest.max(20.0), 50.0)),
                    _ => (Cover::Roof(new_roof), r.uniform(shortest.max(28.0), 55.0)),
                };
                let covered = add_days(strip, days as i64);
                event.timeline.push((covered, after));
                plan.stripped = Some((strip, Some(covered)));
                if scenario == Scenario::StripThenBuild {
                    plan.built = Some(covered);
                }
            }
            Scenario::BareExcavated => {
                let dig = date_between(&mut r, warm_up_end, latest_start(6));
                let fill = add_days(dig, r.uniform(28.0, 40.0) as i64);
                let compacted = add_days(dig, r.uniform(58.0, 75.0) as i64);
                event.timeline.push((dig, Cover::Soil(Soil::MoistSubsoil)));
                event.timeline.push((fill, Cover::Soil(Soil::LightFill)));
                event.timeline.push((compacted, Cover::Soil(Soil::Compacted)));
                plan.excavated = Some(dig);
                plan.idle_whole_plot = true;
            }
            Scenario::BareBuiltOver => {
                let built = date_between(&mut r, warm_up_end, latest_start(5));
                event.timeline.push((built, Cover::Roof(new_roof)));
                plan.built = Some(built);
                plan.idle_whole_plot = true;
            }
            Scenario::StableRoofs => event.timeline = vec![(NaiveDate::MIN, Cover::Roof(old_roof))],
            Scenario::SeasonalFarmland => {}
            Scenario::Woodland => event.timeline = vec![(NaiveDate::MIN, Cover::Grass)],
            Scenario::NetsThroughout => event.timeline = vec![(NaiveDate::MIN, Cover::Net(net))],
        }
        let event_index = land.surfaces.len();
        land.surfaces.push(event);
        land.plot_surfaces.push(event_index);
        for c in &event_cells {
            land.surface_of_cell[*c as usize] = event_index as u16;
        }
        let event_footprint = footprint(&event_cells, 0.5);
        expect(land, &plot, &plan, watched, event_footprint, event_index, base_index, first);
        land.plots.push(plot);
    }
}

/// Dates of what happens on a plot, for deriving the expected flags.
#[derive(Debug, Default)]
struct EventPlan {
    /// Vegetation stripped on this date, bare until the second date (`None`: still bare at the end).
    stripped: Option<(NaiveDate, Option<NaiveDate>)>,
    /// A bare run of the event's ground starting on this date, until the second.
    idle: Option<(NaiveDate, Option<NaiveDate>)>,
    /// Excavation began.
    excavated: Option<NaiveDate>,
    /// A roof is up from this date.
    built: Option<NaiveDate>,
    /// The whole plot is bare ground from the start.
    idle_whole_plot: bool,
}

/// A stripping date in [from, to) when the ground's vegetation is clearly green, so the first acquisition
/// after it unambiguously shows the change (a crop in its harvest gap or trees without leaves would hide
/// it).
fn strip_date(rng: &mut Rng, ground: &Surface, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    for _ in 0..1000 {
        let d = date_between(rng, from, to);
        if green_before(ground, d) {
            return d;
        }
    }
    panic!("no green period for stripping between {from} and {to}");
}

/// A stripping date 2-14 days before an acquisition in [from, to), in a green period (see `strip_date`),
/// and the date of that acquisition.
fn strip_before_a_look(
    rng: &mut Rng,
    ground: &Surface,
    acqs: &[Acquisition],
    from: NaiveDate,
    to: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    let looks: Vec<NaiveDate> = acqs.iter().map(|a| a.date).filter(|d| *d >= add_days(from, 14) && *d < to).collect();
    for _ in 0..1000 {
        let look = rng.pick(&looks);
        let strip = add_days(look, -(2 + rng.below(13) as i64));
        if green_before(ground, strip) {
            return (strip, look);
        }
    }
    panic!("no green period for stripping between {from} and {to}");
}

/// Whether the ground was clearly green (and not flooded) for the 45 days up to `date`.
fn green_before(ground: &Surface, date: NaiveDate) -> bool {
    (0..45).all(|back| {
        let day = add_days(date, -back);
        let l = super::spectra::layers(ground.cover_on(day), ground.soil_under, day, ground.phase_days);
        l.green >= 0.3 && l.water < 0.2
    })
}

/// Share of `fp` the acquisition shows clear (outside SCL clouds and shadows and their 20 m buffer).
pub fn clear_share(acq: &Acquisition, fp: &Footprint) -> f64 {
    if fp.is_empty() {
        return 0.0;
    }
    fp.iter().filter(|p| acq.usable[**p as usize]).count() as f64 / fp.len() as f64
}

/// Index of the first acquisition on or after `date`.
fn first_on_or_after(acqs: &[Acquisition], date: NaiveDate) -> Option<usize> {
    acqs.iter().position(|a| a.date >= date)
}

/// Index of the first acquisition in [from, until) that shows at least half of `fp` clear.
fn first_clear(acqs: &[Acquisition], from: NaiveDate, until: Option<NaiveDate>, fp: &Footprint) -> Option<usize> {
    acqs.iter().position(|a| a.date >= from && until.is_none_or(|u| a.date < u) && clear_share(a, fp) >= 0.5)
}

/// The date of the acquisition after index `i` (or of `i` itself when it is the last).
fn next_date(acqs: &[Acquisition], i: usize) -> NaiveDate {
    acqs[(i + 1).min(acqs.len() - 1)].date
}

/// Timing window of a change on `start` visible until `until`: earliest is the first acquisition on or
/// after it; latest is one acquisition after the first that shows it clear. `None` latest: never seen.
fn change_window(
    acqs: &[Acquisition],
    start: NaiveDate,
    until: Option<NaiveDate>,
    fp: &Footprint,
) -> (NaiveDate, Option<NaiveDate>) {
    let earliest = first_on_or_after(acqs, start).map_or(start, |i| acqs[i].date);
    let latest = first_clear(acqs, start, until, fp).map(|i| next_date(acqs, i));
    (earliest, latest)
}

/// Timing window of an idle flag for a bare run from `start` until `until`: the clock starts at the first
/// acquisition showing the bare ground; the flag may come at the first acquisition three calendar months
/// later, and must come within one acquisition of the first clear one three months after the first clear
/// bare look.
fn idle_window(
    acqs: &[Acquisition],
    start: NaiveDate,
    until: Option<NaiveDate>,
    fp: &Footprint,
) -> (NaiveDate, Option<NaiveDate>) {
    let first_bare = first_on_or_after(acqs, start).map_or(start, |i| acqs[i].date);
    let earliest =
        first_on_or_after(acqs, add_months(first_bare, 3)).map_or(add_months(first_bare, 3), |i| acqs[i].date);
    let latest = first_clear(acqs, start, until, fp)
        .and_then(|c| first_clear(acqs, add_months(acqs[c].date, 3), until, fp))
        .map(|t| next_date(acqs, t))
        .filter(|latest| until.is_none_or(|u| *latest < u));
    (earliest, latest)
}

#[allow(clippy::too_many_arguments)]
fn expect(
    land: &mut Landscape,
    plot: &Plot,
    plan: &EventPlan,
    watched: bool,
    event_fp: Footprint,
    event_surface: usize,
    base_surface: usize,
    first: NaiveDate,
) {
    let acqs = &land.acquisitions;
    let mut out: Vec<ExpectedFlag> = Vec::new();
    let works_kind = |kind: ExpectedKind| if plot.works_allowed { ExpectedKind::PermittedWorks } else { kind };
    let flag =
        |what: &str, kind: ExpectedKind, fp: &Footprint, start, window: (NaiveDate, Option<NaiveDate>), surface| {
            ExpectedFlag {
                event_id: format!("{}-{what}", plot.plot_id),
                plot_id: plot.plot_id.clone(),
                kind,
                permitted: kind == ExpectedKind::PermittedWorks,
                footprint: fp.clone(),
                start,
                first_seen_earliest: window.0,
                first_seen_latest: window.1,
                surface,
            }
        };
    if watched {
        if let Some((strip, until)) = plan.stripped {
            let window = change_window(acqs, strip, until, &event_fp);
            out.push(flag("stripped", works_kind(ExpectedKind::Earthworks), &event_fp, strip, window, event_surface));
        }
        if let Some(dig) = plan.excavated {
            let (earliest, latest) = change_window(acqs, dig, None, &event_fp);
            // Works need two looks at disturbed soil: the change is visible on one acquisition otherwise.
            let looks = acqs
                .iter()
                .filter(|a| a.date >= dig && a.date < add_days(dig, 120) && clear_share(a, &event_fp) >= 0.5)
                .count();
            let window = (earliest, latest.filter(|_| looks >= 2));
            out.push(flag("excavated", works_kind(ExpectedKind::Earthworks), &event_fp, dig, window, event_surface));
        }
        if let Some(built) = plan.built {
            let (earliest, latest) = change_window(acqs, built, None, &event_fp);
            let looks = acqs.iter().filter(|a| a.date >= built && clear_share(a, &event_fp) >= 0.5).count();
            let window = (earliest, latest.filter(|_| looks >= 2));
            let kind = works_kind(ExpectedKind::Construction);
            // On a works-allowed plot stripping and building are one permitted event, scored once.
            if !(kind == ExpectedKind::PermittedWorks && out.iter().any(|e| e.kind == kind)) {
                out.push(flag("built", kind, &event_fp, built, window, event_surface));
            }
        }
    }
    if let Some((start, until)) = plan.idle {
        let window = idle_window(acqs, start, until, &event_fp);
        out.push(flag("idle", ExpectedKind::IdleBare, &event_fp, start, window, event_surface));
    }
    if plan.idle_whole_plot {
        let window = idle_window(acqs, first, None, &plot.footprint);
        out.push(flag("idle-ground", ExpectedKind::IdleBare, &plot.footprint, first, window, base_surface));
    }
    land.expected.extend(out);
}
