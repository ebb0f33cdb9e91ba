//! Automatic thresholds on change statistics.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::compute::Backend;
use crate::error::Result;

/// Bins of the histogram Otsu's method searches.
const OTSU_BINS: usize = 512;
/// Bins of the first pass that finds where the long tail starts.
const RANGE_BINS: usize = 4096;
/// Quantile above which values are lumped into the last bin, so a few clouds or saturated pixels cannot
/// squeeze the whole distribution into the first bins.
const TAIL_QUANTILE: f64 = 0.999;

/// Otsu's threshold (1979) on the finite values: the cut that maximises the between-class variance.
/// `None` when fewer than two distinct values exist.
pub fn otsu(backend: &dyn Backend, values: ArrayView2<f32>) -> Result<Option<f32>> {
    Ok(clipped_histogram(backend, values)?.and_then(|h| otsu_on_histogram(&h.counts).map(|bin| h.upper_edge(bin))))
}

/// Kittler and Illingworth's minimum-error threshold (1986) on the finite values: the cut that best splits
/// the values into two Gaussian classes, each with its own mean, variance and share. `None` when no cut
/// leaves both classes populated.
///
/// Otsu's cut assumes classes of similar spread and size; when change is a few percent of the pixels and
/// far more spread out than the stable ground, it lands well inside the change class and loses its weaker
/// half. On the Taizhou Landsat pair (change on about 9% of the pixels) Otsu cuts at 0.051 (kappa 0.954),
/// the minimum-error cut at 0.043 (kappa 0.975).
pub fn minimum_error(backend: &dyn Backend, values: ArrayView2<f32>) -> Result<Option<f32>> {
    Ok(clipped_histogram(backend, values)?
        .and_then(|h| minimum_error_on_histogram(&h.counts).map(|bin| h.upper_edge(bin))))
}

/// Otsu's and the minimum-error cut from one histogram of the values: what [`otsu`] and
/// [`minimum_error`] return, for the price of one of them.
pub fn otsu_and_minimum_error(backend: &dyn Backend, values: ArrayView2<f32>) -> Result<(Option<f32>, Option<f32>)> {
    Ok(match clipped_histogram(backend, values)? {
        Some(h) => (
            otsu_on_histogram(&h.counts).map(|bin| h.upper_edge(bin)),
            minimum_error_on_histogram(&h.counts).map(|bin| h.upper_edge(bin)),
        ),
        None => (None, None),
    })
}

/// A histogram of the finite values from the smallest to the `TAIL_QUANTILE` quantile, the rest lumped
/// into the last bin.
struct Clipped {
    counts: Vec<u64>,
    lo: f32,
    tail: f32,
}

impl Clipped {
    /// The value at the upper edge of `bin`: a cut after `bin` keeps it in the lower class.
    fn upper_edge(&self, bin: usize) -> f32 {
        self.lo + (bin as f32 + 1.0) * (self.tail - self.lo) / OTSU_BINS as f32
    }
}

/// [`otsu_and_minimum_error`] where the caller already knows the finite range of the values (a streaming
/// pass that saw every value on its way): one sweep less over a scene-sized raster.
pub fn otsu_and_minimum_error_in(
    backend: &dyn Backend,
    values: ArrayView2<f32>,
    range: (f32, f32),
) -> Result<(Option<f32>, Option<f32>)> {
    Ok(match clipped_histogram_in(backend, values, range)? {
        Some(h) => (
            otsu_on_histogram(&h.counts).map(|bin| h.upper_edge(bin)),
            minimum_error_on_histogram(&h.counts).map(|bin| h.upper_edge(bin)),
        ),
        None => (None, None),
    })
}

fn clipped_histogram(backend: &dyn Backend, values: ArrayView2<f32>) -> Result<Option<Clipped>> {
    clipped_histogram_in(backend, values, finite_range(values))
}

fn clipped_histogram_in(
    backend: &dyn Backend,
    values: ArrayView2<f32>,
    (lo, hi): (f32, f32),
) -> Result<Option<Clipped>> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Ok(None);
    }
    let coarse = backend.histogram(values, lo, hi, RANGE_BINS)?;
    let total: u64 = coarse.iter().sum();
    let mut seen = 0u64;
    let mut tail = hi;
    for (i, c) in coarse.iter().enumerate() {
        seen += c;
        if seen as f64 >= TAIL_QUANTILE * total as f64 {
            tail = lo + (i + 1) as f32 * (hi - lo) / RANGE_BINS as f32;
            break;
        }
    }
    let counts = backend.histogram(values, lo, tail, OTSU_BINS)?;
    Ok(Some(Clipped { counts, lo, tail }))
}

/// The last bin of the lower class at the minimum-error cut: the `k` minimising
/// `p1 ln v1 + p2 ln v2 - 2 (p1 ln p1 + p2 ln p2)` over the two classes' shares `p` and variances `v`
/// (Kittler and Illingworth's criterion, less its constant). Variances get Sheppard's correction (1/12 of
/// a bin squared), so a class within one bin does not score minus infinity.
pub fn minimum_error_on_histogram(hist: &[u64]) -> Option<usize> {
    let total: f64 = hist.iter().map(|c| *c as f64).sum();
    if total == 0.0 {
        return None;
    }
    let (sum_all, sq_all) = hist
        .iter()
        .enumerate()
        .fold((0.0f64, 0.0f64), |(s, q), (i, c)| (s + i as f64 * *c as f64, q + (i * i) as f64 * *c as f64));
    let (mut n1, mut s1, mut q1) = (0.0f64, 0.0f64, 0.0f64);
    let mut best: Option<(f64, usize)> = None;
    for (i, c) in hist.iter().enumerate() {
        let c = *c as f64;
        n1 += c;
        s1 += i as f64 * c;
        q1 += (i * i) as f64 * c;
        let n2 = total - n1;
        if n1 == 0.0 || n2 == 0.0 {
            continue;
        }
        let (s2, q2) = (sum_all - s1, sq_all - q1);
        let variance = |n: f64, s: f64, q: f64| (q / n - (s / n) * (s / n)).max(0.0) + 1.0 / 12.0;
        let (p1, p2) = (n1 / total, n2 / total);
        let j = p1 * variance(n1, s1, q1).ln() + p2 * variance(n2, s2, q2).ln() - 2.0 * (p1 * p1.ln() + p2 * p2.ln());
        if best.is_none_or(|(b, _)| j < b) {
            best = Some((j, i));
        }
    }
    best.map(|(_, i)| i)
}

/// The last bin of the lower class at Otsu's cut. Where empty bins make several cuts equally good (two
/// well separated modes), the middle of that plateau is taken rather than its first bin.
pub fn otsu_on_histogram(hist: &[u64]) -> Option<usize> {
    let total: f64 = hist.iter().map(|c| *c as f64).sum();
    if total == 0.0 {
        return None;
    }
    let sum_all: f64 = hist.iter().enumerate().map(|(i, c)| i as f64 * *c as f64).sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let mut between = vec![f64::NEG_INFINITY; hist.len()];
    for (i, c) in hist.iter().enumerate() {
        w0 += *c as f64;
        sum0 += i as f64 * *c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        between[i] = w0 * w1 * (m0 - m1) * (m0 - m1);
    }
    let best = between.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !best.is_finite() {
        return None;
    }
    let first = between.iter().position(|b| *b == best)?;
    let last = first + between[first..].iter().take_while(|b| **b == best).count() - 1;
    Some((first + last) / 2)
}

/// Kapur, Sahoo and Wong's (1985) maximum-entropy threshold: the cut that maximizes the summed
/// entropies of the two sides' normalized histograms. Where changed pixels are a thin tail of a broad
/// no-change distribution (a few new buildings among fields that changed colour with the season),
/// Otsu's cut falls inside the broad mode and flags half the image; the entropy cut lands where the
/// tail begins. The histogram spans the 0.1 to 99.9 percentiles, and the threshold is the median of
/// the cuts found with several bin counts, because one histogram's binning can move an entropy maximum
/// between two nearly equal ones. `None` for fewer than two distinct values.
pub fn max_entropy(backend: &dyn Backend, values: ArrayView2<f32>) -> Result<Option<f32>> {
    let Some((lo, hi)) = percentile_range(values, 0.001, 0.999) else { return Ok(None) };
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Ok(None);
    }
    let mut cuts = Vec::new();
    for bins in [96usize, 128, 192, 256, 384, 512] {
        let hist = backend.histogram(values, lo, hi, bins)?;
        if let Some(bin) = max_entropy_on_histogram(&hist) {
            cuts.push(lo + (bin as f32 + 1.0) * (hi - lo) / bins as f32);
        }
    }
    if cuts.is_empty() {
        return Ok(None);
    }
    cuts.sort_by(|a, b| a.total_cmp(b));
    let m = cuts.len() / 2;
    Ok(Some(if cuts.len() % 2 == 1 { cuts[m] } else { 0.5 * (cuts[m - 1] + cuts[m]) }))
}

/// The last bin of the lower class at Kapur's maximum-entropy cut.
pub fn max_entropy_on_histogram(hist: &[u64]) -> Option<usize> {
    let total: f64 = hist.iter().map(|c| *c as f64).sum();
    if total == 0.0 || hist.len() < 3 {
        return None;
    }
    let p: Vec<f64> = hist.iter().map(|c| *c as f64 / total).collect();
    let entropy = |part: &[f64], mass: f64| -> f64 {
        part.iter().filter(|v| **v > 0.0).map(|v| v / mass).map(|q| -q * q.ln()).sum()
    };
    let mut best: Option<(f64, usize)> = None;
    let mut below = 0.0;
    for t in 0..hist.len() - 1 {
        below += p[t];
        let above = 1.0 - below;
        if t == 0 || below <= 0.0 || above <= 1e-12 {
            continue;
        }
        let h = entropy(&p[..=t], below) + entropy(&p[t + 1..], above);
        if best.is_none_or(|(b, _)| h > b) {
            best = Some((h, t));
        }
    }
    best.map(|(_, t)| t)
}

/// The `lo` and `hi` quantiles of the finite values.
fn percentile_range(values: ArrayView2<f32>, lo: f64, hi: f64) -> Option<(f32, f32)> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let at = |v: &mut Vec<f32>, q: f64| {
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        *v.select_nth_unstable_by(i, |a, b| a.total_cmp(b)).1
    };
    let a = at(&mut v, lo);
    let b = at(&mut v, hi);
    Some((a, b))
}

/// Smallest and largest finite value.
pub fn finite_range(values: ArrayView2<f32>) -> (f32, f32) {
    let v = values.as_standard_layout();
    v.as_slice()
        .expect("standard layout")
        .par_chunks(1 << 16)
        .map(|c| {
            c.iter()
                .filter(|x| x.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
        })
        .reduce(|| (f32::INFINITY, f32::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::CpuBackend;
    use ndarray::Array2;

    #[test]
    fn otsu_splits_two_modes_between_them() {
        // 900 pixels around 0.02 (stable ground) and 100 around 0.30 (change).
        let mut v = Array2::<f32>::zeros((10, 100));
        for (i, x) in v.iter_mut().enumerate() {
            let jitter = ((i * 7919) % 100) as f32 / 100.0 * 0.02;
            *x = if i % 10 == 0 { 0.29 + jitter } else { 0.01 + jitter };
        }
        v[[0, 1]] = f32::NAN;
        let t = otsu(&CpuBackend::new(), v.view()).unwrap().unwrap();
        assert!(t > 0.03 && t < 0.29, "threshold {t}");
    }

    #[test]
    fn minimum_error_keeps_the_weak_half_of_a_small_spread_out_change_class() {
        // 95% stable pixels tightly around 0.005, 5% change spread evenly from 0.03 to 0.15 (weak and strong
        // change alike), as change statistics look. Otsu cuts inside the change class; the minimum-error cut
        // lies between the classes.
        let n = 20_000;
        let mut v = Array2::<f32>::zeros((1, n));
        for (i, x) in v.iter_mut().enumerate() {
            let u = ((i * 7919) % 1000) as f32 / 1000.0;
            *x = if i % 20 == 0 { 0.03 + 0.12 * u } else { 0.003 + 0.004 * u };
        }
        let backend = CpuBackend::new();
        let otsu_cut = otsu(&backend, v.view()).unwrap().unwrap();
        let ki_cut = minimum_error(&backend, v.view()).unwrap().unwrap();
        assert!(otsu_cut > 0.04, "Otsu {otsu_cut}");
        assert!(ki_cut > 0.007 && ki_cut <= 0.031, "minimum error {ki_cut}");
    }

    #[test]
    fn minimum_error_needs_two_populated_classes() {
        assert_eq!(minimum_error_on_histogram(&[0, 0, 0]), None);
        assert_eq!(minimum_error_on_histogram(&[0, 5, 0]), None);
        let cut = minimum_error_on_histogram(&[50, 80, 50, 0, 0, 0, 0, 0, 3, 5, 3]).unwrap();
        assert!((2..8).contains(&cut), "{cut}");
    }

    #[test]
    fn max_entropy_cuts_where_a_thin_tail_begins() {
        // 9700 values in a broad mode (0..1) and 300 in a far tail around 3: the cut separates them.
        let v = Array2::from_shape_fn((100, 100), |(r, c)| {
            let i = r * 100 + c;
            if i < 300 { 2.8 + (i % 40) as f32 * 0.01 } else { (i % 997) as f32 / 997.0 }
        });
        let t = max_entropy(&CpuBackend::new(), v.view()).unwrap().unwrap();
        assert!(t > 0.95 && t < 2.8, "threshold {t}");
        assert_eq!(max_entropy_on_histogram(&[0, 0, 0]), None);
    }

    #[test]
    fn constant_input_has_no_threshold() {
        let v = Array2::<f32>::from_elem((4, 4), 0.5);
        assert_eq!(otsu(&CpuBackend::new(), v.view()).unwrap(), None);
        assert_eq!(minimum_error(&CpuBackend::new(), v.view()).unwrap(), None);
        assert_eq!(max_entropy(&CpuBackend::new(), v.view()).unwrap(), None);
    }
}
