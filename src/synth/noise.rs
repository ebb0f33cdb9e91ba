//! Smooth spatial noise (value noise with several octaves): field-to-field and within-field variation
//! as real ground has, rather than white noise that any 3x3 filter erases.

use super::rng::Rng;

/// Value noise on a lattice of `cell` pixels, summed over `octaves` halving cell sizes; values about
/// in [-1, 1].
#[derive(Debug, Clone)]
pub struct ValueNoise {
    seed: u64,
    cell: f64,
    octaves: u32,
}

impl ValueNoise {
    /// Noise with features about `cell` pixels across.
    pub fn new(seed: u64, cell: f64, octaves: u32) -> Self {
        ValueNoise { seed, cell: cell.max(1.0), octaves: octaves.max(1) }
    }

    fn lattice(&self, octave: u32, x: i64, y: i64) -> f64 {
        let h = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ (octave as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
        Rng::new(self.seed ^ h).uniform() * 2.0 - 1.0
    }

    /// The noise at pixel (`col`, `row`) (any real coordinates).
    pub fn at(&self, col: f64, row: f64) -> f64 {
        let mut total = 0.0;
        let mut amplitude = 1.0;
        let mut norm = 0.0;
        let mut cell = self.cell;
        for o in 0..self.octaves {
            let (x, y) = (col / cell, row / cell);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (smooth(x - x0), smooth(y - y0));
            let (xi, yi) = (x0 as i64, y0 as i64);
            let a = self.lattice(o, xi, yi);
            let b = self.lattice(o, xi + 1, yi);
            let c = self.lattice(o, xi, yi + 1);
            let d = self.lattice(o, xi + 1, yi + 1);
            total += amplitude * (a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy);
            norm += amplitude;
            amplitude *= 0.5;
            cell = (cell / 2.0).max(1.0);
        }
        total / norm
    }
}

fn smooth(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_smooth_bounded_and_repeatable() {
        let n = ValueNoise::new(3, 16.0, 3);
        let a = n.at(10.0, 10.0);
        assert_eq!(a, ValueNoise::new(3, 16.0, 3).at(10.0, 10.0));
        assert!((n.at(10.0, 10.0) - n.at(10.5, 10.0)).abs() < 0.2);
        for i in 0..1000 {
            let v = n.at(i as f64 * 1.7, i as f64 * 0.3);
            assert!((-1.0..=1.0).contains(&v));
        }
    }
}
