//! The breaks the per-pixel seasonal model finds in pyccd-format Landsat series (date ordinal, blue,
//! green, red, nir, swir1, swir2, thermal, Fmask QA code per line; QA 0 is clear), one line per break:
//! for `benches/model_breaks.sh`, beside pyxccd's `cold_detect`.
//!
//! `cargo run --release --example model_breaks -- SERIES.csv...`

use jingtu::spectral::{ClassRules, LandClass};
use jingtu::temporal::rules::class_of_bands;
use jingtu::temporal::{
    DateContext, NONE_DAY, PixelObservation, PixelState, TemporalParams, from_day_number, update_pixel,
};

/// `date.toordinal()` of 1970-01-01 in Python: ordinals minus this are jingtu day numbers.
const ORDINAL_1970: i32 = 719_163;

fn main() {
    let rules = ClassRules::default();
    let params = TemporalParams::default();
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut rows: Vec<Vec<f64>> = text
            .lines()
            .filter_map(|l| l.split(',').map(|x| x.trim().parse().ok()).collect::<Option<Vec<f64>>>())
            .filter(|v| v.len() >= 9)
            .collect();
        rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let mut s = PixelState::default();
        let mut last = NONE_DAY;
        for v in &rows {
            let day = v[0] as i32 - ORDINAL_1970;
            let bands: [f32; 6] = std::array::from_fn(|b| (v[1 + b] / 10_000.0) as f32);
            // Clear (QA 0) and not saturated or fill.
            let clear = v[8] == 0.0 && v[1..7].iter().all(|x| *x > 0.0 && *x < 16_000.0);
            let class = if clear { class_of_bands(&bands, &rules) } else { LandClass::NoData };
            let ndvi = (bands[3] - bands[2]) / (bands[3] + bands[2]);
            let obs = PixelObservation { class, bands, ndvi, bsi: f32::NAN };
            update_pixel(&mut s, &obs, &DateContext::on(day, true), &params, &rules);
            if s.last_break != last && s.judged_by_class == 0 {
                last = s.last_break;
                if let Some(d) = from_day_number(last) {
                    println!("{path}: jingtu break {d}");
                }
            }
        }
    }
}
