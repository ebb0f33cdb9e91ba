//! Speed of the per-pixel seasonal model on a real Landsat series, per core: the whole 724-observation
//! series of `pyccd-landsat-pixels/sample_2.csv` (1985-2016) through `temporal::update_pixel`, for many
//! copies of the pixel on one thread. `benches/model_speed.sh` runs it beside pyxccd's `sccd_detect` and
//! `cold_detect` on the same series.
//!
//! `cargo bench --bench model_speed -- [PIXELS]` (default 2000).

use std::time::Instant;

use jingtu::spectral::ClassRules;
use jingtu::temporal::rules::class_of_bands;
use jingtu::temporal::{DateContext, PixelObservation, PixelState, TemporalParams, active_events, update_pixel};

/// `date.toordinal()` of 1970-01-01 in Python: ordinals minus this are jingtu day numbers.
const ORDINAL_1970: i32 = 719_163;

/// CPU time of this thread: per core, whatever else the machine runs (wall time on a shared machine
/// counts the other work too; pyxccd's side is measured the same way).
fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn main() {
    let pixels: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/pyccd-landsat-pixels/sample_2.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rules = ClassRules::default();
    // (context, observation) per row; QA 0 is clear, anything else (and saturated 20000) is not.
    let series: Vec<(DateContext, PixelObservation)> = text
        .lines()
        .filter_map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.trim().parse().ok()).collect::<Option<_>>()?;
            let day = v[0] as i32 - ORDINAL_1970;
            let bands: [f32; 6] = std::array::from_fn(|b| (v[1 + b] / 10_000.0) as f32);
            let clear = v[8] == 0.0 && v[1..7].iter().all(|x| *x > 0.0 && *x < 16_000.0);
            let class = if clear { class_of_bands(&bands, &rules) } else { jingtu::spectral::LandClass::NoData };
            let ndvi = (bands[3] - bands[2]) / (bands[3] + bands[2]);
            Some((DateContext::on(day, true), PixelObservation { class, bands, ndvi, bsi: f32::NAN }))
        })
        .collect();
    let params = TemporalParams::default();
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut breaks = 0usize;
    let mut dates = Vec::new();
    for k in 0..pixels {
        let mut s = PixelState::default();
        let mut last = jingtu::temporal::NONE_DAY;
        for (ctx, obs) in &series {
            update_pixel(&mut s, obs, ctx, &params, &rules);
            std::hint::black_box(active_events(&s, ctx.day, &params));
            if s.last_break != last && s.judged_by_class == 0 {
                breaks += 1;
                last = s.last_break;
                if k == 0 {
                    dates.extend(jingtu::temporal::from_day_number(last));
                }
            }
        }
        std::hint::black_box(&s);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_start;
    println!(
        "model_speed: {pixels} pixels x {} observations in {secs:.3} s on one thread ({cpu:.3} s CPU): {:.0} pixels/s \
         per core, CPU time ({} breaks per pixel)",
        series.len(),
        pixels as f64 / cpu,
        breaks / pixels.max(1)
    );
    for d in dates {
        println!("model break {d}");
    }
}
