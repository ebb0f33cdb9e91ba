//! A second test landscape, written independently of `jingtu::synth::area` so that the scan's detector is
//! not judged only on the world its own demo generator imagines.
//!
//! Where the demo area paints rectangles of one cover per 10 m pixel, this landscape is drawn as vector
//! geometry on a 2 m sub-grid and area-averaged to 10 m, so every plot and event edge gives mixed pixels:
//!
//! ```text
//!   192 x 160 px at 10 m (960 x 800 cells of 2 m), EPSG:32651 near Taizhou (about 120.0 E, 32.5 N)
//!   +-------------------------------------------------------------+
//!   |  Voronoi field parcels: rice-wheat, winter fallow, grass,   |
//!   |  shrub, deciduous trees, village roofs, ponds, two roads    |
//!   |     ___                      __                             |
//!   |    /   \__   plot = star-    / \___   event = a smaller     |
//!   |   |  .-.  \  shaped polygon |  /\  |  star inside the plot, |
//!   |    \ '-'  /  of 0.6-3 ha     \/  \_/  clipped to it         |
//!   |     \___/                                                   |
//!   +-------------------------------------------------------------+
//! ```
//!
//! Every surface (a parcel, a plot's ground, an event's ground) carries a timeline of covers; each
//! cover's reflectance follows its own phenology (`spectra`). Scenes add SCL-marked clouds and shadows,
//! thin clouds and shadows the SCL misses, one wet month, per-scene atmosphere and sensor noise
//! (`scenes`). The truth (`truth`) says which flags the scan must raise, where and when; `score` judges a
//! scan's flags against it at object level.

pub mod geometry;
pub mod scenes;
pub mod score;
pub mod spectra;
pub mod truth;

use chrono::NaiveDate;

/// A small, seedable generator (SplitMix64), independent of `jingtu::synth::rng` so the two generators
/// share no random streams.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut r = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        r.next_u64();
        r
    }

    /// An independent stream for a purpose named by `key`, so adding draws in one part of the generator
    /// does not move every other part.
    pub fn derive(&self, key: u64) -> Rng {
        Rng::new(self.0 ^ key.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// One element of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// `date` plus `months` calendar months (day clamped to the month's length).
pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(chrono::Months::new(months)).expect("dates stay in range")
}

/// `date` plus `days` days.
pub fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    date + chrono::Duration::days(days)
}

/// A random date in [from, to).
pub fn date_between(rng: &mut Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(1);
    add_days(from, rng.below(span as usize) as i64)
}
