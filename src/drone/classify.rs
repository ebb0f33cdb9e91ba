//! Judging regions of height change: what a high part is (structure, vehicle, vegetation, heap or pit),
//! and which final regions become flags, with their volumes.

use serde::Serialize;

use super::DroneOptions;
use super::stitch::RegionStats;
use crate::flags::FlagKind;

/// The smallest (row, column) of two anchors: a region's first pixel in raster order, whatever the
/// tiling, which makes flag ids independent of tile size.
fn min_anchor(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Sums over a high part (a region that rose or fell by a structure's height).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HighStats {
    /// Pixels.
    pub pixels: u64,
    /// Pixels that survive the erosion to the minimum structure width.
    pub core: u64,
    /// Pixels on the region's edge.
    pub edge: u64,
    /// Edge pixels that are walls.
    pub steep_edge: u64,
    /// Pixels deep enough inside (away from the walls) to judge the roughness of the top.
    pub interior: u64,
    /// Of those, pixels whose surface is rough.
    pub rough: u64,
    /// Pixels an orthomosaic covers.
    pub veg_known: u64,
    /// Of those, vegetation.
    pub veg: u64,
    /// First pixel in raster order (grid row, column).
    pub anchor: Option<(u64, u64)>,
}

impl RegionStats for HighStats {
    fn merge(&mut self, o: &Self) {
        self.pixels += o.pixels;
        self.core += o.core;
        self.edge += o.edge;
        self.steep_edge += o.steep_edge;
        self.interior += o.interior;
        self.rough += o.rough;
        self.veg_known += o.veg_known;
        self.veg += o.veg;
        self.anchor = min_anchor(self.anchor, o.anchor);
    }
}

impl HighStats {
    /// Share of the edge that is walls.
    pub fn wall_fraction(&self) -> f64 {
        if self.edge == 0 { 0.0 } else { self.steep_edge as f64 / self.edge as f64 }
    }

    /// Share of the interior (away from the walls) that is rough.
    pub fn rough_fraction(&self) -> f64 {
        if self.interior == 0 { 0.0 } else { self.rough as f64 / self.interior as f64 }
    }

    /// Share of the orthomosaic-covered pixels that are vegetation, `None` without coverage.
    pub fn vegetation_fraction(&self) -> Option<f64> {
        (self.veg_known > 0).then(|| self.veg as f64 / self.veg_known as f64)
    }
}

/// Share of rough pixels below which a surface counts as smooth (roofs and graded ground have next to
/// none; canopy has many).
const SMOOTH_MAX_ROUGH_FRACTION: f64 = 0.2;

/// What a high part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum HighVerdict {
    /// A building or other structure built (gain) or removed (loss).
    Structure = 1,
    /// Walled but too small or narrow for a structure: a vehicle, a container, machinery. Not counted.
    Object = 2,
    /// Trees or shrubs that grew or were cut. Not counted.
    Vegetation = 3,
    /// Smooth: a spoil heap or a pit, part of the earthworks.
    Earthwork = 4,
}

impl HighVerdict {
    /// From the stored byte.
    pub fn from_u8(v: u8) -> Option<HighVerdict> {
        match v {
            1 => Some(HighVerdict::Structure),
            2 => Some(HighVerdict::Object),
            3 => Some(HighVerdict::Vegetation),
            4 => Some(HighVerdict::Earthwork),
            _ => None,
        }
    }
}

/// Judges a high part. Order matters: vegetation first (a tree crown has steep edges too), then size and
/// width, which separate structures from vehicles, then walls, which separate structures from heaps
/// and pits. Vegetation is green *and* rough: a smooth green part is a painted steel roof (common in
/// Jiangsu) when it rose, or grassland that was dug away when it fell.
pub fn judge_high(s: &HighStats, pixel_area: f64, o: &DroneOptions) -> HighVerdict {
    let walled = s.wall_fraction() >= o.wall_min_fraction;
    let smooth = s.rough_fraction() < SMOOTH_MAX_ROUGH_FRACTION;
    let vegetation = match s.vegetation_fraction() {
        Some(v) => v >= o.vegetation_min_fraction && !smooth,
        None => s.rough_fraction() >= o.canopy_min_rough_fraction,
    };
    if vegetation {
        return HighVerdict::Vegetation;
    }
    let big_enough = s.pixels as f64 * pixel_area >= o.structure_min_area_m2 && s.core > 0;
    match (walled, big_enough) {
        (true, true) => HighVerdict::Structure,
        (true, false) => HighVerdict::Object,
        // Smooth slopes: a heap or a pit, whatever its size; it joins the earthworks around it.
        (false, _) => HighVerdict::Earthwork,
    }
}

/// Keys of the final regions (low byte; the plot index is in the bits above).
pub mod final_keys {
    /// A structure built.
    pub const STRUCTURE_GAIN: u32 = 1;
    /// A structure removed.
    pub const STRUCTURE_LOSS: u32 = 2;
    /// Ground cut or filled.
    pub const EARTHWORKS: u32 = 3;
}

/// Sums over a final region, everything a flag's evidence reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalStats {
    /// Pixels.
    pub pixels: u64,
    /// Pixels that moved by at least the kind's threshold (structure height, earthworks change).
    pub strong: u64,
    /// Sum of the height changes of the `strong` pixels (metres).
    pub sum_strong: f64,
    /// Sum of positive height changes (metres; times the pixel area gives the fill volume).
    pub sum_up: f64,
    /// Sum of negative height changes, as a positive number (the cut volume per pixel area).
    pub sum_down: f64,
    /// Largest rise (metres).
    pub max_dh: f32,
    /// Largest fall (metres, negative).
    pub min_dh: f32,
    /// Pixels vegetated on the earlier orthomosaic.
    pub veg_before: u64,
    /// Pixels vegetated on the later orthomosaic.
    pub veg_after: u64,
    /// Pixels both orthomosaics cover.
    pub ortho_known: u64,
    /// First pixel in raster order (grid row, column).
    pub anchor: Option<(u64, u64)>,
}

impl RegionStats for FinalStats {
    fn merge(&mut self, o: &Self) {
        self.pixels += o.pixels;
        self.strong += o.strong;
        self.sum_strong += o.sum_strong;
        self.sum_up += o.sum_up;
        self.sum_down += o.sum_down;
        self.max_dh = self.max_dh.max(o.max_dh);
        self.min_dh = self.min_dh.min(o.min_dh);
        self.veg_before += o.veg_before;
        self.veg_after += o.veg_after;
        self.ortho_known += o.ortho_known;
        self.anchor = min_anchor(self.anchor, o.anchor);
    }
}

impl FinalStats {
    /// Adds one pixel's height change.
    pub fn add_change(&mut self, dh: f32) {
        self.pixels += 1;
        if dh > 0.0 {
            self.sum_up += dh as f64;
        } else {
            self.sum_down -= dh as f64;
        }
        if self.pixels == 1 {
            self.max_dh = dh;
            self.min_dh = dh;
        } else {
            self.max_dh = self.max_dh.max(dh);
            self.min_dh = self.min_dh.min(dh);
        }
    }

    /// Mean height change of the strong pixels: a structure's height without its blurred walls.
    pub fn mean_strong_dh(&self) -> f64 {
        if self.strong == 0 { 0.0 } else { self.sum_strong / self.strong as f64 }
    }

    /// Mean height change (metres).
    pub fn mean_dh(&self) -> f64 {
        if self.pixels == 0 { 0.0 } else { (self.sum_up - self.sum_down) / self.pixels as f64 }
    }
}

/// The flag a final region becomes, if any.
pub fn judge_final(key: u32, s: &FinalStats, pixel_area: f64, o: &DroneOptions) -> Option<FlagKind> {
    match key & 0xff {
        final_keys::STRUCTURE_GAIN if s.strong > 0 => Some(FlagKind::HeightGain),
        final_keys::STRUCTURE_LOSS if s.strong > 0 => Some(FlagKind::HeightLoss),
        final_keys::EARTHWORKS if s.strong as f64 * pixel_area >= o.earthworks_min_area_m2 => {
            Some(FlagKind::Earthworks)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pixels: u64, core: u64, edge: u64, steep: u64, rough: u64, veg: Option<u64>) -> HighStats {
        HighStats {
            pixels,
            core,
            edge,
            steep_edge: steep,
            interior: pixels - edge,
            rough,
            veg_known: if veg.is_some() { pixels } else { 0 },
            veg: veg.unwrap_or(0),
            anchor: Some((0, 0)),
        }
    }

    #[test]
    fn high_parts_are_told_apart_by_walls_width_and_vegetation() {
        let o = DroneOptions::default();
        let a = 0.0625; // 0.25 m pixels
        // A 10 x 12 m building: 1920 px, walls all round, flat roof.
        assert_eq!(judge_high(&stats(1920, 900, 176, 170, 0, Some(0)), a, &o), HighVerdict::Structure);
        // A truck: walled but no core survives the 3 m erosion.
        assert_eq!(judge_high(&stats(400, 0, 100, 95, 0, Some(0)), a, &o), HighVerdict::Object);
        // A tree crown: steep edges, rough, green.
        assert_eq!(judge_high(&stats(900, 300, 120, 90, 300, Some(800)), a, &o), HighVerdict::Vegetation);
        // The same crown without orthomosaics: rough decides.
        assert_eq!(judge_high(&stats(900, 300, 120, 90, 300, None), a, &o), HighVerdict::Vegetation);
        // A grassy field dug 3 m deep: green before, but smooth.
        assert_eq!(judge_high(&stats(3000, 1500, 200, 3, 0, Some(2900)), a, &o), HighVerdict::Earthwork);
        // A green steel roof: green, but smooth and walled.
        assert_eq!(judge_high(&stats(1920, 900, 176, 170, 10, Some(1900)), a, &o), HighVerdict::Structure);
        // A spoil heap or a pit: smooth slopes.
        assert_eq!(judge_high(&stats(3000, 1500, 200, 3, 20, Some(0)), a, &o), HighVerdict::Earthwork);
        assert_eq!(judge_high(&stats(3000, 1500, 200, 3, 20, None), a, &o), HighVerdict::Earthwork);
    }

    #[test]
    fn final_regions_need_their_kind_of_evidence() {
        let o = DroneOptions::default();
        let mut s = FinalStats::default();
        for dh in [0.6f32, 0.7, -0.3] {
            s.add_change(dh);
        }
        assert!((s.sum_up - 1.3).abs() < 1e-6 && (s.sum_down - 0.3).abs() < 1e-6);
        assert_eq!((s.max_dh, s.min_dh), (0.7, -0.3));
        assert!((s.mean_dh() - 1.0 / 3.0).abs() < 1e-6);
        s.strong = 1599;
        assert_eq!(judge_final(final_keys::EARTHWORKS, &s, 0.0625, &o), None, "99.9 m2 < 100 m2");
        s.strong = 1600;
        assert_eq!(judge_final(final_keys::EARTHWORKS | (3 << 8), &s, 0.0625, &o), Some(FlagKind::Earthworks));
        assert_eq!(judge_final(final_keys::STRUCTURE_LOSS, &s, 0.0625, &o), Some(FlagKind::HeightLoss));
    }
}
