//! Image chips: true and false colour composites of a window, with one stretch shared by the before and
//! after chips of a flag so that a difference in the pictures is a difference on the ground, the flag
//! outline and plot boundary drawn in, and PNG encoding.
//!
//! ```text
//!  quicklook (--chips DIR/<flag_id>.png), each panel upscaled by an integer factor:
//!  +-----------------+   +-----------------+
//!  | before, true    |   | after, true     |     yellow: flag outline (2 px, straddling its pixel edges)
//!  |   +--cyan--+    |   |   +--------+    |     cyan, dashed: plot boundary
//!  |   |  ####  |    |   |   |  ####  |    |
//!  +-----------------+   +-----------------+
//!  | before, false   |   | after, false    |     false colour: SWIR1, NIR, red (NIR, red, green
//!  +-----------------+   +-----------------+     without SWIR)
//! ```

use serde::Serialize;

use super::imagery::Window;
use crate::error::{Error, Result};
use crate::raster::{BandRole, Grid};

/// Flag outlines: a yellow that no stretched pixel is allowed to take (see [`render`]).
pub const FLAG_OUTLINE: [u8; 3] = [255, 230, 0];
/// Plot boundaries: a cyan no stretched pixel is allowed to take.
pub const PLOT_OUTLINE: [u8; 3] = [0, 229, 255];
/// Pixels without an observation.
pub const NODATA: [u8; 3] = [0, 0, 0];
/// Space between quicklook panels.
pub const QUICKLOOK_GAP: usize = 6;
/// Lower and upper cumulative cut of the stretch (QGIS's default 2-98 %).
pub const STRETCH_CUT: (f64, f64) = (0.02, 0.98);

/// Three bands shown as red, green and blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Composite {
    /// `true` or `false` colour.
    pub key: &'static str,
    /// What the colours are, for captions.
    pub label: &'static str,
    /// Bands shown as red, green, blue.
    pub roles: [BandRole; 3],
}

/// The composites a scene's bands allow: true colour, and false colour with SWIR where there is SWIR
/// (bare soil and buildings separate best there) or colour infrared without.
pub fn composites(roles: &[BandRole]) -> Vec<Composite> {
    let has = |r: BandRole| roles.contains(&r);
    let mut out = Vec::new();
    if has(BandRole::Red) && has(BandRole::Green) && has(BandRole::Blue) {
        out.push(Composite {
            key: "true",
            label: "true colour (red, green, blue)",
            roles: [BandRole::Red, BandRole::Green, BandRole::Blue],
        });
    }
    if has(BandRole::Swir1) && has(BandRole::Nir) && has(BandRole::Red) {
        out.push(Composite {
            key: "false",
            label: "false colour (SWIR 1.6 \u{b5}m, NIR, red): vegetation green, bare soil and buildings pink to brown",
            roles: [BandRole::Swir1, BandRole::Nir, BandRole::Red],
        });
    } else if has(BandRole::Nir) && has(BandRole::Red) && has(BandRole::Green) {
        out.push(Composite {
            key: "false",
            label: "colour infrared (NIR, red, green): vegetation red",
            roles: [BandRole::Nir, BandRole::Red, BandRole::Green],
        });
    }
    out
}

/// A linear stretch per displayed band: reflectance `lo` is 0, `hi` is 255 (jingtu uses one range for
/// the three bands; the type allows one per band, as GIS styles do).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stretch {
    /// Bands, as red, green, blue.
    pub roles: [BandRole; 3],
    /// Reflectance shown black.
    pub lo: [f32; 3],
    /// Reflectance shown at full intensity.
    pub hi: [f32; 3],
}

/// One stretch for every window given (the before and after chips of a flag): the 2-98 % cumulative
/// cut over the clear pixels of all of them and all three bands together. One range for the three
/// bands keeps the colour balance (grass stays green, soil brown); one range for both dates makes a
/// difference between the chips a difference on the ground. `None` when no window has a value.
pub fn shared_stretch(windows: &[&Window], composite: &Composite) -> Option<Stretch> {
    let mut clear = Vec::new();
    let mut any = Vec::new();
    for role in composite.roles {
        for w in windows {
            let Some(band) = w.reflectance.band(role) else { continue };
            for (i, v) in band.iter().enumerate() {
                if v.is_finite() {
                    any.push(*v);
                    if w.clear(i) {
                        clear.push(*v);
                    }
                }
            }
        }
    }
    // Clouds would wash out the ground; only windows that are nearly all cloud are stretched on clouds.
    let values = if clear.len() >= 48 { clear } else { any };
    if values.is_empty() {
        return None;
    }
    let (l, h) = (quantile(&values, STRETCH_CUT.0), quantile(&values, STRETCH_CUT.1));
    let h = if h - l < 0.01 { l + 0.01 } else { h };
    Some(Stretch { roles: composite.roles, lo: [l; 3], hi: [h; 3] })
}

fn quantile(values: &[f32], q: f64) -> f32 {
    let mut v = values.to_vec();
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    let (_, x, _) = v.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    *x
}

/// An 8-bit RGB image.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row-major RGB triples.
    pub data: Vec<u8>,
}

impl Rgb {
    /// A blank image of one colour.
    pub fn filled(width: usize, height: usize, colour: [u8; 3]) -> Rgb {
        Rgb { width, height, data: colour.iter().copied().cycle().take(width * height * 3).collect() }
    }

    /// The colour at (`col`, `row`).
    pub fn pixel(&self, col: usize, row: usize) -> [u8; 3] {
        let i = (row * self.width + col) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    fn set(&mut self, col: usize, row: usize, c: [u8; 3]) {
        let i = (row * self.width + col) * 3;
        self.data[i..i + 3].copy_from_slice(&c);
    }

    /// Copies `other` in with its top-left corner at (`col`, `row`).
    pub fn paste(&mut self, other: &Rgb, col: usize, row: usize) {
        for r in 0..other.height.min(self.height.saturating_sub(row)) {
            for c in 0..other.width.min(self.width.saturating_sub(col)) {
                self.set(col + c, row + r, other.pixel(c, r));
            }
        }
    }

    /// Each pixel as a `factor` x `factor` block (nearest neighbour: pixels stay pixels).
    pub fn upscaled(&self, factor: usize) -> Rgb {
        let f = factor.max(1);
        let mut out = Rgb::filled(self.width * f, self.height * f, NODATA);
        for r in 0..out.height {
            for c in 0..out.width {
                out.set(c, r, self.pixel(c / f, r / f));
            }
        }
        out
    }
}

/// The window as a composite with `stretch`. Pixels without an observation are black; a pixel whose
/// colour would equal an outline colour is moved by one level, so that outline pixels are exactly the
/// pixels drawn as outlines (tests and registry services can find them).
pub fn render(window: &Window, stretch: &Stretch) -> Rgb {
    let (h, w) = (window.reflectance.height(), window.reflectance.width());
    let bands: Vec<_> = stretch.roles.iter().map(|r| window.reflectance.band(*r)).collect();
    let mut out = Rgb::filled(w, h, NODATA);
    for r in 0..h {
        for c in 0..w {
            let mut px = [0u8; 3];
            let mut ok = true;
            for k in 0..3 {
                let v = bands[k].as_ref().map_or(f32::NAN, |b| b[[r, c]]);
                if !v.is_finite() {
                    ok = false;
                    break;
                }
                let t = ((v - stretch.lo[k]) / (stretch.hi[k] - stretch.lo[k])).clamp(0.0, 1.0);
                px[k] = (t * 255.0).round() as u8;
            }
            if !ok {
                continue;
            }
            if px == FLAG_OUTLINE || px == PLOT_OUTLINE {
                // Both have a green of at least 229.
                px[1] -= 1;
            }
            out.set(c, r, px);
        }
    }
    out
}

/// Map coordinates of rings as fractional pixel positions on `grid`, times `factor`.
pub fn to_pixels(grid: &Grid, rings: &[Vec<(f64, f64)>], factor: f64) -> Vec<Vec<(f64, f64)>> {
    rings
        .iter()
        .map(|ring| {
            ring.iter()
                .filter_map(|(x, y)| grid.transform.geo_to_pixel(*x, *y))
                .map(|(c, r)| (c * factor, r * factor))
                .collect()
        })
        .collect()
}

/// Draws rings (in pixel positions of `image`) as lines `width` pixels wide, solid or dashed (`dash`:
/// on and off lengths in pixels). A pixel is drawn when its centre is within half the width of the
/// line (square brush), so a 2-pixel line on a pixel edge covers one pixel on each side of it.
pub fn draw_rings(image: &mut Rgb, rings: &[Vec<(f64, f64)>], colour: [u8; 3], width: f64, dash: Option<(f64, f64)>) {
    let half = width / 2.0;
    for ring in rings {
        let mut travelled = 0.0f64;
        for seg in ring.windows(2) {
            let ((x0, y0), (x1, y1)) = (seg[0], seg[1]);
            let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
            let steps = (len / 0.25).ceil().max(1.0) as usize;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                if let Some((on, off)) = dash {
                    if (travelled + t * len) % (on + off) >= on {
                        continue;
                    }
                }
                let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
                let c0 = (x - half - 0.5).ceil().max(0.0) as usize;
                let r0 = (y - half - 0.5).ceil().max(0.0) as usize;
                let c1 = ((x + half - 0.5).floor()).min(image.width as f64 - 1.0);
                let r1 = ((y + half - 0.5).floor()).min(image.height as f64 - 1.0);
                if c1 < 0.0 || r1 < 0.0 {
                    continue;
                }
                for r in r0..=r1 as usize {
                    for c in c0..=c1 as usize {
                        image.set(c, r, colour);
                    }
                }
            }
            travelled += len;
        }
    }
}

/// The integer upscale that makes a chip about 256 pixels across (1 to 8).
pub fn quicklook_factor(width: usize, height: usize) -> usize {
    (256usize.div_ceil(width.max(height).max(1))).clamp(1, 8)
}

/// PNG bytes of an image.
pub fn encode_png(image: &Rgb) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, image.width as u32, image.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().map_err(|e| Error::Usage(format!("PNG encoding: {e}")))?;
        writer.write_image_data(&image.data).map_err(|e| Error::Usage(format!("PNG encoding: {e}")))?;
    }
    Ok(out)
}

/// The world file of an image drawn over `grid` with each grid pixel as `factor` x `factor` image
/// pixels: pixel size and rotation terms, then the centre of the upper-left image pixel (the ESRI world
/// file convention GDAL, QGIS and ArcGIS read).
pub fn world_file(grid: &Grid, factor: usize) -> String {
    let t = &grid.transform.0;
    let f = factor.max(1) as f64;
    let (a, b, d, e) = (t[1] / f, t[2] / f, t[4] / f, t[5] / f);
    let (x, y) = (t[0] + 0.5 * a + 0.5 * b, t[3] + 0.5 * d + 0.5 * e);
    format!("{a}\n{d}\n{b}\n{e}\n{x}\n{y}\n")
}

/// GDAL's `.aux.xml` giving an image its CRS (a world file has none), so GIS clients place it without
/// asking.
pub fn crs_aux_xml(crs_wkt: &str) -> String {
    let wkt = crs_wkt.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    format!("<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping=\"1,2\">{wkt}</SRS>\n</PAMDataset>\n")
}

/// Writes `image` as a PNG with a world file (`.pgw`) and, where the grid has a CRS, a `.png.aux.xml`
/// naming it: the image opens in place in QGIS or any GDAL client. Atomic, with its sidecars.
pub fn write_georeferenced_png(
    path: &std::path::Path,
    image: &Rgb,
    grid: &Grid,
    factor: usize,
    overwrite: bool,
) -> Result<()> {
    let out = crate::export::AtomicOutput::new(path, &["pgw", ".aux.xml"], overwrite)?;
    let temp = out.temp_path().to_path_buf();
    std::fs::write(&temp, encode_png(image)?).map_err(|e| Error::io(path, e))?;
    let sidecar = |ext| crate::export::atomic::sidecar_path(&temp, ext);
    std::fs::write(sidecar("pgw"), world_file(grid, factor)).map_err(|e| Error::io(path, e))?;
    let crs = if grid.crs_wkt.is_empty() {
        None
    } else {
        crate::io::crs::canonical_srs(&grid.crs_wkt).and_then(|s| s.to_wkt().ok())
    };
    if let Some(wkt) = crs {
        std::fs::write(sidecar(".aux.xml"), crs_aux_xml(&wkt)).map_err(|e| Error::io(path, e))?;
    }
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::{BandStack, GeoTransform};
    use ndarray::{Array2, Array3};

    fn window(values: [f32; 3], n: usize) -> Window {
        let mut data = Array3::<f32>::zeros((3, n, n));
        for (k, v) in values.iter().enumerate() {
            data.index_axis_mut(ndarray::Axis(0), k).fill(*v);
        }
        data[[0, 0, 0]] = f32::NAN;
        Window {
            reflectance: BandStack::new(
                vec![BandRole::Red, BandRole::Green, BandRole::Blue],
                data,
                Array2::<u8>::ones((n, n)),
            ),
            class: vec![1; n * n],
            ndvi: vec![0.0; n * n],
            bsi: vec![0.0; n * n],
        }
    }

    #[test]
    fn world_files_name_the_centre_of_the_upper_left_image_pixel() {
        let grid = Grid {
            crs_wkt: String::new(),
            epsg: None,
            transform: GeoTransform::north_up(300000.0, 3600000.0, 10.0, 10.0),
            width: 5,
            height: 5,
        };
        // Each 10 m pixel drawn as 4 x 4 image pixels of 2.5 m; the first image pixel's centre is 1.25 m in.
        assert_eq!(world_file(&grid, 4), "2.5\n0\n0\n-2.5\n300001.25\n3599998.75\n");
    }

    #[test]
    fn one_stretch_spans_both_dates() {
        let dark = window([0.05, 0.06, 0.07], 8);
        let bright = window([0.25, 0.26, 0.27], 8);
        let c = composites(&[BandRole::Red, BandRole::Green, BandRole::Blue])[0];
        let s = shared_stretch(&[&dark, &bright], &c).unwrap();
        // Pooled over three bands and both dates: 2 % falls on the dark date's red, 98 % on the bright
        // date's blue.
        assert_eq!((s.lo, s.hi), ([0.05; 3], [0.27; 3]));
        let (a, b) = (render(&dark, &s), render(&bright, &s));
        assert_eq!(a.pixel(0, 0), NODATA, "NaN is nodata");
        // (v - 0.05) / 0.22 * 255 for every band: the same reflectance maps to the same level on both.
        assert_eq!((a.pixel(1, 1), b.pixel(1, 1)), ([0, 12, 23], [232, 243, 255]));
    }

    #[test]
    fn outlines_straddle_pixel_edges_and_no_pixel_takes_their_colour() {
        let mut img = Rgb::filled(20, 20, [10, 10, 10]);
        let grid = Grid {
            crs_wkt: String::new(),
            epsg: None,
            transform: GeoTransform::north_up(0.0, 100.0, 10.0, 10.0),
            width: 5,
            height: 5,
        };
        // The square of pixels (1..3, 1..3) at factor 4: its edges are at 4 and 12.
        let ring = vec![(10.0, 90.0), (30.0, 90.0), (30.0, 70.0), (10.0, 70.0), (10.0, 90.0)];
        draw_rings(&mut img, &to_pixels(&grid, &[ring], 4.0), FLAG_OUTLINE, 2.0, None);
        let drawn: Vec<(usize, usize)> = (0..20)
            .flat_map(|r| (0..20).map(move |c| (c, r)))
            .filter(|(c, r)| img.pixel(*c, *r) == FLAG_OUTLINE)
            .collect();
        assert!(drawn.iter().all(|(c, r)| [3, 4, 11, 12].contains(c) || [3, 4, 11, 12].contains(r)));
        assert!(drawn.contains(&(3, 8)) && drawn.contains(&(4, 8)) && drawn.contains(&(12, 8)));
        let yellowish = window([1.0, 0.9, 0.0], 4);
        let s = Stretch { roles: [BandRole::Red, BandRole::Green, BandRole::Blue], lo: [0.0; 3], hi: [1.0; 3] };
        let r = render(&yellowish, &s);
        assert_ne!(r.pixel(1, 1), FLAG_OUTLINE);
    }
}
