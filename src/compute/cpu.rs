//! The reference backend: rayon over row blocks, scalar functions from `spectral`.

use ndarray::parallel::prelude::*;
use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use super::moments::{BLOCK, PairMoments, block_moments};
use super::{Backend, ObservationPlanes};
use crate::error::Result;
use crate::raster::{BandRole, BandStack};
use crate::spectral::classes::classify_pixel;
use crate::spectral::cloud::looks_like_cloud;
use crate::spectral::indices::{Pixel, pixel_indices};
use crate::spectral::rgb::rgb_pixel_features;
use crate::spectral::{ClassRules, IndexStack, LandClass, RgbFeature, RgbFeatures};
use crate::temporal::model::BANDS;
use crate::temporal::{DateContext, PixelObservation, PixelState, TemporalParams, active_events, update_pixel};

/// Rows per parallel task: big enough to amortise scheduling, small enough to balance two to 64 cores.
const ROW_BLOCK: usize = 16;
/// Pixels per partial histogram; any size gives the same counts.
const REDUCE_CHUNK: usize = 1 << 16;

/// Runs every kernel on the CPU with rayon.
#[derive(Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// The CPU backend.
    pub fn new() -> Self {
        CpuBackend
    }
}

/// Band planes of a stack as slices, NaN-filled where a role is absent.
struct Planes<'a> {
    blue: Option<&'a [f32]>,
    green: Option<&'a [f32]>,
    red: Option<&'a [f32]>,
    nir: Option<&'a [f32]>,
    swir1: Option<&'a [f32]>,
    swir2: Option<&'a [f32]>,
}

impl<'a> Planes<'a> {
    fn of(stack: &'a BandStack) -> Self {
        let n = stack.height() * stack.width();
        let all = stack.data.as_slice().expect("band stacks are in standard layout");
        let plane = |role| stack.index_of(role).map(|i| &all[i * n..(i + 1) * n]);
        Planes {
            blue: plane(BandRole::Blue),
            green: plane(BandRole::Green),
            red: plane(BandRole::Red),
            nir: plane(BandRole::Nir),
            swir1: plane(BandRole::Swir1),
            swir2: plane(BandRole::Swir2),
        }
    }

    #[inline]
    fn pixel(&self, i: usize) -> Pixel {
        let get = |p: Option<&[f32]>| p.map_or(f32::NAN, |p| p[i]);
        Pixel {
            blue: get(self.blue),
            green: get(self.green),
            red: get(self.red),
            nir: get(self.nir),
            swir1: get(self.swir1),
            swir2: get(self.swir2),
        }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn linear(&self, stack: &mut BandStack, gains: &[f32], offsets: &[f32]) -> Result<()> {
        let (bands, h, w) = stack.data.dim();
        assert!(gains.len() == bands && offsets.len() == bands, "one gain and offset per band");
        let n = h * w;
        let chunk = ROW_BLOCK * w.max(1);
        let valid = stack.valid.as_slice_mut().expect("standard layout");
        let data = stack.data.as_slice_mut().expect("standard layout");
        // Band by band over each chunk of pixels (contiguous, branch-free, so it vectorizes): a pixel
        // whose value comes out non-finite in any band is invalid.
        {
            let data = &*data;
            valid.par_chunks_mut(chunk).enumerate().for_each(|(c, vrow)| {
                let start = c * chunk;
                for b in 0..bands {
                    let (g, o) = (gains[b], offsets[b]);
                    let plane = &data[b * n + start..b * n + start + vrow.len()];
                    for (v, x) in vrow.iter_mut().zip(plane) {
                        *v = if (*x * g + o).is_finite() { *v } else { 0 };
                    }
                }
            });
        }
        let valid = &*valid;
        data.par_chunks_mut(n.max(1)).enumerate().for_each(|(b, plane)| {
            let (g, o) = (gains[b], offsets[b]);
            plane.par_chunks_mut(chunk).zip(valid.par_chunks(chunk)).for_each(|(rows, vs)| {
                for (x, v) in rows.iter_mut().zip(vs) {
                    *x = if *v != 0 { *x * g + o } else { f32::NAN };
                }
            });
        });
        Ok(())
    }

    fn indices(&self, stack: &BandStack) -> Result<IndexStack> {
        let (h, w) = (stack.height(), stack.width());
        let planes = Planes::of(stack);
        let valid = stack.valid.as_slice().expect("standard layout");
        let mut out = Array3::<f32>::zeros((7, h, w));
        out.axis_chunks_iter_mut(Axis(1), ROW_BLOCK).into_par_iter().enumerate().for_each(|(chunk, mut block)| {
            let rows = block.dim().1;
            for r in 0..rows {
                for c in 0..w {
                    let i = (chunk * ROW_BLOCK + r) * w + c;
                    let values = if valid[i] != 0 { pixel_indices(&planes.pixel(i)) } else { [f32::NAN; 7] };
                    for (k, v) in values.iter().enumerate() {
                        block[[k, r, c]] = *v;
                    }
                }
            }
        });
        Ok(IndexStack { data: out })
    }

    fn classify(&self, stack: &BandStack, indices: &IndexStack, rules: &ClassRules) -> Result<Array2<u8>> {
        let (h, w) = (stack.height(), stack.width());
        let planes = Planes::of(stack);
        let valid = stack.valid.as_slice().expect("standard layout");
        let idx = indices.data.as_slice().expect("standard layout");
        let n = h * w;
        let mut out = Array2::<u8>::zeros((h, w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(ROW_BLOCK * w.max(1)).enumerate().for_each(
            |(chunk, rows)| {
                let start = chunk * ROW_BLOCK * w.max(1);
                for (k, out) in rows.iter_mut().enumerate() {
                    let i = start + k;
                    *out = if valid[i] == 0 {
                        LandClass::NoData as u8
                    } else {
                        let mut v = [0f32; 7];
                        for (j, slot) in v.iter_mut().enumerate() {
                            *slot = idx[j * n + i];
                        }
                        classify_pixel(&planes.pixel(i), &v, rules) as u8
                    };
                }
            },
        );
        Ok(out)
    }

    fn pair_moments(&self, before: &BandStack, after: &BandStack, weights: ArrayView2<u8>) -> Result<Vec<PairMoments>> {
        let bands = before.data.dim().0;
        let n = before.height() * before.width();
        let xb = before.data.as_slice().expect("standard layout");
        let yb = after.data.as_slice().expect("standard layout");
        let vb = before.valid.as_slice().expect("standard layout");
        let va = after.valid.as_slice().expect("standard layout");
        let weights = weights.as_standard_layout();
        let wt = weights.as_slice().expect("standard layout");
        // Blocks and their internal order as `moments` fixes them, so every backend gets the same bits.
        let partials: Vec<Vec<PairMoments>> = (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|block| {
                let range = block * BLOCK..(block * BLOCK + BLOCK).min(n);
                let mut keep = [false; BLOCK];
                for (k, i) in keep.iter_mut().zip(range.clone()) {
                    *k = wt[i] != 0 && vb[i] != 0 && va[i] != 0;
                }
                (0..bands)
                    .map(|b| {
                        let plane = b * n + range.start..b * n + range.end;
                        block_moments(&xb[plane.clone()], &yb[plane], &keep[..range.len()])
                    })
                    .collect()
            })
            .collect();
        let mut total = vec![PairMoments::default(); bands];
        for p in &partials {
            for (t, q) in total.iter_mut().zip(p) {
                t.merge(q);
            }
        }
        Ok(total)
    }

    fn change_magnitude(&self, before: &BandStack, after: &BandStack) -> Result<Array2<f32>> {
        let bands = before.data.dim().0;
        let (h, w) = (before.height(), before.width());
        let n = h * w;
        let xb = before.data.as_slice().expect("standard layout");
        let yb = after.data.as_slice().expect("standard layout");
        let vb = before.valid.as_slice().expect("standard layout");
        let va = after.valid.as_slice().expect("standard layout");
        let mut out = Array2::<f32>::zeros((h, w));
        let chunk = ROW_BLOCK * w.max(1);
        // Band by band over each chunk, the squares added in band order for every pixel as before.
        out.as_slice_mut().expect("standard layout").par_chunks_mut(chunk).enumerate().for_each(|(c, sums)| {
            let start = c * chunk;
            let len = sums.len();
            for b in 0..bands {
                let (x, y) = (&xb[b * n + start..b * n + start + len], &yb[b * n + start..b * n + start + len]);
                for ((s, x), y) in sums.iter_mut().zip(x).zip(y) {
                    let d = y - x;
                    *s += d * d;
                }
            }
            let (vb, va) = (&vb[start..start + len], &va[start..start + len]);
            for ((s, vb), va) in sums.iter_mut().zip(vb).zip(va) {
                *s = if *vb == 0 || *va == 0 { f32::NAN } else { (*s / bands as f32).sqrt() };
            }
        });
        Ok(out)
    }

    fn box_mean(&self, values: ArrayView2<f32>, radius: usize) -> Result<Array2<f32>> {
        let (h, w) = values.dim();
        let src = values.as_standard_layout();
        let src = src.as_slice().expect("standard layout");
        let r = radius as isize;
        let mut out = Array2::<f32>::zeros((h, w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(w.max(1)).enumerate().for_each(|(row, line)| {
            if radius == 1 && row > 0 && row + 1 < h && w > 2 {
                box_mean_3x3_row(src, w, row, line);
                return;
            }
            for (col, o) in line.iter_mut().enumerate() {
                let centre = src[row * w + col];
                if centre.is_nan() {
                    *o = f32::NAN;
                    continue;
                }
                let mut sum = 0f32;
                let mut count = 0f32;
                for dy in -r..=r {
                    let y = row as isize + dy;
                    if y < 0 || y >= h as isize {
                        continue;
                    }
                    for dx in -r..=r {
                        let x = col as isize + dx;
                        if x < 0 || x >= w as isize {
                            continue;
                        }
                        let v = src[y as usize * w + x as usize];
                        if v.is_finite() {
                            sum += v;
                            count += 1.0;
                        }
                    }
                }
                *o = sum / count;
            }
        });
        Ok(out)
    }

    fn histogram(&self, values: ArrayView2<f32>, lo: f32, hi: f32, bins: usize) -> Result<Vec<u64>> {
        if bins == 0 {
            return Ok(Vec::new());
        }
        let src = values.as_standard_layout();
        let src = src.as_slice().expect("standard layout");
        let scale = histogram_scale(lo, hi, bins);
        let partials: Vec<Vec<u64>> = src
            .par_chunks(REDUCE_CHUNK)
            .map(|chunk| {
                let mut h = vec![0u64; bins];
                for v in chunk.iter().filter(|v| v.is_finite()) {
                    h[histogram_bin(*v, lo, scale, bins)] += 1;
                }
                h
            })
            .collect();
        let mut total = vec![0u64; bins];
        for p in partials {
            for (t, c) in total.iter_mut().zip(p) {
                *t += c;
            }
        }
        Ok(total)
    }

    fn cloud_test(&self, stack: &BandStack) -> Result<Array2<u8>> {
        let (h, w) = (stack.height(), stack.width());
        let planes = Planes::of(stack);
        let valid = stack.valid.as_slice().expect("standard layout");
        let mut out = Array2::<u8>::zeros((h, w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(ROW_BLOCK * w.max(1)).enumerate().for_each(
            |(chunk, rows)| {
                let start = chunk * ROW_BLOCK * w.max(1);
                for (k, o) in rows.iter_mut().enumerate() {
                    let i = start + k;
                    *o = u8::from(valid[i] != 0 && looks_like_cloud(&planes.pixel(i)));
                }
            },
        );
        Ok(out)
    }

    fn temporal_update(
        &self,
        state: &mut [PixelState],
        observations: &ObservationPlanes,
        context: &DateContext,
        params: &TemporalParams,
        rules: &ClassRules,
    ) -> Result<Vec<u8>> {
        assert_eq!(state.len(), observations.class.len(), "one observation per pixel");
        assert_eq!(observations.bands.len(), BANDS * state.len(), "six band planes");
        Ok(Self::temporal(state, observations, context, params, rules))
    }

    fn dilate(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
        let (h, w) = mask.dim();
        let src = mask.as_standard_layout();
        let src = src.as_slice().expect("standard layout");
        let r = radius as isize;
        let mut out = Array2::<u8>::zeros((h, w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(w.max(1)).enumerate().for_each(|(row, line)| {
            for (col, o) in line.iter_mut().enumerate() {
                let mut hit = 0u8;
                'window: for dy in -r..=r {
                    let y = row as isize + dy;
                    if y < 0 || y >= h as isize {
                        continue;
                    }
                    for dx in -r..=r {
                        let x = col as isize + dx;
                        if x >= 0 && x < w as isize && src[y as usize * w + x as usize] != 0 {
                            hit = 1;
                            break 'window;
                        }
                    }
                }
                *o = hit;
            }
        });
        Ok(out)
    }

    fn height_difference(&self, before: ArrayView2<f32>, after: ArrayView2<f32>, offset: f32) -> Result<Array2<f32>> {
        assert_eq!(before.dim(), after.dim(), "surfaces share a grid");
        let (h, w) = before.dim();
        let b = before.as_standard_layout();
        let a = after.as_standard_layout();
        let (b, a) = (b.as_slice().expect("standard layout"), a.as_slice().expect("standard layout"));
        let mut out = Array2::<f32>::zeros((h, w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(ROW_BLOCK * w.max(1)).enumerate().for_each(
            |(chunk, rows)| {
                let start = chunk * ROW_BLOCK * w.max(1);
                for (k, o) in rows.iter_mut().enumerate() {
                    // NaN in either propagates through the subtraction.
                    *o = a[start + k] - b[start + k] - offset;
                }
            },
        );
        Ok(out)
    }

    fn slope(&self, surface: ArrayView2<f32>, step: usize, pixel_width: f32, pixel_height: f32) -> Result<Array2<f32>> {
        let (h, w) = surface.dim();
        let k = step.max(1);
        let src = surface.as_standard_layout();
        let src = src.as_slice().expect("standard layout");
        let mut out = Array2::<f32>::zeros((h, w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(w.max(1)).enumerate().for_each(|(row, line)| {
            for (col, o) in line.iter_mut().enumerate() {
                let z = src[row * w + col];
                if z.is_nan() {
                    *o = f32::NAN;
                    continue;
                }
                let at = |r: usize, c: usize| src[r * w + c];
                let west = (col >= k).then(|| at(row, col - k)).filter(|v| v.is_finite());
                let east = (col + k < w).then(|| at(row, col + k)).filter(|v| v.is_finite());
                let north = (row >= k).then(|| at(row - k, col)).filter(|v| v.is_finite());
                let south = (row + k < h).then(|| at(row + k, col)).filter(|v| v.is_finite());
                let dx = central_difference(west, z, east, pixel_width * k as f32);
                let dy = central_difference(north, z, south, pixel_height * k as f32);
                *o = match (dx, dy) {
                    (Some(dx), Some(dy)) => (dx * dx + dy * dy).sqrt(),
                    (Some(d), None) | (None, Some(d)) => d.abs(),
                    (None, None) => f32::NAN,
                };
            }
        });
        Ok(out)
    }

    fn erode(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
        let (h, w) = mask.dim();
        let src = mask.as_standard_layout();
        let src = src.as_slice().expect("standard layout");
        // Separable: a square window is all set when every row segment of it is, so erode along rows,
        // then along columns, each in time independent of the radius.
        let mut rows_ok = vec![0u8; h * w];
        rows_ok.par_chunks_mut(w.max(1)).enumerate().for_each(|(row, line)| {
            let base = row * w;
            let back = runs_since_zero(w, |c| src[base + c] == 0);
            let fwd = runs_since_zero(w, |c| src[base + w - 1 - c] == 0);
            for (c, o) in line.iter_mut().enumerate() {
                *o = u8::from(back[c] > radius && fwd[w - 1 - c] > radius);
            }
        });
        let mut out = Array2::<u8>::zeros((h, w));
        let dst = out.as_slice_mut().expect("standard layout");
        let cols: Vec<Vec<u8>> = (0..w)
            .into_par_iter()
            .map(|c| {
                let down = runs_since_zero(h, |r| rows_ok[r * w + c] == 0);
                let up = runs_since_zero(h, |r| rows_ok[(h - 1 - r) * w + c] == 0);
                (0..h).map(|r| u8::from(down[r] > radius && up[h - 1 - r] > radius)).collect()
            })
            .collect();
        for (c, col) in cols.iter().enumerate() {
            for (r, v) in col.iter().enumerate() {
                dst[r * w + c] = *v;
            }
        }
        Ok(out)
    }

    fn rgb_features(&self, stack: &BandStack) -> Result<RgbFeatures> {
        let (h, w) = (stack.height(), stack.width());
        let planes = Planes::of(stack);
        let valid = stack.valid.as_slice().expect("standard layout");
        let mut out = Array3::<f32>::zeros((RgbFeature::ALL.len(), h, w));
        out.axis_chunks_iter_mut(Axis(1), ROW_BLOCK).into_par_iter().enumerate().for_each(|(chunk, mut block)| {
            for r in 0..block.dim().1 {
                for c in 0..w {
                    let i = (chunk * ROW_BLOCK + r) * w + c;
                    let p = planes.pixel(i);
                    let values = if valid[i] != 0 { rgb_pixel_features(p.red, p.green, p.blue) } else { [f32::NAN; 4] };
                    for (k, v) in values.iter().enumerate() {
                        block[[k, r, c]] = *v;
                    }
                }
            }
        });
        Ok(RgbFeatures { data: out })
    }
}

/// The derivative at a pixel from its neighbours on one axis: central where both exist, one-sided at
/// edges and beside gaps, `None` where neither exists.
#[inline]
fn central_difference(before: Option<f32>, centre: f32, after: Option<f32>, spacing: f32) -> Option<f32> {
    match (before, after) {
        (Some(b), Some(a)) => Some((a - b) / (2.0 * spacing)),
        (None, Some(a)) => Some((a - centre) / spacing),
        (Some(b), None) => Some((centre - b) / spacing),
        (None, None) => None,
    }
}

/// For each position of a line of `len` pixels, how far back the nearest zero lies (0 on a zero itself,
/// `usize::MAX` when none lies at or before it); beyond the line counts as nonzero.
fn runs_since_zero(len: usize, is_zero: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut out = vec![0usize; len];
    let mut since = usize::MAX;
    for (i, o) in out.iter_mut().enumerate() {
        since = if is_zero(i) { 0 } else { since.saturating_add(1) };
        *o = since;
    }
    out
}

impl CpuBackend {
    /// The temporal step over every pixel (rayon over fixed chunks).
    pub(crate) fn temporal(
        state: &mut [PixelState],
        obs: &ObservationPlanes,
        ctx: &DateContext,
        params: &TemporalParams,
        rules: &ClassRules,
    ) -> Vec<u8> {
        let n = state.len();
        let mut bits = vec![0u8; state.len()];
        state.par_chunks_mut(4096).zip(bits.par_chunks_mut(4096)).enumerate().for_each(|(chunk, (states, out))| {
            for (k, (s, b)) in states.iter_mut().zip(out.iter_mut()).enumerate() {
                let i = chunk * 4096 + k;
                let o = PixelObservation {
                    class: LandClass::from_u8(obs.class[i]),
                    bands: std::array::from_fn(|b| obs.bands[b * n + i]),
                    ndvi: obs.ndvi[i],
                    bsi: obs.bsi[i],
                };
                update_pixel(s, &o, ctx, params, rules);
                *b = active_events(s, ctx.day, params).bits();
            }
        });
        bits
    }
}

/// One row of the 3x3 mean away from the top and bottom edges, summing in the same order as the general
/// loop (rows, then columns, of the window). A value that is not finite adds +0.0 instead of being skipped:
/// the sum starts at +0.0 and only grows by non-negative or finite terms that never make it -0.0, so
/// adding +0.0 leaves it as it was, and the branch-free body vectorizes across columns.
fn box_mean_3x3_row(src: &[f32], w: usize, row: usize, line: &mut [f32]) {
    let up = &src[(row - 1) * w..row * w];
    let mid = &src[row * w..(row + 1) * w];
    let down = &src[(row + 1) * w..(row + 2) * w];
    let term = |v: f32| if v.is_finite() { (v, 1.0f32) } else { (0.0f32, 0.0f32) };
    let edge = |col: usize| {
        let mut sum = 0f32;
        let mut count = 0f32;
        for r in [up, mid, down] {
            for x in &r[col.saturating_sub(1)..(col + 2).min(w)] {
                let (v, c) = term(*x);
                sum += v;
                count += c;
            }
        }
        sum / count
    };
    for col in [0, w - 1] {
        line[col] = if mid[col].is_nan() { f32::NAN } else { edge(col) };
    }
    for col in 1..w - 1 {
        let mut sum = 0f32;
        let mut count = 0f32;
        for r in [up, mid, down] {
            for x in [r[col - 1], r[col], r[col + 1]] {
                let (v, c) = term(x);
                sum += v;
                count += c;
            }
        }
        line[col] = if mid[col].is_nan() { f32::NAN } else { sum / count };
    }
}

/// Bins per unit of a histogram of `bins` bins over `[lo, hi)`: computed once on the host, for both
/// backends, so that they bin with the same f32.
#[inline]
pub fn histogram_scale(lo: f32, hi: f32, bins: usize) -> f32 {
    bins as f32 / (hi - lo)
}

/// The bin of `v` for a histogram starting at `lo` with `scale` bins per unit; histogram.wgsl mirrors it.
#[inline]
pub fn histogram_bin(v: f32, lo: f32, scale: f32, bins: usize) -> usize {
    // The floor of a non-negative number is its truncation, and floor(b) < 0 exactly when b < 0: no
    // `floor` call (a library call on baseline x86-64), the same bins.
    let b = (v - lo) * scale;
    if b < 0.0 { 0 } else { (b as usize).min(bins - 1) }
}
