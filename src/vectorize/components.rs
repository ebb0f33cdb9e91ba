//! Connected regions of a raster (4-connected, as gdal_polygonize), the minimum mapping unit, and the
//! merging of fragments too small to stand on their own.

use ndarray::{Array2, ArrayView2};

use super::union_find::DisjointSets;

/// 4-connected regions of equal nonzero keys.
#[derive(Debug, Clone)]
pub struct Regions {
    /// Region id per pixel, 0 for background; ids run from 1 in raster order of first pixel.
    pub labels: Array2<u32>,
    /// Pixel count per id (`sizes[0]` is unused).
    pub sizes: Vec<u32>,
}

impl Regions {
    /// Number of regions.
    pub fn count(&self) -> usize {
        self.sizes.len() - 1
    }
}

/// Labels 4-connected regions of equal nonzero `keys` (two-pass union-find; ids in raster order, so the
/// same raster always gives the same ids).
pub fn label_regions(keys: ArrayView2<u32>) -> Regions {
    let (h, w) = keys.dim();
    let keys = keys.as_standard_layout();
    let k = keys.as_slice().expect("standard layout");
    let mut labels = vec![0u32; h * w];
    // Id 0 is "no region".
    let mut sets = DisjointSets::new(1);
    for r in 0..h {
        for c in 0..w {
            let i = r * w + c;
            let key = k[i];
            if key == 0 {
                continue;
            }
            let up = if r > 0 && k[i - w] == key { labels[i - w] } else { 0 };
            let left = if c > 0 && k[i - 1] == key { labels[i - 1] } else { 0 };
            labels[i] = match (up, left) {
                (0, 0) => sets.push() as u32,
                (a, 0) | (0, a) => a,
                (a, b) => {
                    sets.join_to_lower(a as usize, b as usize);
                    a.min(b)
                }
            };
        }
    }
    // Compact the roots to 1..n in order of first appearance.
    let mut compact = vec![0u32; sets.len()];
    let mut next = 0u32;
    let mut sizes = vec![0u32];
    for l in labels.iter_mut() {
        if *l == 0 {
            continue;
        }
        let root = sets.find(*l as usize);
        if compact[root] == 0 {
            next += 1;
            compact[root] = next;
            sizes.push(0);
        }
        *l = compact[root];
        sizes[*l as usize] += 1;
    }
    Regions { labels: Array2::from_shape_vec((h, w), labels).expect("shape"), sizes }
}

/// Clears (sets to 0) every region of nonzero `keys` smaller than `min_pixels`.
pub fn remove_small(keys: &mut Array2<u32>, min_pixels: usize) {
    let regions = label_regions(keys.view());
    for (key, label) in keys.iter_mut().zip(regions.labels.iter()) {
        if *label != 0 && (regions.sizes[*label as usize] as usize) < min_pixels {
            *key = 0;
        }
    }
}

/// Gives regions smaller than `min_pixels` the key of their largest 4-neighbour region for which
/// `compatible(small_key, neighbour_key)` holds, smallest regions first, until none is left; fragments
/// without a compatible neighbour are cleared. Like GDAL's sieve, but deterministic and constrained.
pub fn merge_small(keys: &mut Array2<u32>, min_pixels: usize, compatible: impl Fn(u32, u32) -> bool + Sync) {
    merge_small_parts(std::slice::from_mut(keys), min_pixels, compatible);
}

/// [`merge_small`] on a raster given as parts: each part is a crop of it holding one or more groups of
/// nonzero pixels, zero elsewhere, and no nonzero pixel of one part touches one of another (or lies
/// outside every part). The result is, pixel for pixel, what [`merge_small`] gives on the whole raster:
/// regions only ever take a neighbour's key, so parts never interact, except through the rounds, which
/// are the whole raster's: each round merges the fragments of the smallest size left anywhere, and the
/// rounds stop together. Only parts that still hold a small region are looked at again, so the work
/// follows the changed pixels, not the raster.
pub fn merge_small_parts(parts: &mut [Array2<u32>], min_pixels: usize, compatible: impl Fn(u32, u32) -> bool + Sync) {
    use rayon::prelude::*;
    let mut active: Vec<usize> = (0..parts.len()).collect();
    for _round in 0..32 {
        let mut looked: Vec<(usize, Regions, u32)> = active
            .par_iter()
            .map(|p| {
                let regions = label_regions(parts[*p].view());
                let smallest = regions.sizes.iter().skip(1).filter(|s| (**s as usize) < min_pixels).min().copied();
                (*p, regions, smallest.unwrap_or(u32::MAX))
            })
            .collect();
        // A part without small regions keeps none: merges only ever grow regions.
        looked.retain(|(_, _, smallest)| *smallest != u32::MAX);
        let Some(smallest) = looked.iter().map(|(_, _, s)| *s).min() else { return };
        let mut slots: Vec<Option<&mut Array2<u32>>> = parts.iter_mut().map(Some).collect();
        let work: Vec<(&mut Array2<u32>, Regions)> =
            looked.into_iter().map(|(p, regions, _)| (slots[p].take().expect("each part once"), regions)).collect();
        let changed: Vec<bool> = work
            .into_par_iter()
            .map(|(keys, regions)| merge_round(keys, &regions, min_pixels, smallest, &compatible))
            .collect();
        if !changed.iter().any(|c| *c) {
            return;
        }
        // The parts that had small regions are the only ones that can have them next round.
        active = slots.iter().enumerate().filter(|(_, slot)| slot.is_none()).map(|(p, _)| p).collect();
    }
}

/// One round of [`merge_small`] on one raster (or part): fragments of `smallest` pixels take the key of
/// their best neighbour, fragments without a compatible neighbour are cleared. True when a key changed.
fn merge_round(
    keys: &mut Array2<u32>,
    regions: &Regions,
    min_pixels: usize,
    smallest: u32,
    compatible: &impl Fn(u32, u32) -> bool,
) -> bool {
    let (h, w) = keys.dim();
    let lab = regions.labels.as_slice().expect("standard layout");
    let k = keys.as_slice().expect("standard layout").to_vec();
    // Best neighbour per small region: (neighbour size, neighbour key).
    let mut best: Vec<Option<(u32, u32)>> = vec![None; regions.sizes.len()];
    for r in 0..h {
        for c in 0..w {
            let i = r * w + c;
            let l = lab[i];
            if l == 0 || (regions.sizes[l as usize] as usize) >= min_pixels {
                continue;
            }
            let neighbours = [
                (r > 0).then(|| i - w),
                (r + 1 < h).then(|| i + w),
                (c > 0).then(|| i - 1),
                (c + 1 < w).then(|| i + 1),
            ];
            for j in neighbours.into_iter().flatten() {
                let nl = lab[j];
                if nl == 0 || nl == l || !compatible(k[i], k[j]) {
                    continue;
                }
                let cand = (regions.sizes[nl as usize], k[j]);
                if best[l as usize].is_none_or(|b| cand > b) {
                    best[l as usize] = Some(cand);
                }
            }
        }
    }
    // Merge only the smallest fragments this round so that merged results are re-measured.
    let mut changed = false;
    for (key, l) in keys.iter_mut().zip(lab) {
        if *l == 0 || (regions.sizes[*l as usize] as usize) >= min_pixels {
            continue;
        }
        match best[*l as usize] {
            Some((_, nk)) if regions.sizes[*l as usize] == smallest => {
                *key = nk;
                changed = true;
            }
            None => {
                *key = 0;
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn four_connectivity_keeps_diagonals_apart() {
        let keys = array![[1u32, 0, 0], [0, 1, 1], [2, 2, 1]];
        let r = label_regions(keys.view());
        assert_eq!(r.count(), 3);
        assert_eq!(r.labels[[0, 0]], 1);
        assert_eq!(r.labels[[1, 1]], r.labels[[2, 2]]);
        assert_eq!(r.sizes[r.labels[[1, 1]] as usize], 3);
        assert_eq!(r.sizes[r.labels[[2, 0]] as usize], 2);
    }

    #[test]
    fn u_shapes_join_into_one_region() {
        let keys = array![[1u32, 0, 1], [1, 0, 1], [1, 1, 1]];
        let r = label_regions(keys.view());
        assert_eq!(r.count(), 1);
        assert_eq!(r.sizes[1], 7);
    }

    #[test]
    fn small_regions_go_and_fragments_join_their_neighbour() {
        let mut keys = array![[1u32, 1, 1, 0, 3], [1, 2, 1, 0, 0], [1, 1, 1, 0, 0]];
        remove_small(&mut keys, 2);
        assert_eq!(keys[[0, 4]], 0, "isolated single pixel removed");
        assert_eq!(keys[[1, 1]], 0, "regions are per key: the lone 2 is small too");
        assert_eq!(keys[[0, 0]], 1);
        let mut keys = array![[1u32, 1, 1, 0, 3], [1, 2, 1, 0, 0], [1, 1, 1, 0, 0]];
        merge_small(&mut keys, 2, |_, _| true);
        assert_eq!(keys[[1, 1]], 1, "fragment takes its surrounding key");
        assert_eq!(keys[[0, 4]], 0, "a fragment without neighbours is cleared");
    }

    #[test]
    fn incompatible_fragments_are_cleared() {
        let mut keys = array![[1u32, 1, 1], [1, 2, 1], [1, 1, 1]];
        merge_small(&mut keys, 2, |a, b| a != 2 && b != 2);
        assert_eq!(keys[[1, 1]], 0);
        assert_eq!(keys[[0, 0]], 1);
    }
}
