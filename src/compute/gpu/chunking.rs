//! How work is cut to fit the device: runs of pixels for per-pixel kernels and reductions, bands of rows
//! with a halo for neighbourhood kernels. Pure arithmetic, tested without a GPU.

use std::ops::Range;

use crate::compute::moments;
use crate::error::{Error, Result};

/// Pixels per chunk at most, whatever the bindings allow: a dispatch this size outweighs its overhead on
/// any GPU, two chunks in flight stay within a few hundred MiB, and images of more than one chunk get
/// the upload of the next chunk overlapped with the compute of the current one.
pub(crate) const MAX_CHUNK_PIXELS: usize = 1 << 22;

/// Chunks start on multiples of this: whole words of bytes packed four to a word, and whole blocks of
/// the moment reduction, so chunking never changes the order of a sum.
pub(crate) const CHUNK_ALIGN: usize = moments::BLOCK;

/// Elements between two planes of a chunk of `len` pixels: whole words, whatever the element size.
pub(crate) fn plane_stride(len: usize) -> usize {
    len.next_multiple_of(4)
}

/// Chunk starts of kernels that keep one wide record per pixel (the temporal state): whole words of
/// the bytes packed four to a word is all they need, and 1024 records may not fit a small binding.
// Unused while the seasonal model's step runs the CPU reference on the GPU backend (gpu/temporal.rs).
#[allow(dead_code)]
pub(crate) const RECORD_ALIGN: usize = 4;

/// Consecutive runs of pixels covering `0..n`, each small enough that a binding of `bytes_per_pixel`
/// bytes per pixel (the widest binding of the kernel) stays within `max_binding` bytes.
pub(crate) fn pixel_chunks(n: usize, bytes_per_pixel: usize, max_binding: u64) -> Result<Vec<Range<usize>>> {
    aligned_pixel_chunks(n, bytes_per_pixel, max_binding, CHUNK_ALIGN)
}

/// `pixel_chunks` with chunks starting on multiples of `align` instead of [`CHUNK_ALIGN`].
pub(crate) fn aligned_pixel_chunks(
    n: usize,
    bytes_per_pixel: usize,
    max_binding: u64,
    align: usize,
) -> Result<Vec<Range<usize>>> {
    let fit = usize::try_from(max_binding / bytes_per_pixel.max(1) as u64).unwrap_or(usize::MAX);
    let cap = fit.min(MAX_CHUNK_PIXELS) / align * align;
    if cap == 0 {
        return Err(Error::Gpu(format!(
            "a binding of {max_binding} bytes holds fewer than {align} pixels of {bytes_per_pixel} bytes"
        )));
    }
    Ok((0..n).step_by(cap).map(|start| start..(start + cap).min(n)).collect())
}

/// A band of image rows for a neighbourhood kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowChunk {
    /// Rows whose results this chunk computes.
    pub(crate) out: Range<usize>,
    /// Rows uploaded: `out` and `radius` rows either side, clipped to the image. A window that leaves
    /// them leaves the image, so the result equals the unchunked one.
    pub(crate) input: Range<usize>,
}

/// Bands of rows covering `0..height`, each with its halo within `max_binding` bytes at
/// `bytes_per_pixel` bytes per pixel.
pub(crate) fn row_chunks(
    height: usize,
    width: usize,
    radius: usize,
    bytes_per_pixel: usize,
    max_binding: u64,
) -> Result<Vec<RowChunk>> {
    if height == 0 {
        return Ok(Vec::new());
    }
    let rows_fit = rows_that_fit(width, bytes_per_pixel, max_binding);
    let rows = if rows_fit >= height && height * width <= MAX_CHUNK_PIXELS {
        // One chunk holds the image: no halo needed, whatever the radius.
        height
    } else {
        rows_fit.saturating_sub(2 * radius).min((MAX_CHUNK_PIXELS / width.max(1)).max(1))
    };
    if rows == 0 {
        return Err(Error::Gpu(format!(
            "rows of {width} pixels with a halo of {radius} rows do not fit a binding of {max_binding} bytes"
        )));
    }
    Ok((0..height)
        .step_by(rows)
        .map(|start| {
            let end = (start + rows).min(height);
            RowChunk { out: start..end, input: start.saturating_sub(radius)..(end + radius).min(height) }
        })
        .collect())
}

/// Rows of `width` pixels of `bytes_per_pixel` bytes that one binding holds.
fn rows_that_fit(width: usize, bytes_per_pixel: usize, max_binding: u64) -> usize {
    let row_bytes = (width.max(1) * bytes_per_pixel.max(1)) as u64;
    // Byte planes are padded to whole words.
    usize::try_from(max_binding.saturating_sub(4) / row_bytes).unwrap_or(usize::MAX)
}

/// The widest halo with which `row_chunks` still computes at least half the rows it uploads: a kernel
/// that can split its radius into passes (erosion) keeps each pass within it. Unlimited where the whole
/// image fits one chunk, which needs no halo.
pub(crate) fn max_halo(height: usize, width: usize, bytes_per_pixel: usize, max_binding: u64) -> usize {
    let rows_fit = rows_that_fit(width, bytes_per_pixel, max_binding);
    if rows_fit >= height && height * width <= MAX_CHUNK_PIXELS { usize::MAX } else { rows_fit / 4 }
}

/// Workgroups of a dispatch of `groups` workgroups as (x, y): x at most `max_per_dimension`, the rest
/// spilling into y. Shaders flatten it back with `group_index`.
pub(crate) fn dispatch_shape(groups: u32, max_per_dimension: u32) -> (u32, u32) {
    if groups <= max_per_dimension { (groups, 1) } else { (max_per_dimension, groups.div_ceil(max_per_dimension)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_chunks_tile_the_image_on_aligned_starts_within_the_binding() {
        // 6 bands of f32 in a 64 KiB binding: 2730 pixels fit, 2048 after alignment.
        let chunks = pixel_chunks(79_163, 24, 64 << 10).unwrap();
        assert_eq!(chunks.len(), 79_163usize.div_ceil(2048));
        let mut next = 0;
        for c in &chunks {
            assert_eq!(c.start, next);
            assert_eq!(c.start % CHUNK_ALIGN, 0);
            assert!((plane_stride(c.len()) * 24) as u64 <= 64 << 10);
            next = c.end;
        }
        assert_eq!(next, 79_163);
        assert_eq!(pixel_chunks(10, 24, 128 << 20).unwrap(), vec![0..10]);
        assert!(pixel_chunks(0, 24, 128 << 20).unwrap().is_empty());
        assert!(pixel_chunks(10, 24, 1000).is_err());
        // A big binding is still cut so chunks overlap transfers and compute.
        assert_eq!(pixel_chunks(3 * MAX_CHUNK_PIXELS, 4, u64::MAX).unwrap().len(), 3);
    }

    #[test]
    fn wide_records_chunk_on_words() {
        // 92-byte temporal states in 32 KiB: 356 fit, 356 is a multiple of 4; 1024 would not fit.
        let chunks = aligned_pixel_chunks(5_001, 92, 32 << 10, RECORD_ALIGN).unwrap();
        assert_eq!(chunks[0], 0..356);
        assert_eq!(chunks.len(), 5_001usize.div_ceil(356));
        assert!(chunks.iter().all(|c| c.start % RECORD_ALIGN == 0 && (c.len() * 92) as u64 <= 32 << 10));
        assert_eq!(chunks.last().unwrap().end, 5_001);
        assert!(pixel_chunks(5_001, 92, 32 << 10).is_err());
    }

    #[test]
    fn row_chunks_carry_their_halo_clipped_to_the_image() {
        // 301 f32 columns in 16 KiB: 13 rows fit, 9 of them computed with a halo of 2.
        let chunks = row_chunks(40, 301, 2, 4, 16 << 10).unwrap();
        assert_eq!(chunks[0], RowChunk { out: 0..9, input: 0..11 });
        assert_eq!(chunks[1], RowChunk { out: 9..18, input: 7..20 });
        let last = chunks.last().unwrap();
        assert_eq!(last.out.end, 40);
        assert_eq!(last.input.end, 40);
        for c in &chunks {
            assert!((c.input.len() * 301 * 4) as u64 <= 16 << 10);
        }
        assert!(row_chunks(40, 301, 2, 4, 4 << 10).is_err());
        // A radius larger than the binding's rows is fine when the whole image fits.
        assert_eq!(row_chunks(3, 301, 50, 4, 16 << 10).unwrap(), vec![RowChunk { out: 0..3, input: 0..3 }]);
    }

    #[test]
    fn the_widest_halo_leaves_half_of_each_chunk_to_compute() {
        // 301 bytes a row in 32 KiB: 108 rows fit, so a halo of 27 rows either side.
        let halo = max_halo(173, 301, 1, 32 << 10);
        assert_eq!(halo, 27);
        let chunks = row_chunks(173, 301, halo, 1, 32 << 10).unwrap();
        assert!(chunks.iter().all(|c| c.input.len() * 301 <= (32 << 10) - 4));
        assert!(chunks[1].out.len() * 2 >= chunks[1].input.len(), "{:?}", chunks[1]);
        assert!(row_chunks(173, 301, 4 * halo, 1, 32 << 10).is_err(), "a wider halo would not fit");
        // An image that fits one chunk takes any halo.
        assert_eq!(max_halo(100, 301, 1, 32 << 10), usize::MAX);
    }

    #[test]
    fn dispatches_spill_into_y_past_the_limit() {
        assert_eq!(dispatch_shape(10, 65_535), (10, 1));
        assert_eq!(dispatch_shape(65_536, 65_535), (65_535, 2));
    }
}
