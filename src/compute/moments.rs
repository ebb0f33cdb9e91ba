//! Moments of band pairs, and the one order in which every backend sums them.
//!
//! f64 addition is not associative, so two backends agree to the last bit only when they add in the same
//! order. That order: pixels fall into blocks of [`BLOCK`] in image order; in a block, lane `t` of
//! [`LANES`] adds pixels `t`, `t + LANES`, `t + 2 LANES`, ... in turn; the lanes are then added pairwise
//! in a tree (lane `t` takes lane `t + 32`, then `t + 16`, ... `t + 1`); block sums are added in block
//! order. It is how a 64-wide GPU workgroup sums without atomics, and it costs the CPU nothing. Products
//! of two f32 are exact in f64, so a fused multiply-add on the GPU cannot change a sum either.

/// Lanes of a block (the GPU's workgroup width).
pub const LANES: usize = 64;
/// Pixels each lane adds per block.
pub const ROUNDS: usize = 16;
/// Pixels per block.
pub const BLOCK: usize = LANES * ROUNDS;
/// Values per moment set: n, sx, sy, sxx, syy, sxy.
pub const MOMENTS: usize = 6;

/// Weighted first and second moments of one band pair, for fitting a linear relation between dates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PairMoments {
    /// Number of pixels summed.
    pub n: f64,
    /// Sum of x (before).
    pub sx: f64,
    /// Sum of y (after).
    pub sy: f64,
    /// Sum of x squared.
    pub sxx: f64,
    /// Sum of y squared.
    pub syy: f64,
    /// Sum of x times y.
    pub sxy: f64,
}

impl PairMoments {
    /// From the sums in [`MOMENTS`] order.
    pub fn from_sums(s: [f64; MOMENTS]) -> Self {
        PairMoments { n: s[0], sx: s[1], sy: s[2], sxx: s[3], syy: s[4], sxy: s[5] }
    }

    /// Adds another partial sum.
    pub fn merge(&mut self, o: &PairMoments) {
        self.n += o.n;
        self.sx += o.sx;
        self.sy += o.sy;
        self.sxx += o.sxx;
        self.syy += o.syy;
        self.sxy += o.sxy;
    }

    /// Means and standard deviations (x mean, y mean, x sd, y sd) and correlation.
    pub fn stats(&self) -> Option<(f64, f64, f64, f64, f64)> {
        if self.n < 2.0 {
            return None;
        }
        let mx = self.sx / self.n;
        let my = self.sy / self.n;
        let vx = (self.sxx / self.n - mx * mx).max(0.0);
        let vy = (self.syy / self.n - my * my).max(0.0);
        let cov = self.sxy / self.n - mx * my;
        let r = if vx > 0.0 && vy > 0.0 { cov / (vx * vy).sqrt() } else { 0.0 };
        Some((mx, my, vx.sqrt(), vy.sqrt(), r))
    }
}

/// The moments of one block (at most [`BLOCK`] pixels) in the fixed order: the pairs `(x[i], y[i])`
/// where `keep[i]`.
///
/// The lanes are kept as six arrays of [`LANES`] sums (not [`LANES`] sets of six) and a pixel that is not
/// kept adds +0.0 rather than being skipped, so a round of 64 pixels is straight-line work the compiler
/// turns into vector instructions. The sums are the same to the bit: no lane sum is ever -0.0 (they
/// start at +0.0, and only a sum of nothing but -0.0 terms is -0.0), so adding +0.0 leaves it as it was,
/// and a masked value is +0.0 whatever the pixel holds (invalid pixels hold NaN).
pub fn block_moments(x: &[f32], y: &[f32], keep: &[bool]) -> PairMoments {
    let len = keep.len().min(BLOCK);
    let mut sums = [[0f64; LANES]; MOMENTS];
    for round in 0..ROUNDS {
        let start = round * LANES;
        if start >= len {
            break;
        }
        let n = (len - start).min(LANES);
        let (xs, ys, ks) = (&x[start..start + n], &y[start..start + n], &keep[start..start + n]);
        let [count, sx, sy, sxx, syy, sxy] = &mut sums;
        for t in 0..n {
            // All ones where kept, zero where not: the masked bits are the value or +0.0.
            let mask = u64::from(ks[t]).wrapping_neg();
            let x = f64::from_bits(f64::from(xs[t]).to_bits() & mask);
            let y = f64::from_bits(f64::from(ys[t]).to_bits() & mask);
            count[t] += f64::from_bits(1f64.to_bits() & mask);
            sx[t] += x;
            sy[t] += y;
            sxx[t] += x * x;
            syy[t] += y * y;
            sxy[t] += x * y;
        }
    }
    let mut span = LANES / 2;
    while span > 0 {
        for lanes in sums.iter_mut() {
            let (low, high) = lanes.split_at_mut(span);
            for (sum, value) in low.iter_mut().zip(high.iter()) {
                *sum += value;
            }
        }
        span /= 2;
    }
    PairMoments::from_sums(sums.map(|lanes| lanes[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_moments_count_what_counts_and_sum_exactly_where_sums_are_exact() {
        // x = i / 4 and y = 2x are exact in f32 and their sums exact in f64: any order gives these.
        let x: Vec<f32> = (0..1000).map(|i| i as f32 / 4.0).collect();
        let y: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
        let keep: Vec<bool> = (0..1000).map(|i| i % 3 != 0).collect();
        let m = block_moments(&x, &y, &keep);
        let kept: Vec<f64> = (0..1000).filter(|i| i % 3 != 0).map(|i| i as f64 / 4.0).collect();
        assert_eq!(m.n, kept.len() as f64);
        assert_eq!(m.sx, kept.iter().sum::<f64>());
        assert_eq!(m.sy, 2.0 * m.sx);
        assert_eq!(m.sxx, kept.iter().map(|x| x * x).sum::<f64>());
        assert_eq!(m.sxy, 2.0 * m.sxx);
        assert_eq!(block_moments(&[], &[], &[]), PairMoments::default());
    }

    /// The order of the module docs written out pixel by pixel, skipping what is not kept.
    fn reference(x: &[f32], y: &[f32], keep: &[bool]) -> PairMoments {
        let mut lanes = [[0f64; MOMENTS]; LANES];
        for i in 0..keep.len().min(BLOCK) {
            if keep[i] {
                let (x, y) = (f64::from(x[i]), f64::from(y[i]));
                let lane = &mut lanes[i % LANES];
                for (sum, v) in lane.iter_mut().zip([1.0, x, y, x * x, y * y, x * y]) {
                    *sum += v;
                }
            }
        }
        let mut span = LANES / 2;
        while span > 0 {
            let (low, high) = lanes.split_at_mut(span);
            for (lane, other) in low.iter_mut().zip(high.iter()) {
                for (sum, v) in lane.iter_mut().zip(other) {
                    *sum += v;
                }
            }
            span /= 2;
        }
        PairMoments::from_sums(lanes[0])
    }

    #[test]
    fn block_moments_match_the_documented_order_to_the_bit_with_nan_in_dropped_pixels() {
        // Values whose sums round differently in different orders, NaN where not kept, short blocks too.
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f32 / (1u64 << 31) as f32
        };
        for len in [BLOCK, BLOCK - 1, 700, 64, 63, 1] {
            let keep: Vec<bool> = (0..len).map(|i| (i * 7) % 11 != 0).collect();
            let x: Vec<f32> = (0..len).map(|i| if keep[i] { next() * 0.37 - 0.01 } else { f32::NAN }).collect();
            let y: Vec<f32> = (0..len).map(|i| if keep[i] { next() * 0.41 + 0.003 } else { f32::NAN }).collect();
            let got = block_moments(&x, &y, &keep);
            let want = reference(&x, &y, &keep);
            for (g, w) in [got.n, got.sx, got.sy, got.sxx, got.syy, got.sxy]
                .iter()
                .zip([want.n, want.sx, want.sy, want.sxx, want.syy, want.sxy])
            {
                assert_eq!(g.to_bits(), w.to_bits(), "length {len}");
            }
        }
    }
}
