//! Plots too large for their per-pixel state to be held at once (a 30 x 20 km bare-soil area is six
//! million pixels, several GiB of state): such a plot is scanned in bands of rows. Each band is read
//! with a halo of rows around it (so a cloud just beyond the band is buffered as it would be on the
//! whole plot), taken through every new acquisition with its own state, which is then stored by band;
//! what each acquisition did to the band's pixels is kept compact (a bit per pixel and the pixels with
//! an event), and once every band is through, the bands' outcomes are joined per acquisition and the
//! plot's flags follow them exactly as they would for a plot held whole.

use std::ops::Range;

use ndarray::{Array2, s};

use super::{PlotWindow, ReadVolume, ScanContext, SceneVerdict, read_windows, scene_footprint};
use crate::error::{Error, Result};
use crate::io::scenes::Scene;
use crate::raster::{Grid, Window};
use crate::scan::observe::{PlotObservation, SceneReader, set_aside_bare};
use crate::scan::tracker::{Acquisition, PixelBlock, PixelOutcome, PlotTracker, observe_pixels};
use crate::store::StoreWriter;
use crate::temporal::{DateContext, TemporalState, day_number};

/// The first bytes of the `plot_state` blob of a plot stored by bands of rows: the rows per band and
/// the grid's height follow; the bands themselves are rows of `plot_state_rows`.
pub const ROW_BANDS_MAGIC: &[u8; 4] = b"JTR1";

/// The bands of rows a plot is scanned in when its grid holds more than `budget_px` pixels (`None`:
/// it is held whole).
pub fn row_bands(grid: &Grid, budget_px: usize) -> Option<Vec<Range<usize>>> {
    if grid.len() <= budget_px.max(1) {
        return None;
    }
    let rows = (budget_px / grid.width.max(1)).max(1);
    Some((0..grid.height).step_by(rows).map(|r| r..(r + rows).min(grid.height)).collect())
}

/// The `plot_state` blob of a plot stored by bands of `rows` rows.
pub fn row_bands_marker(rows: usize, height: usize) -> Vec<u8> {
    let mut out = ROW_BANDS_MAGIC.to_vec();
    out.extend_from_slice(&(rows as u32).to_le_bytes());
    out.extend_from_slice(&(height as u32).to_le_bytes());
    out
}

/// Rows per band of a marker blob (`None` for any other blob).
fn marker_rows(blob: &[u8]) -> Option<usize> {
    let rest = blob.strip_prefix(ROW_BANDS_MAGIC.as_slice())?;
    Some(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize)
}

/// A plot's whole stored state, assembled from its row bands when it was stored by bands (for a plot
/// that is now held whole, or stored in other bands). `None` when a band is missing or unreadable.
pub fn assemble_rows(writer: &StoreWriter, plot_id: &str, blob: &[u8], grid: &Grid) -> Result<Option<TemporalState>> {
    if marker_rows(blob).is_none() {
        return Ok(TemporalState::from_bytes(blob));
    }
    let mut whole = TemporalState::new(grid.width, grid.height);
    let mut covered = 0usize;
    for (first, rows) in writer.plot_row_bands(plot_id)? {
        let Some(band) = writer.plot_rows(plot_id, first)?.and_then(|b| TemporalState::from_bytes(&b)) else {
            return Ok(None);
        };
        if band.width != grid.width || first + rows > grid.height || band.pixels.len() != rows * grid.width {
            return Ok(None);
        }
        whole.pixels[first * grid.width..(first + rows) * grid.width].copy_from_slice(&band.pixels);
        covered += rows;
    }
    Ok((covered == grid.height).then_some(whole))
}

/// Scans one plot band by band through `scenes` (in date order, with the verdict each was measured
/// to), then applies the joined outcomes to its flags. The tracker comes restored (flags and record;
/// the whole state only where it was stored whole) and goes back with its flags up to date; the
/// bands' states are written to the store as they finish.
#[allow(clippy::too_many_arguments)]
pub fn scan_by_rows(
    scan: &ScanContext,
    writer: &StoreWriter,
    tracker: &mut PlotTracker,
    window: &PlotWindow,
    bands: &[Range<usize>],
    stored: Option<&[u8]>,
    scenes: &[(&Scene, SceneVerdict)],
    reads: &mut ReadVolume,
) -> Result<()> {
    let plot_id = tracker.plot.plot_id.clone();
    let (grid, mask) = (&window.grid, &window.mask);
    let width = grid.width;
    let rows = bands[0].len();
    // A plot stored whole (restored into the tracker) or by bands of another height is taken apart
    // once here; one stored by these bands is read band by band.
    let mut earlier: Option<TemporalState> = if !tracker.state.pixels.is_empty() {
        Some(std::mem::replace(&mut tracker.state, TemporalState::new(0, 0)))
    } else {
        match stored {
            Some(blob) if marker_rows(blob).is_some_and(|r| r != rows) => assemble_rows(writer, &plot_id, blob, grid)?,
            _ => None,
        }
    };
    if stored.is_none_or(|b| marker_rows(b) != Some(rows)) {
        // A fresh start, or bands of another height taken apart above: no band of an earlier layout may
        // be left to be read with these.
        writer.clear_plot_rows(&plot_id)?;
    }
    let same_bands = stored.is_some_and(|b| marker_rows(b) == Some(rows));
    let interior = tracker.interior().clone();
    let mut outcomes: Vec<Option<PixelOutcome>> = (0..scenes.len()).map(|_| None).collect();
    for band in bands {
        let mut state = match (&mut earlier, same_bands) {
            (Some(whole), _) => TemporalState {
                width,
                height: band.len(),
                pixels: whole.pixels[band.start * width..band.end * width].to_vec(),
            },
            (None, true) => writer
                .plot_rows(&plot_id, band.start)?
                .and_then(|b| TemporalState::from_bytes(&b))
                .filter(|s| s.width == width && s.height == band.len())
                .ok_or_else(|| {
                    Error::store(
                        writer.path(),
                        format!(
                            "plot {plot_id}: the stored state of rows {}..{} is missing or unreadable",
                            band.start, band.end
                        ),
                    )
                })?,
            (None, false) => TemporalState::new(width, band.len()),
        };
        let read = ReadBand::new(grid, mask, band.clone(), scan.cloud_buffer_px);
        let band_mask = mask.slice(s![band.start..band.end, ..]).to_owned();
        let band_interior = interior.slice(s![band.start..band.end, ..]).to_owned();
        let block = PixelBlock {
            plot_id: &plot_id,
            mask: band_mask.as_slice().expect("standard layout"),
            interior: band_interior.as_slice().expect("standard layout"),
            first_pixel: (band.start * width) as u32,
        };
        for (k, (scene, verdict)) in scenes.iter().enumerate() {
            let bright: Vec<u8> = state.pixels.iter().map(|p| u8::from(p.bright_looks > 0)).collect();
            let mut obs = read.observe(scan, scene, &bright, None, reads)?;
            if !scene.has_swir() && verdict.dormant {
                set_aside_bare(&mut obs.planes);
            }
            let ctx = DateContext::on(day_number(scene.date), !verdict.dormant);
            let acq = Acquisition { day: ctx.day, scene_id: scene.id.clone() };
            let outcome = observe_pixels(scan.backend, &block, &mut state.pixels, &acq, &obs, &ctx, scan.settings)?;
            match &mut outcomes[k] {
                Some(o) => o.join(outcome),
                slot => *slot = Some(outcome),
            }
        }
        writer.save_plot_rows(&plot_id, band.start, band.len(), &state.to_bytes())?;
    }
    for ((scene, _), outcome) in scenes.iter().zip(outcomes) {
        let outcome = outcome.expect("every band saw every scene");
        let acq = Acquisition { day: day_number(scene.date), scene_id: scene.id.clone() };
        tracker.apply(scan.backend, &acq, &outcome, scan.settings)?;
    }
    Ok(())
}

/// How one band of a plot's rows is read: the band with up to a cloud buffer of rows above and below
/// it, the plot mask cleared on those halo rows (so they count nowhere), cropped to the band after
/// classification.
pub struct ReadBand {
    grid: Grid,
    mask: Array2<u8>,
    /// Halo rows above the band.
    above: usize,
    /// Rows of the band itself.
    rows: usize,
}

impl ReadBand {
    /// The reading of rows `band` of a plot grid with a halo of `halo` rows.
    pub fn new(grid: &Grid, mask: &Array2<u8>, band: Range<usize>, halo: usize) -> Self {
        let top = band.start.saturating_sub(halo);
        let bottom = (band.end + halo).min(grid.height);
        let mut read_mask = mask.slice(s![top..bottom, ..]).to_owned();
        let above = band.start - top;
        for r in (0..above).chain(above + band.len()..bottom - top) {
            read_mask.row_mut(r).fill(0);
        }
        let window = Window { col: 0, row: top, width: grid.width, height: bottom - top };
        ReadBand { grid: grid.window(window), mask: read_mask, above, rows: band.len() }
    }

    /// Reads and classifies the band in `scene` (`bright`: the band's pixels known as bright surfaces;
    /// empty for none known), adding its values to `sample` when given.
    pub fn observe(
        &self,
        scan: &ScanContext,
        scene: &Scene,
        bright: &[u8],
        sample: Option<&mut crate::scan::observe::ValueSample>,
        reads: &mut ReadVolume,
    ) -> Result<PlotObservation> {
        let reader = SceneReader::open(scene, scan.bands)?;
        let footprint = scene_footprint(&reader, Some(&self.grid))?;
        let width = self.grid.width;
        let mut halo_bright = vec![0u8; self.grid.len()];
        if !bright.is_empty() {
            halo_bright[self.above * width..(self.above + self.rows) * width].copy_from_slice(bright);
        }
        let windows = [(&self.grid, &self.mask, halo_bright)];
        let obs = read_windows(scan, &reader, footprint.as_ref(), &windows, &[0], sample, reads)?;
        let obs = obs.into_iter().next().expect("one window read");
        Ok(crop_rows(obs, self.above, self.rows, width))
    }
}

/// The rows `above..above + rows` of an observation of `width` columns.
fn crop_rows(obs: PlotObservation, above: usize, rows: usize, width: usize) -> PlotObservation {
    let n = obs.planes.class.len();
    let (from, to) = (above * width, (above + rows) * width);
    let keep = |v: &[f32]| v[from..to].to_vec();
    let bands =
        (0..crate::temporal::model::BANDS).flat_map(|b| obs.planes.bands[b * n + from..b * n + to].to_vec()).collect();
    PlotObservation {
        planes: crate::compute::ObservationPlanes {
            class: obs.planes.class[from..to].to_vec(),
            bands,
            ndvi: keep(&obs.planes.ndvi),
            bsi: keep(&obs.planes.bsi),
        },
        cloud_like: if obs.cloud_like.is_empty() { Vec::new() } else { obs.cloud_like[from..to].to_vec() },
        ..obs
    }
}
