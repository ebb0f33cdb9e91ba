//! Connected regions over a tiled grid: each tile's core is labelled on its own, regions that meet across
//! a tile border are joined (union-find on the border pixels), and their statistics merged, so a
//! building or an excavation that straddles tiles becomes one region and later one polygon.
//!
//! Regions are 4-connected runs of equal nonzero keys, as in [`crate::vectorize::label_regions`] and
//! `gdal_polygonize`.

use ndarray::{Array2, ArrayView2};

use super::tiles::{Tile, Tiling};
use crate::vectorize::label_regions;
use crate::vectorize::union_find::DisjointSets;

/// Per-region sums that can be accumulated pixel by pixel and merged across tiles.
pub trait RegionStats: Default + Clone {
    /// Adds the sums of another part of the same region.
    fn merge(&mut self, other: &Self);
}

/// A region after stitching.
#[derive(Debug, Clone)]
pub struct Region<S> {
    /// The key its pixels share.
    pub key: u32,
    /// Its merged statistics.
    pub stats: S,
}

/// The outcome of stitching: the final region of every provisional label, and the regions.
#[derive(Debug, Clone)]
pub struct Stitched<S> {
    /// Final region id (1-based) of each provisional label; 0 for labels that were dropped.
    pub final_of: Vec<u32>,
    /// Regions, `regions[id - 1]`, in order of their first provisional label (tile raster order).
    pub regions: Vec<Region<S>>,
}

impl<S> Stitched<S> {
    /// Final region id of a provisional label.
    pub fn final_id(&self, provisional: u32) -> u32 {
        self.final_of.get(provisional as usize).copied().unwrap_or(0)
    }

    /// The region with final id `id`.
    pub fn region(&self, id: u32) -> Option<&Region<S>> {
        id.checked_sub(1).and_then(|i| self.regions.get(i as usize))
    }
}

/// Labels tiles in raster order and joins their regions across borders.
pub struct TiledLabeller<S: RegionStats> {
    tiling: Tiling,
    keys: Vec<u32>,
    stats: Vec<S>,
    /// Provisional labels joined across tile edges.
    sets: DisjointSets,
    /// Bottom row of provisional labels of the last tile added in each tile column.
    bottom_rows: Vec<Option<Vec<u32>>>,
    /// Right column of provisional labels of the last tile added, with its tile row.
    right_column: Option<(usize, Vec<u32>)>,
    next_tile: usize,
}

impl<S: RegionStats> TiledLabeller<S> {
    /// A labeller for `tiling`.
    pub fn new(tiling: Tiling) -> Self {
        TiledLabeller {
            tiling,
            keys: vec![0],
            stats: vec![S::default()],
            sets: DisjointSets::new(1),
            bottom_rows: vec![None; tiling.tiles_across()],
            right_column: None,
            next_tile: 0,
        }
    }

    /// Number of provisional labels kept so far.
    pub fn provisional_count(&self) -> usize {
        self.keys.len() - 1
    }

    /// Labels the core of `tile` (tiles must come in raster order). `keys` covers the core;
    /// `accumulate(stats, row, col)` adds the pixel at core position (row, col) to its region's sums.
    /// A region that does not reach the core's edge is complete; it is dropped at once unless
    /// `worth_keeping(key, stats)`, which keeps memory bounded on noisy surveys. Returns provisional
    /// labels over the core (0 for background and dropped regions).
    pub fn add_tile(
        &mut self,
        tile: &Tile,
        keys: ArrayView2<u32>,
        mut accumulate: impl FnMut(&mut S, usize, usize),
        worth_keeping: impl Fn(u32, &S) -> bool,
    ) -> Array2<u32> {
        assert_eq!(tile.index, self.next_tile, "tiles are labelled in raster order");
        assert_eq!(keys.dim(), (tile.core.height, tile.core.width), "keys cover the tile core");
        self.next_tile += 1;
        let (h, w) = keys.dim();
        let local = label_regions(keys);
        let n = local.count();
        let mut sums = vec![S::default(); n + 1];
        let mut on_edge = vec![false; n + 1];
        let mut local_key = vec![0u32; n + 1];
        for r in 0..h {
            for c in 0..w {
                let l = local.labels[[r, c]] as usize;
                if l == 0 {
                    continue;
                }
                accumulate(&mut sums[l], r, c);
                local_key[l] = keys[[r, c]];
                if r == 0 || c == 0 || r + 1 == h || c + 1 == w {
                    on_edge[l] = true;
                }
            }
        }
        let mut provisional = vec![0u32; n + 1];
        for l in 1..=n {
            if on_edge[l] || worth_keeping(local_key[l], &sums[l]) {
                let id = self.keys.len() as u32;
                self.keys.push(local_key[l]);
                self.stats.push(std::mem::take(&mut sums[l]));
                self.sets.push();
                provisional[l] = id;
            }
        }
        let labels = local.labels.mapv(|l| provisional[l as usize]);

        // Join with the tile above and the tile to the left, both already labelled.
        if let Some(above) = self.bottom_rows[tile.tile_col].take() {
            for c in 0..w {
                self.join(above[c], labels[[0, c]]);
            }
        }
        if let Some((row, left)) = self.right_column.take() {
            if row == tile.tile_row && tile.tile_col > 0 {
                for r in 0..h {
                    self.join(left[r], labels[[r, 0]]);
                }
            }
        }
        self.bottom_rows[tile.tile_col] = Some(labels.row(h - 1).to_vec());
        self.right_column = Some((tile.tile_row, labels.column(w - 1).to_vec()));
        labels
    }

    fn join(&mut self, a: u32, b: u32) {
        if a == 0 || b == 0 || self.keys[a as usize] != self.keys[b as usize] {
            return;
        }
        // The older label is the root, so final ids follow the order regions were first seen.
        self.sets.join_to_lower(a as usize, b as usize);
    }

    /// Merges the statistics of joined labels and numbers the regions; `keep(key, stats)` decides which
    /// regions survive (the others get final id 0).
    pub fn finish(mut self, keep: impl Fn(u32, &S) -> bool) -> Stitched<S> {
        assert_eq!(self.next_tile, self.tiling.len(), "every tile was labelled");
        let count = self.keys.len();
        let mut merged: Vec<Option<S>> = vec![None; count];
        for id in 1..count as u32 {
            let root = self.sets.find(id as usize);
            let part = std::mem::take(&mut self.stats[id as usize]);
            match &mut merged[root] {
                Some(s) => s.merge(&part),
                slot @ None => *slot = Some(part),
            }
        }
        let mut final_of_root = vec![0u32; count];
        let mut regions = Vec::new();
        for (root, stats) in merged.into_iter().enumerate() {
            let Some(stats) = stats else { continue };
            let key = self.keys[root];
            if keep(key, &stats) {
                regions.push(Region { key, stats });
                final_of_root[root] = regions.len() as u32;
            }
        }
        let final_of =
            (0..count as u32).map(|id| if id == 0 { 0 } else { final_of_root[self.sets.find(id as usize)] }).collect();
        Stitched { final_of, regions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    #[derive(Debug, Clone, Default)]
    struct Count {
        pixels: u64,
        first: Option<(usize, usize)>,
    }

    impl RegionStats for Count {
        fn merge(&mut self, other: &Self) {
            self.pixels += other.pixels;
            self.first = match (self.first, other.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }

    /// Labels `keys` tile by tile and returns final ids per pixel and the regions.
    fn stitched(keys: &Array2<u32>, tile: usize, keep_small: bool) -> (Array2<u32>, Stitched<Count>) {
        let (h, w) = keys.dim();
        let tiling = Tiling::new(w, h, tile, 0);
        let mut labeller = TiledLabeller::<Count>::new(tiling);
        let mut provisional = Array2::<u32>::zeros((h, w));
        for t in tiling.tiles() {
            let c = t.core;
            let core = keys.slice(s![c.row..c.row + c.height, c.col..c.col + c.width]);
            let labels = labeller.add_tile(
                &t,
                core,
                |s, r, col| {
                    s.pixels += 1;
                    let p = (c.row + r, c.col + col);
                    s.first = Some(s.first.map_or(p, |f| f.min(p)));
                },
                |_, s| keep_small || s.pixels >= 3,
            );
            provisional.slice_mut(s![c.row..c.row + c.height, c.col..c.col + c.width]).assign(&labels);
        }
        let done = labeller.finish(|_, _| true);
        let finals = provisional.mapv(|p| done.final_id(p));
        (finals, done)
    }

    #[test]
    fn regions_split_by_tiles_are_joined_with_their_full_size() {
        // A ring and a bar that cross both tile borders of a 16-pixel tiling, plus a second key that
        // touches the bar (and must stay apart from it).
        //   ......................
        //   ..####################   rows 10..13: bar of key 1 across all tiles
        //   ..######222222########   key 2 inside the bar's rows, cols 10..15
        let mut keys = Array2::<u32>::zeros((40, 40));
        keys.slice_mut(s![10..13, 2..40]).fill(1);
        keys.slice_mut(s![11..12, 10..16]).fill(2);
        for r in 14..30 {
            for c in 12..28 {
                let ring = r == 14 || r == 29 || c == 12 || c == 27;
                if ring {
                    keys[[r, c]] = 3;
                }
            }
        }
        let (finals, done) = stitched(&keys, 16, true);
        let whole = label_regions(keys.view());
        assert_eq!(done.regions.len(), whole.count(), "same regions as labelling the whole grid");
        for (f, l) in finals.iter().zip(whole.labels.iter()) {
            assert_eq!(*f == 0, *l == 0);
        }
        let bar = done.region(finals[[10, 39]]).unwrap();
        assert_eq!(bar.key, 1);
        assert_eq!(bar.stats.pixels, 3 * 38 - 6);
        assert_eq!(bar.stats.first, Some((10, 2)));
        let ring = done.region(finals[[29, 27]]).unwrap();
        assert_eq!(ring.stats.pixels, 4 * 16 - 4);
        assert_eq!(finals[[14, 12]], finals[[29, 27]], "ring joined through three tile borders");
    }

    #[test]
    fn small_interior_regions_are_dropped_but_border_fragments_are_not() {
        let mut keys = Array2::<u32>::zeros((16, 16));
        keys[[3, 3]] = 1; // one pixel inside tile (0,0): dropped
        keys.slice_mut(s![6..8, 7..9]).fill(1); // 2x2 across a tile border: two 2-pixel fragments
        let (finals, done) = stitched(&keys, 8, false);
        assert_eq!(finals[[3, 3]], 0);
        assert_eq!(done.regions.len(), 1);
        assert_eq!(done.regions[0].stats.pixels, 4);
    }
}
