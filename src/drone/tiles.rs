//! Cutting an analysis grid into tiles that are processed one at a time, each read with a margin (halo)
//! wide enough for every neighbourhood operation, so that what is kept of a tile (its core) is exactly
//! what processing the whole grid at once would give.
//!
//! ```text
//!   +-----------------------+   padded window: core + halo, clipped to the grid
//!   |  halo                 |
//!   |    +-------------+    |
//!   |    |    core     |    |   cores tile the grid without overlap
//!   |    +-------------+    |
//!   +-----------------------+
//! ```

use crate::raster::{Grid, Window};

/// One tile of a [`Tiling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Position in raster order of tiles (0 is top left).
    pub index: usize,
    /// Tile row.
    pub tile_row: usize,
    /// Tile column.
    pub tile_col: usize,
    /// The pixels this tile decides, in grid pixels.
    pub core: Window,
    /// The pixels read to decide them: the core plus the halo, clipped to the grid.
    pub padded: Window,
}

impl Tile {
    /// Where the core starts inside the padded window (row, column).
    pub fn core_offset(&self) -> (usize, usize) {
        (self.core.row - self.padded.row, self.core.col - self.padded.col)
    }

    /// Slices the core out of an array that covers the padded window.
    pub fn core_of<'a, T>(&self, padded: ndarray::ArrayView2<'a, T>) -> ndarray::ArrayView2<'a, T> {
        let (r, c) = self.core_offset();
        padded.slice_move(ndarray::s![r..r + self.core.height, c..c + self.core.width])
    }
}

/// A grid cut into square tiles of `tile_size` pixels (the last row and column of tiles may be smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Grid columns.
    pub width: usize,
    /// Grid rows.
    pub height: usize,
    /// Core size of a full tile.
    pub tile_size: usize,
    /// Margin read around every core.
    pub halo: usize,
}

impl Tiling {
    /// Tiles of `tile_size` (at least 16) with `halo` pixels of margin over a `width` x `height` grid.
    pub fn new(width: usize, height: usize, tile_size: usize, halo: usize) -> Self {
        Tiling { width, height, tile_size: tile_size.max(16), halo }
    }

    /// Tile columns.
    pub fn tiles_across(&self) -> usize {
        self.width.div_ceil(self.tile_size)
    }

    /// Tile rows.
    pub fn tiles_down(&self) -> usize {
        self.height.div_ceil(self.tile_size)
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.tiles_across() * self.tiles_down()
    }

    /// True for an empty grid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tile at tile row `tr`, column `tc`.
    pub fn tile(&self, tr: usize, tc: usize) -> Tile {
        let col = tc * self.tile_size;
        let row = tr * self.tile_size;
        let core = Window {
            col,
            row,
            width: self.tile_size.min(self.width - col),
            height: self.tile_size.min(self.height - row),
        };
        let pc = col.saturating_sub(self.halo);
        let pr = row.saturating_sub(self.halo);
        let pe = (col + core.width + self.halo).min(self.width);
        let ps = (row + core.height + self.halo).min(self.height);
        let padded = Window { col: pc, row: pr, width: pe - pc, height: ps - pr };
        Tile { index: tr * self.tiles_across() + tc, tile_row: tr, tile_col: tc, core, padded }
    }

    /// Every tile, in raster order (row by row, left to right).
    pub fn tiles(&self) -> impl Iterator<Item = Tile> + '_ {
        (0..self.tiles_down()).flat_map(move |tr| (0..self.tiles_across()).map(move |tc| self.tile(tr, tc)))
    }

    /// The grid of a window of `grid`.
    pub fn grid_of(grid: &Grid, window: Window) -> Grid {
        grid.window(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_cover_the_grid_once_and_halos_stay_inside() {
        let t = Tiling::new(100, 70, 32, 5);
        assert_eq!((t.tiles_across(), t.tiles_down(), t.len()), (4, 3, 12));
        let mut hits = vec![0u8; 100 * 70];
        for tile in t.tiles() {
            for r in tile.core.row..tile.core.row + tile.core.height {
                for c in tile.core.col..tile.core.col + tile.core.width {
                    hits[r * 100 + c] += 1;
                }
            }
            let p = tile.padded;
            assert!(p.col + p.width <= 100 && p.row + p.height <= 70);
            let (r, c) = tile.core_offset();
            assert!(r <= 5 && c <= 5);
        }
        assert!(hits.iter().all(|h| *h == 1));
        let last = t.tile(2, 3);
        assert_eq!(last.core, Window { col: 96, row: 64, width: 4, height: 6 });
        assert_eq!(last.padded, Window { col: 91, row: 59, width: 9, height: 11 });
    }
}
