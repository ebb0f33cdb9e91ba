//! Issue 6, acceptance 2: image chips are correct. On a small generated case with one known change
//! (`common::building`: grass that becomes a concrete building), the flag outline drawn in the
//! quicklooks lies on the edge of the changed pixels, and before and after share one stretch (every
//! unchanged pixel has the same colour on both dates).

use crate::support as common;

use std::path::Path;

use common::building::{EVENT, PIXEL, X0, Y0, grown, inside, write_case};
use jingtu::report::chips::{FLAG_OUTLINE, PLOT_OUTLINE};
use serde_json::Value;

fn decode(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "quicklooks are RGB");
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

#[test]
fn quicklook_outlines_lie_on_the_changed_pixels_and_both_dates_share_one_stretch() {
    let dir = tempfile::tempdir().unwrap();
    let (plots, catalog) = write_case(dir.path());
    let chips = dir.path().join("chips");
    let store = dir.path().join("store.gpkg");
    let run = common::jingtu([
        "scan",
        "--plots",
        plots.to_str().unwrap(),
        "--scenes",
        catalog.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--no-report",
        "--chips",
        chips.to_str().unwrap(),
        "--backend",
        "cpu",
        "--json",
    ]);
    run.expect_code(0, "scan of the chip case");
    let summary = run.json_summary();
    let index: Value = serde_json::from_str(&std::fs::read_to_string(chips.join("index.json")).unwrap()).unwrap();
    let flags = index["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "one flag for the one event: {index:#}\nscan: {summary:#}");
    let flag = &flags[0];
    assert_eq!(flag["kind"], "construction");
    // Before is the acquisition before the building was first seen; after is the last that showed it.
    assert_eq!(flag["before"][1], "2026-01-10", "{flag}");
    assert_eq!(flag["after"][1], "2026-04-10", "{flag}");
    assert_eq!(flag["rows"], serde_json::json!(["true", "false"]), "true and false colour (the scenes have SWIR)");

    let (w, h, px) = decode(&chips.join(flag["file"].as_str().unwrap()));
    let pw = flag["panel_width"].as_u64().unwrap() as usize;
    let ph = flag["panel_height"].as_u64().unwrap() as usize;
    let gap = flag["gap"].as_u64().unwrap() as usize;
    assert_eq!((w, h), (2 * pw + gap, 2 * ph + gap));
    let mpp = flag["metres_per_pixel"].as_f64().unwrap();
    let (ox, oy) = (flag["origin"][0].as_f64().unwrap(), flag["origin"][1].as_f64().unwrap());
    // The scene pixel under an image pixel of a panel.
    let scene_px = |x: usize, y: usize| -> (i64, i64) {
        let (gx, gy) = (ox + (x as f64 + 0.5) * mpp, oy - (y as f64 + 0.5) * mpp);
        (((gx - X0) / PIXEL).floor() as i64, ((Y0 - gy) / PIXEL).floor() as i64)
    };
    let colour = |row: usize, col: usize, x: usize, y: usize| -> [u8; 3] {
        let (ix, iy) = (col * (pw + gap) + x, row * (ph + gap) + y);
        let i = (iy * w + ix) * 3;
        [px[i], px[i + 1], px[i + 2]]
    };
    let ring_out = grown(&EVENT, 1);
    let ring_in = grown(&EVENT, -1);
    for row in 0..2 {
        for col in 0..2 {
            // Every outline pixel is on the edge of the event: the pixel row just inside or just outside.
            let mut drawn = std::collections::HashSet::new();
            for y in 0..ph {
                for x in 0..pw {
                    if colour(row, col, x, y) == FLAG_OUTLINE {
                        let (c, r) = scene_px(x, y);
                        assert!(
                            inside(&ring_out, c, r) && !inside(&ring_in, c, r),
                            "panel ({row}, {col}): outline pixel ({x}, {y}) over scene pixel ({c}, {r}), off the event's edge"
                        );
                        drawn.insert((c, r));
                    }
                }
            }
            // And the whole edge is drawn: every edge pixel of the event carries outline.
            for r in EVENT.row..EVENT.row + EVENT.height {
                for c in EVENT.col..EVENT.col + EVENT.width {
                    if !inside(&ring_in, c as i64, r as i64) {
                        assert!(
                            drawn.contains(&(c as i64, r as i64)),
                            "panel ({row}, {col}): edge pixel ({c}, {r}) not outlined"
                        );
                    }
                }
            }
        }
        // One stretch: every pixel away from the event and the outlines has the same colour on both dates,
        // and the event itself does not.
        let (mut same, mut unchanged, mut changed_diff, mut changed) = (0usize, 0usize, 0u64, 0u64);
        for y in 0..ph {
            for x in 0..pw {
                let (b, a) = (colour(row, 0, x, y), colour(row, 1, x, y));
                let (c, r) = scene_px(x, y);
                let overlay = [b, a].iter().any(|p| *p == FLAG_OUTLINE || *p == PLOT_OUTLINE);
                if overlay {
                    continue;
                }
                if !inside(&ring_out, c, r) {
                    unchanged += 1;
                    same += usize::from(a == b);
                } else if inside(&ring_in, c, r) {
                    changed += 1;
                    changed_diff += (0..3).map(|k| (a[k] as i64 - b[k] as i64).unsigned_abs()).sum::<u64>();
                }
            }
        }
        assert!(unchanged > 1000, "{unchanged}");
        assert_eq!(same, unchanged, "composite row {row}: unchanged ground must look the same on both dates");
        assert!(
            changed > 0 && changed_diff / changed > 60,
            "the new building must show: {}",
            changed_diff / changed.max(1)
        );
    }
    // The index states one stretch per composite, used for both panels.
    for s in flag["stretch"].as_array().unwrap() {
        assert!(s["lo"][0].as_f64().unwrap() < s["hi"][0].as_f64().unwrap());
    }
}
