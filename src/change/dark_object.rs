//! Dark-object subtraction (Chavez 1988): a first-order haze correction for digital numbers that are not
//! surface reflectance. The darkest pixels of a scene (deep water, shadow) should reflect about 1%;
//! whatever a band records above that over them is path radiance, subtracted from the whole band.

use super::threshold::finite_range;
use crate::compute::Backend;
use crate::error::Result;
use crate::raster::BandStack;

/// Quantile taken as the dark object, robust to a few dead or noisy pixels.
const DARK_QUANTILE: f64 = 0.001;
/// Reflectance assumed for the dark object.
const DARK_REFLECTANCE: f32 = 0.01;
/// Bins of the histogram the dark object is found in.
pub const BINS: usize = 4096;

/// Subtracts each band's haze offset in place; returns the offsets subtracted.
pub fn subtract_dark_object(backend: &dyn Backend, stack: &mut BandStack) -> Result<Vec<f32>> {
    let bands = stack.data.dim().0;
    let mut offsets = Vec::with_capacity(bands);
    for b in 0..bands {
        let plane = stack.data.index_axis(ndarray::Axis(0), b);
        let (lo, hi) = finite_range(plane);
        let hist = if hi.partial_cmp(&lo) == Some(std::cmp::Ordering::Greater) {
            backend.histogram(plane, lo, hi, BINS)?
        } else {
            Vec::new()
        };
        offsets.push(haze_offset(lo, hi, &hist));
    }
    let gains = vec![1.0f32; bands];
    let negative: Vec<f32> = offsets.iter().map(|o| -o).collect();
    backend.linear(stack, &gains, &negative)?;
    Ok(offsets)
}

/// The haze offset of a band whose finite values run from `lo` to `hi`, from their histogram of
/// [`BINS`] bins over that range (0 when the band is constant: no histogram is needed then).
pub fn haze_offset(lo: f32, hi: f32, hist: &[u64]) -> f32 {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return 0.0;
    }
    let total: u64 = hist.iter().sum();
    let mut seen = 0u64;
    let mut dark = lo;
    for (i, c) in hist.iter().enumerate() {
        seen += c;
        if seen as f64 >= DARK_QUANTILE * total as f64 {
            dark = lo + i as f32 * (hi - lo) / BINS as f32;
            break;
        }
    }
    (dark - DARK_REFLECTANCE).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::CpuBackend;
    use crate::raster::BandRole;
    use ndarray::{Array2, Array3};

    #[test]
    fn haze_offset_is_removed_down_to_one_percent() {
        // A band whose darkest pixels read 0.21 where they should read about 0.01: 0.20 of haze.
        let mut data = Array3::<f32>::zeros((1, 50, 50));
        for (i, v) in data.iter_mut().enumerate() {
            *v = 0.21 + (i % 50) as f32 * 0.004;
        }
        let mut stack = BandStack::new(vec![BandRole::Blue], data, Array2::from_elem((50, 50), 1));
        let offsets = subtract_dark_object(&CpuBackend::new(), &mut stack).unwrap();
        assert!((offsets[0] - 0.20).abs() < 0.002, "{offsets:?}");
        let min = stack.data.iter().cloned().fold(f32::INFINITY, f32::min);
        assert!((min - 0.01).abs() < 0.002, "{min}");
    }
}
