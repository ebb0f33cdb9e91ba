//! Per-pixel temporal state as a struct of arrays (what the store keeps and a GPU kernel would upload).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
    /// Mean of blue, green, red and NIR reflectance (NaN when invalid).
    pub brightness: f32,
    /// NDVI (NaN when invalid).
    pub ndvi: f32,
    /// BSI (NaN when invalid or without SWIR).
    pub bsi: f32,
}

/// One pixel's state. 32-bit fields throughout, `repr(C)`, so a GPU kernel can take the array as is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct PixelState {
    /// Class of the latest valid observation (`NoData` before the first).
    pub class_last: u32,
    /// Valid observations so far.
    pub valid_obs: u32,
    /// Day of the latest valid observation.
    pub last_valid: i32,
    /// First observation of the current unbroken run of bare soil.
    pub bare_start: i32,
    /// Latest bare observation of that run.
    pub bare_last: i32,
    /// Bare observations in that run.
    pub bare_obs: u32,
    /// Where the idle clock started: the run's start, or the first quiet observation after confirmed works.
    pub idle_start: i32,
    /// Day of a single built-looking observation inside a bare run, not yet confirmed by the next one.
    pub pending_since: i32,
    /// First observation of the current run of built observations.
    pub built_start: i32,
    /// Observations in that run.
    pub built_obs: u32,
    /// Valid non-built observations seen before the current built run began.
    pub history_before_built: u32,
    /// Valid non-built observations so far (history for construction).
    pub nonbuilt_obs: u32,
    /// First observation of the current disturbance episode.
    pub disturb_start: i32,
    /// Latest observation showing disturbance.
    pub disturb_last: i32,
    /// Disturbed observations in the episode.
    pub disturb_obs: u32,
    /// Brightness of the previous valid observation if it was bare soil (NaN otherwise).
    pub prev_soil: f32,
    /// The acquisition's reference soil brightness on that previous observation.
    pub prev_reference: f32,
    /// Brightness of the latest undisturbed bare observation: what this soil normally looks like.
    pub calm_soil: f32,
    /// The acquisition's reference soil brightness on that observation.
    pub calm_reference: f32,
    /// NDVI of the latest valid observation.
    pub ndvi_last: f32,
    /// BSI of the latest valid observation.
    pub bsi_last: f32,
    /// NDVI of the latest valid observation that was neither built nor disturbed ("before").
    pub ndvi_calm: f32,
    /// BSI of that observation.
    pub bsi_calm: f32,
}

impl Default for PixelState {
    fn default() -> Self {
        PixelState {
            class_last: LandClass::NoData as u32,
            valid_obs: 0,
            last_valid: NONE_DAY,
            bare_start: NONE_DAY,
            bare_last: NONE_DAY,
            bare_obs: 0,
            idle_start: NONE_DAY,
            pending_since: NONE_DAY,
            built_start: NONE_DAY,
            built_obs: 0,
            history_before_built: 0,
            nonbuilt_obs: 0,
            disturb_start: NONE_DAY,
            disturb_last: NONE_DAY,
            disturb_obs: 0,
            prev_soil: f32::NAN,
            prev_reference: f32::NAN,
            calm_soil: f32::NAN,
            calm_reference: f32::NAN,
            ndvi_last: f32::NAN,
            bsi_last: f32::NAN,
            ndvi_calm: f32::NAN,
            bsi_calm: f32::NAN,
        }
    }
}

/// The states of every pixel of a plot grid, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemporalState {
    /// Grid width.
    pub width: usize,
    /// Grid height.
    pub height: usize,
    /// One state per pixel.
    pub pixels: Vec<PixelState>,
}

impl TemporalState {
    /// Fresh state for a `width` x `height` grid.
    pub fn new(width: usize, height: usize) -> Self {
        TemporalState { width, height, pixels: vec![PixelState::default(); width * height] }
    }

    /// Serializes for the store: the raw little-endian pixel records, deflated (runs of "no date" and
    /// equal counts compress well).
    pub fn to_bytes(&self) -> Vec<u8> {
        use std::io::Write;
        let mut raw = Vec::with_capacity(8 + self.pixels.len() * std::mem::size_of::<PixelState>());
        raw.extend_from_slice(&(self.width as u32).to_le_bytes());
        raw.extend_from_slice(&(self.height as u32).to_le_bytes());
        for p in &self.pixels {
            raw.extend_from_slice(bytemuck::bytes_of(p));
        }
        let mut enc = flate2::write::DeflateEncoder::new(b"JTS2".to_vec(), flate2::Compression::fast());
        enc.write_all(&raw).expect("writing to memory");
        enc.finish().expect("writing to memory")
    }

    /// Reads a blob written by `to_bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Option<TemporalState> {
        use std::io::Read;
        if bytes.len() < 4 || &bytes[..4] != b"JTS2" {
            return None;
        }
        let mut raw = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[4..]).read_to_end(&mut raw).ok()?;
        if raw.len() < 8 {
            return None;
        }
        let width = u32::from_le_bytes(raw[0..4].try_into().ok()?) as usize;
        let height = u32::from_le_bytes(raw[4..8].try_into().ok()?) as usize;
        let size = std::mem::size_of::<PixelState>();
        if raw.len() != 8 + width * height * size {
            return None;
        }
        let pixels = raw[8..].chunks_exact(size).map(bytemuck::pod_read_unaligned::<PixelState>).collect();
        Some(TemporalState { width, height, pixels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            idle_start: 19900,
            pending_since: NONE_DAY,
            built_start: NONE_DAY,
            built_obs: 0,
            history_before_built: 3,
            nonbuilt_obs: 7,
            disturb_start: 19800,
            disturb_last: 19830,
            disturb_obs: 2,
            prev_soil: 0.21,
            prev_reference: 0.2,
            calm_soil: 0.2,
            calm_reference: 0.19,
            ndvi_last: 0.12,
            bsi_last: f32::NAN,
            ndvi_calm: 0.6,
            bsi_calm: -0.1,
        };
        let back = TemporalState::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(back.pixels[4].disturb_last, 19830);
        assert!(back.pixels[4].bsi_last.is_nan());
        let bytes = s.to_bytes();
        assert!(TemporalState::from_bytes(&bytes[..bytes.len() - 3]).is_none());
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(from_day_number(day_number(d)), Some(d));
        assert_eq!(from_day_number(NONE_DAY), None);
    }
}
