//! Per-pixel temporal state as a struct of arrays (what the store keeps and a GPU kernel would upload).

use chrono::NaiveDate;

use super::model::{BANDS, Recursion, SegmentFit};
use crate::spectral::LandClass;

/// "No date" in day-number fields.
pub const NONE_DAY: i32 = i32::MIN;

/// Days since 1970-01-01.
pub fn day_number(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The date of a day number (`None` for [`NONE_DAY`]).
pub fn from_day_number(n: i32) -> Option<NaiveDate> {
    (n != NONE_DAY).then(|| NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(n as i64))
}

/// One pixel's observation on one date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelObservation {
    /// Land-cover class; `NoData` for invalid (cloud, shadow, snow, nodata), `Unknown` for ambiguous.
    pub class: LandClass,
    /// Reflectance of blue, green, red, nir, swir1, swir2 (NaN where invalid or not measured).
    pub bands: [f32; BANDS],
    /// NDVI (NaN when invalid).
    pub ndvi: f32,
    /// BSI (NaN when invalid or without SWIR).
    pub bsi: f32,
}

/// One pixel's state. 32-bit fields throughout, `repr(C)`, so a GPU kernel can take the array as is.
///
/// Three things are kept: the seasonal model of the pixel's current segment ([`SegmentFit`]); the
/// observations that depart from it, held back until enough in a row make a break or one that fits
/// the model again shows them to have been noise (a cloud the mask missed); and the runs and events
/// that accepted observations build (the bare run and its idle clock, works, construction).
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct PixelState {
    /// Class of the latest accepted observation (`NoData` before the first).
    pub class_last: u32,
    /// Valid observations so far, pending ones included.
    pub valid_obs: u32,
    /// Day of the latest accepted observation.
    pub last_valid: i32,
    /// First day of the current segment (since the last break).
    pub seg_start: i32,
    /// Observations in the segment's sums.
    pub seg_obs: u32,
    /// Of those, observations of built ground (a segment built on most of them is established).
    pub seg_built: u32,
    /// 1 when a break judged by the seasonal model into bare ground (stripping, digging) led to the
    /// current segment: what the ground becomes since is known to be new.
    pub seg_by_model: u32,
    /// Terms of the segment's latest fit: 0 none yet (class rules), 6 the seasonal model.
    pub model_terms: u32,
    /// What the seasonal model expects through the year: [`SEASON_GREEN`] when green vegetation at some
    /// time of year (bare ground it expects is a crop's fallow or harvest gap, not idle land),
    /// [`SEASON_BARE`] when bare soil with NDVI under `stripped_max_ndvi` all year, else 0.
    pub green_season: u32,
    /// Observations held back as departing from the model (or, without a model, from the class).
    pub pend_count: u32,
    /// The class the ground had when the first of them came (model expectation or latest class).
    pub pend_before: u32,
    /// Their days.
    pub pend_day: [i32; MAX_PENDING],
    /// Their classes.
    pub pend_class: [u32; MAX_PENDING],
    /// Their departure scores (0 where judged by class).
    pub pend_score: [f32; MAX_PENDING],
    /// Their reflectance, observation-major.
    pub pend_bands: [f32; MAX_PENDING * BANDS],
    /// Their seasonal terms (`model::season_terms`), observation-major.
    pub pend_season: [f32; MAX_PENDING * 4],
    /// Whether the area was green on their days (`DateContext::area_green`).
    pub pend_green: [u32; MAX_PENDING],
    /// Day of the latest break (`NONE_DAY` before the first).
    pub last_break: i32,
    /// First day of the current bare run.
    pub bare_start: i32,
    /// Latest bare observation of that run.
    pub bare_last: i32,
    /// Bare observations in that run.
    pub bare_obs: u32,
    /// 1 when a break made the run: bareness the pixel's own history did not expect.
    pub bare_by_break: u32,
    /// 1 when the run began after an observation of something else (its start was seen).
    pub bare_start_seen: u32,
    /// 1 when the run's latest observation had no seasonal model with a green season to explain it.
    pub bare_unexplained: u32,
    /// Accepted built observations in a row.
    pub built_run: u32,
    /// First day of the current works (a break into bare ground).
    pub works_start: i32,
    /// Latest day works were seen.
    pub works_last: i32,
    /// First day of new construction the pixel shows (`NONE_DAY` when none).
    pub built_since: i32,
    /// Accepted non-built observations of the segment before built ground appeared (class rules).
    pub nonbuilt_obs: u32,
    /// 1 when the latest event was judged by class rules, without a seasonal model.
    pub judged_by_class: u32,
    /// Departure score of the observation that started the latest break.
    pub break_score: f32,
    /// NDVI and BSI the ground had before the latest break (evidence).
    pub ndvi_before: f32,
    /// BSI before the latest break.
    pub bsi_before: f32,
    /// NDVI of the latest accepted observation.
    pub ndvi_last: f32,
    /// BSI of the latest accepted observation.
    pub bsi_last: f32,
    /// The segment's model.
    pub fit: SegmentFit,
    /// Fingerprint of the bands of the latest valid observation, 0 before the first: a gap-filled
    /// composite that repeats the previous month bit for bit is not a new look at the ground and must
    /// not confirm a change twice. Last, so that `JTS3` records are a prefix.
    pub last_fingerprint: u32,
    /// Clear looks in a row (the quality band saw no cloud) on which the pixel looked like cloud: a
    /// cloud moves from one acquisition to the next, a white roof or coating stays. The scan reads
    /// it, not the temporal rules.
    pub bright_looks: u32,
    /// What the model's recursive update carries from look to look (last, so that `JTS4` records are
    /// a prefix).
    pub recursion: Recursion,
}

/// [`PixelState::green_season`]: green vegetation at some time of year.
pub const SEASON_GREEN: u32 = 1;
/// [`PixelState::green_season`]: bare soil all year.
pub const SEASON_BARE: u32 = 2;

/// Departing observations held back at most (the longest confirmation there is).
pub const MAX_PENDING: usize = 4;

impl Default for PixelState {
    fn default() -> Self {
        PixelState {
            class_last: LandClass::NoData as u32,
            valid_obs: 0,
            last_valid: NONE_DAY,
            seg_start: NONE_DAY,
            seg_obs: 0,
            seg_built: 0,
            seg_by_model: 0,
            model_terms: 0,
            green_season: 0,
            pend_count: 0,
            pend_before: LandClass::NoData as u32,
            pend_day: [NONE_DAY; MAX_PENDING],
            pend_class: [LandClass::NoData as u32; MAX_PENDING],
            pend_score: [0.0; MAX_PENDING],
            pend_bands: [0.0; MAX_PENDING * BANDS],
            pend_season: [0.0; MAX_PENDING * 4],
            pend_green: [0; MAX_PENDING],
            last_break: NONE_DAY,
            bare_start: NONE_DAY,
            bare_last: NONE_DAY,
            bare_obs: 0,
            bare_by_break: 0,
            bare_start_seen: 0,
            bare_unexplained: 0,
            built_run: 0,
            works_start: NONE_DAY,
            works_last: NONE_DAY,
            built_since: NONE_DAY,
            nonbuilt_obs: 0,
            judged_by_class: 0,
            break_score: 0.0,
            ndvi_before: f32::NAN,
            bsi_before: f32::NAN,
            ndvi_last: f32::NAN,
            bsi_last: f32::NAN,
            fit: SegmentFit::default(),
            last_fingerprint: 0,
            bright_looks: 0,
            recursion: Recursion::default(),
        }
    }
}

/// The states of every pixel of a plot grid, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TemporalState {
    /// Grid width.
    pub width: usize,
    /// Grid height.
    pub height: usize,
    /// One state per pixel.
    pub pixels: Vec<PixelState>,
}

/// The first bytes of a state blob: the record layout's version. Blobs of earlier layouts are recognised
/// by [`TemporalState::layout_of`]: `JTS4` and `JTS3` records (prefixes of this one, but for the first
/// `JTS3` records, which lacked [`PixelState::seg_by_model`]) are read and upgraded, `JTS2` (the
/// class-rule state of jingtu 0.1) is never read as this one.
pub const STATE_MAGIC: &[u8; 4] = b"JTS5";

/// Bytes of a `JTS4` pixel record: this layout without the model's recursion.
const JTS4_RECORD: usize = std::mem::size_of::<PixelState>() - std::mem::size_of::<Recursion>();
/// Bytes of a `JTS3` pixel record: the `JTS4` layout less its last two fields.
const JTS3_RECORD: usize = JTS4_RECORD - 8;

impl TemporalState {
    /// The layout magic of a stored blob, if it has one of the known ones.
    pub fn layout_of(bytes: &[u8]) -> Option<&'static str> {
        match bytes.get(..4)? {
            b"JTS2" => Some("JTS2 (class rules, jingtu 0.1)"),
            b"JTS3" => Some("JTS3 (seasonal model, read and upgraded)"),
            b"JTS4" => Some("JTS4 (seasonal model, read and upgraded)"),
            b"JTS5" => Some("JTS5 (seasonal model)"),
            _ => None,
        }
    }

    /// Fresh state for a `width` x `height` grid.
    pub fn new(width: usize, height: usize) -> Self {
        TemporalState { width, height, pixels: vec![PixelState::default(); width * height] }
    }

    /// Serializes for the store: a magic naming the record layout, then the raw little-endian pixel
    /// records, deflated (runs of "no date" and equal counts compress well).
    pub fn to_bytes(&self) -> Vec<u8> {
        use std::io::Write;
        // Streamed into the encoder, not copied whole first: a band of a large plot's state is some
        // 400 MB, and a copy of it doubled the scan's peak memory.
        let mut enc = flate2::write::DeflateEncoder::new(STATE_MAGIC.to_vec(), flate2::Compression::fast());
        enc.write_all(&(self.width as u32).to_le_bytes()).expect("writing to memory");
        enc.write_all(&(self.height as u32).to_le_bytes()).expect("writing to memory");
        enc.write_all(bytemuck::cast_slice(&self.pixels)).expect("writing to memory");
        enc.finish().expect("writing to memory")
    }

    /// Reads a blob written by `to_bytes`, or by one of the two `JTS3` layouts (whose pixels get no
    /// fingerprint and no bright looks: their next observation is taken in as it was then).
    pub fn from_bytes(bytes: &[u8]) -> Option<TemporalState> {
        use std::io::Read;
        let magic = bytes.get(..4)?;
        if magic == b"JTS3" {
            return Self::from_jts3(bytes);
        }
        let record = match magic {
            m if m == STATE_MAGIC.as_slice() => std::mem::size_of::<PixelState>(),
            b"JTS4" => JTS4_RECORD,
            _ => return None,
        };
        let mut decoder = flate2::read::DeflateDecoder::new(&bytes[4..]);
        let mut head = [0u8; 8];
        decoder.read_exact(&mut head).ok()?;
        let (width, height, n) = Self::grid_of(&head, record, bytes.len())?;
        // Decoded straight into the pixels (a band of a large plot's state is some 400 MB; decoding
        // into a buffer first doubled the peak). A `JTS4` record is a prefix of this one: the fields it
        // lacks are zero, no inverse kept.
        let mut pixels = vec![<PixelState as bytemuck::Zeroable>::zeroed(); n];
        if record == std::mem::size_of::<PixelState>() {
            decoder.read_exact(bytemuck::cast_slice_mut(&mut pixels)).ok()?;
        } else {
            for p in pixels.iter_mut() {
                decoder.read_exact(&mut bytemuck::bytes_of_mut(p)[..record]).ok()?;
            }
            Self::square_rmse(&mut pixels);
        }
        // Exactly the records declared: nothing after them.
        if decoder.read(&mut [0u8; 1]).ok()? != 0 {
            return None;
        }
        Some(TemporalState { width, height, pixels })
    }

    /// The grid a blob's head declares, and its pixel count. Checked: a blob declaring 2^32 x 2^32
    /// pixels wrapped the product in release builds, so a short record list could pass as a huge grid
    /// and be indexed past its end later. Deflate expands at most some 1,032 times, so a size beyond
    /// that of the blob is a lie, refused before anything is allocated for it.
    fn grid_of(head: &[u8; 8], record: usize, blob_len: usize) -> Option<(usize, usize, usize)> {
        let width = u32::from_le_bytes(head[0..4].try_into().ok()?) as usize;
        let height = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
        let n = width.checked_mul(height)?;
        if n.checked_mul(record)? > blob_len.saturating_mul(1100) {
            return None;
        }
        Some((width, height, n))
    }

    /// Reads a `JTS3` blob (its records are prefixes of `JTS4` ones). The tag covered two record
    /// layouts: the first without
    /// [`PixelState::seg_by_model`], the later one with it (both without the last two fields of this
    /// layout). They are told apart by the records' total length, which matches only one of them for
    /// any grid with pixels; a blob matching neither is refused, never read with shifted fields. Decoded
    /// whole first: this happens once per plot, on the scan that upgrades the store.
    fn from_jts3(bytes: &[u8]) -> Option<TemporalState> {
        use std::io::Read;
        let with_seg_by_model = JTS3_RECORD;
        let without = JTS3_RECORD - 4;
        let mut decoder = flate2::read::DeflateDecoder::new(&bytes[4..]);
        let mut head = [0u8; 8];
        decoder.read_exact(&mut head).ok()?;
        let (width, height, n) = Self::grid_of(&head, without, bytes.len())?;
        let mut raw = Vec::new();
        decoder.take((n * with_seg_by_model + 1) as u64).read_to_end(&mut raw).ok()?;
        let gap = std::mem::offset_of!(PixelState, seg_by_model);
        let mut record = [0u8; std::mem::size_of::<PixelState>()];
        let mut pixels: Vec<PixelState> = if raw.len() == n * with_seg_by_model {
            raw.chunks_exact(with_seg_by_model)
                .map(|r| {
                    record[..with_seg_by_model].copy_from_slice(r);
                    bytemuck::pod_read_unaligned::<PixelState>(&record)
                })
                .collect()
        } else if raw.len() == n * without {
            raw.chunks_exact(without)
                .map(|r| {
                    record[..gap].copy_from_slice(&r[..gap]);
                    record[gap..gap + 4].fill(0);
                    record[gap + 4..without + 4].copy_from_slice(&r[gap..]);
                    record[without + 4..].fill(0);
                    bytemuck::pod_read_unaligned::<PixelState>(&record)
                })
                .collect()
        } else {
            return None;
        };
        Self::square_rmse(&mut pixels);
        Some(TemporalState { width, height, pixels })
    }

    /// Layouts before `JTS5` kept each band's residual RMSE where this one keeps its square.
    fn square_rmse(pixels: &mut [PixelState]) {
        for p in pixels {
            for v in p.fit.variance.iter_mut() {
                *v *= *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deflated blob under `magic`: the grid's head, then `raw` records.
    fn deflated(magic: &[u8; 4], width: u32, height: u32, raw: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(magic.to_vec(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &width.to_le_bytes()).unwrap();
        std::io::Write::write_all(&mut enc, &height.to_le_bytes()).unwrap();
        std::io::Write::write_all(&mut enc, raw).unwrap();
        enc.finish().unwrap()
    }

    /// The raw records of `s` as an earlier layout wrote them: `record` cuts each from this layout's.
    fn old_records(s: &TemporalState, record: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        s.pixels.iter().flat_map(|p| record(bytemuck::bytes_of(p))).collect()
    }

    #[test]
    fn state_blob_round_trips_bit_for_bit() {
        let mut s = TemporalState::new(3, 2);
        s.pixels[4] = PixelState {
            class_last: 2,
            valid_obs: 7,
            last_valid: 20000,
            bare_start: 19900,
            bare_last: 20000,
            bare_obs: 4,
            works_start: 19800,
            works_last: 19830,
            bsi_last: f32::NAN,
            ndvi_before: 0.6,
            ..PixelState::default()
        };
        s.pixels[4].fit.coef[7] = 0.125;
        let back = TemporalState::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(back.pixels[4].works_last, 19830);
        assert_eq!(back.pixels[4].fit.coef[7], 0.125);
        assert!(back.pixels[4].bsi_last.is_nan());
        let bytes = s.to_bytes();
        assert!(TemporalState::from_bytes(&bytes[..bytes.len() - 3]).is_none());
        assert_eq!(TemporalState::layout_of(&bytes), Some("JTS5 (seasonal model)"));
    }

    #[test]
    fn a_blob_of_the_previous_model_layout_is_upgraded_field_for_field() {
        let mut s = TemporalState::new(2, 1);
        s.pixels[1].works_start = 19800;
        s.pixels[1].fit.variance[5] = 0.5;
        // The JTS3 blob of the same state: every record without its last four bytes.
        let old = deflated(b"JTS3", 2, 1, &old_records(&s, |r| r[..JTS3_RECORD].to_vec()));
        let back = TemporalState::from_bytes(&old).expect("a JTS3 blob is read");
        // The RMSE it held (0.5) is now kept as its square.
        s.pixels[1].fit.variance[5] = 0.25;
        // Bit for bit (NaN fields compare unequal as values).
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(back.pixels[1].works_start, 19800);
        assert_eq!(back.pixels[1].fit.variance[5], 0.25);
        assert_eq!(back.pixels[1].last_fingerprint, 0);
        assert!(TemporalState::from_bytes(&old[..old.len() - 2]).is_none());
    }

    #[test]
    fn a_blob_of_the_layout_before_the_kept_inverse_is_read_without_one() {
        let mut s = TemporalState::new(2, 1);
        s.pixels[1].works_start = 19800;
        s.pixels[1].bright_looks = 2;
        s.pixels[1].fit.variance[0] = 0.5;
        let old = deflated(b"JTS4", 2, 1, &old_records(&s, |r| r[..JTS4_RECORD].to_vec()));
        let back = TemporalState::from_bytes(&old).expect("a JTS4 blob is read");
        s.pixels[1].fit.variance[0] = 0.25;
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(back.pixels[1].bright_looks, 2);
        assert_eq!(back.pixels[1].recursion.fitted_obs, 0, "no recursion kept: the next look refits");
    }

    #[test]
    fn a_blob_of_the_first_model_layout_gets_its_fields_in_place_not_shifted() {
        // The first JTS3 records had no `seg_by_model`: every field after `seg_built` sat four bytes
        // earlier. Read with the later JTS3 layout they would come out shifted by one field.
        let mut s = TemporalState::new(3, 1);
        s.pixels[0].seg_built = 5;
        s.pixels[0].model_terms = 6;
        s.pixels[2].works_start = 19800;
        s.pixels[2].fit.variance[5] = 0.5;
        let gap = std::mem::offset_of!(PixelState, seg_by_model);
        let mut raw = old_records(&s, |r| [&r[..gap], &r[gap + 4..JTS3_RECORD]].concat());
        let old = deflated(b"JTS3", 3, 1, &raw);
        let back = TemporalState::from_bytes(&old).expect("a first-layout JTS3 blob is read");
        s.pixels[2].fit.variance[5] = 0.25;
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(back.pixels[0].seg_built, 5);
        assert_eq!(back.pixels[0].seg_by_model, 0);
        assert_eq!(back.pixels[0].model_terms, 6);
        assert_eq!(back.pixels[2].works_start, 19800);
        assert_eq!(back.pixels[2].fit.variance[5], 0.25);
        // Records of neither length are refused.
        raw.truncate(raw.len() - 4);
        assert!(TemporalState::from_bytes(&deflated(b"JTS3", 3, 1, &raw)).is_none());
    }

    #[test]
    fn a_blob_of_the_class_rule_layout_is_recognised_and_never_read_as_this_one() {
        let mut old = b"JTS2".to_vec();
        old.extend_from_slice(&[0u8; 40]);
        assert!(TemporalState::from_bytes(&old).is_none());
        assert_eq!(TemporalState::layout_of(&old), Some("JTS2 (class rules, jingtu 0.1)"));
        assert_eq!(TemporalState::layout_of(b"junk"), None);
    }

    #[test]
    fn a_blob_declaring_an_overflowing_grid_is_refused_not_wrapped() {
        use std::io::Write;
        let mut raw = Vec::new();
        raw.extend_from_slice(&u32::MAX.to_le_bytes());
        raw.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut enc = flate2::write::DeflateEncoder::new(STATE_MAGIC.to_vec(), flate2::Compression::fast());
        enc.write_all(&raw).unwrap();
        assert!(TemporalState::from_bytes(&enc.finish().unwrap()).is_none());
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(from_day_number(day_number(d)), Some(d));
        assert_eq!(from_day_number(NONE_DAY), None);
    }
}
