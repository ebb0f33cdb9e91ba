//! Prints what the temporal rules make of each acquisition of the pixels of a band-interleaved monthly
//! series (the Changsha layout: 10 bands per month, reflectance x 10000, 32767 outside): a developer's
//! tool to see why a pixel raised (or did not raise) a flag.
//!
//! `cargo run --release --example pixel_history -- FILE FIRST_MONTH(YYYY-MM) [X Y]`; without X Y, a
//! summary line per pixel that shows an event.

use chrono::NaiveDate;
use jingtu::spectral::classes::ClassRules;
use jingtu::spectral::indices::{Pixel, pixel_indices};
use jingtu::temporal::rules::class_of_bands;
use jingtu::temporal::{DateContext, PixelObservation, PixelState, TemporalParams, active_events, update_pixel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ds = gdal::Dataset::open(&args[1]).expect("open");
    let first = NaiveDate::parse_from_str(&format!("{}-15", args[2]), "%Y-%m-%d").expect("first month");
    let (w, h) = ds.raster_size();
    let months = ds.raster_count() / 10;
    let mut cube = vec![0f32; months * 10 * w * h];
    for b in 0..months * 10 {
        let band = ds.rasterband(b + 1).unwrap();
        let buf = band.read_as::<f32>((0, 0), (w, h), (w, h), None).unwrap();
        cube[b * w * h..(b + 1) * w * h].copy_from_slice(buf.data());
    }
    let at = |m: usize, k: usize, i: usize| cube[(m * 10 + k) * w * h + i];
    let which = [0, 1, 2, 6, 8, 9];
    let rules = ClassRules::default();
    let p = TemporalParams::default();
    let only: Option<usize> =
        (args.len() > 4).then(|| args[4].parse::<usize>().unwrap() * w + args[3].parse::<usize>().unwrap());
    let days: Vec<NaiveDate> = (0..months).map(|m| jingtu::io::dates::add_months(first, m as u32)).collect();
    let green: Vec<bool> = (0..months)
        .map(|m| {
            let v = (0..w * h).filter(|&i| at(0, 0, i) != 32767.0).map(|i| {
                let (r, n) = (at(m, 2, i), at(m, 6, i));
                (n - r) / (n + r)
            });
            jingtu::temporal::season::median(v) >= jingtu::temporal::season::DORMANT_MEDIAN_NDVI
        })
        .collect();
    for i in 0..w * h {
        if at(0, 0, i) == 32767.0 || only.is_some_and(|o| o != i) {
            continue;
        }
        let mut s = PixelState::default();
        let mut line = String::new();
        for m in 0..months {
            let mut b = [0f32; 6];
            for (o, k) in b.iter_mut().zip(which) {
                *o = at(m, k, i) / 10000.0;
            }
            let px = Pixel { blue: b[0], green: b[1], red: b[2], nir: b[3], swir1: b[4], swir2: b[5] };
            let idx = pixel_indices(&px);
            let class = class_of_bands(&b, &rules);
            let obs = PixelObservation { class, bands: b, ndvi: idx[0], bsi: idx[1] };
            let day = jingtu::temporal::day_number(days[m]);
            let ctx = DateContext::on(day, green[m]);
            update_pixel(&mut s, &obs, &ctx, &p, &rules);
            let ev = active_events(&s, day, &p);
            if only.is_some() {
                println!(
                    "{} {:?} ndvi {:.2} green {} terms {} pend {} score {:.1} seg {:?} ev {}{}{} works {:?} bare {:?} unexpl {} bybreak {}",
                    days[m].format("%Y-%m"),
                    class,
                    idx[0],
                    green[m] as u8,
                    s.model_terms,
                    s.pend_count,
                    if s.pend_count > 0 { s.pend_score[s.pend_count as usize - 1] } else { 0.0 },
                    jingtu::temporal::from_day_number(s.seg_start),
                    if ev.construction { "C" } else { "." },
                    if ev.earthworks { "E" } else { "." },
                    if ev.idle_bare { "I" } else { "." },
                    jingtu::temporal::from_day_number(s.works_start),
                    jingtu::temporal::from_day_number(s.bare_start),
                    s.bare_unexplained,
                    s.bare_by_break
                );
            } else {
                line.push(if ev.construction {
                    'C'
                } else if ev.earthworks {
                    'E'
                } else if ev.idle_bare {
                    'I'
                } else {
                    '.'
                });
            }
        }
        if only.is_none() && line.contains(|c| c != '.') {
            println!("{:2} {:2} {line}", i % w, i / w);
        }
    }
}
