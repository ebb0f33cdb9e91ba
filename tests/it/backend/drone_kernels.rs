//! The kernels the drone and RGB change jobs added to the backend interface, checked against values
//! worked out by hand. Each check takes any backend, and runs on the CPU and on the GPU (a software
//! adapter where there is no GPU; see tests/it/support/backend.rs). tests/it/backend/parity.rs holds them to the CPU
//! bit for bit over larger, chunked inputs.

use crate::support;

use jingtu::compute::{Backend, CpuBackend, RgbFeature};
use jingtu::raster::{BandRole, BandStack};
use ndarray::{Array2, Array3, array};

fn height_difference(b: &dyn Backend) {
    let before = array![[10.0f32, 10.0], [f32::NAN, 12.0]];
    let after = array![[10.5f32, 16.4], [11.0, f32::NAN]];
    let d = b.height_difference(before.view(), after.view(), 0.4).unwrap();
    assert!((d[[0, 0]] - 0.1).abs() < 1e-6 && (d[[0, 1]] - 6.0).abs() < 1e-5);
    assert!(d[[1, 0]].is_nan() && d[[1, 1]].is_nan(), "no data on either date stays no data");
}

fn slope(b: &dyn Backend) {
    // A plane rising 0.5 m per 0.25 m pixel eastwards (slope 2) and 0.25 m per pixel southwards (slope 1).
    let plane = Array2::from_shape_fn((5, 6), |(r, c)| 0.5 * c as f32 + 0.25 * r as f32);
    let expect = (2.0f32 * 2.0 + 1.0).sqrt();
    for step in [1, 2] {
        let s = b.slope(plane.view(), step, 0.25, 0.25).unwrap();
        for v in s.iter() {
            assert!((v - expect).abs() < 1e-5, "{v} vs {expect} (edges use one-sided differences)");
        }
    }
    let mut holed = plane.clone();
    holed[[2, 2]] = f32::NAN;
    let s = b.slope(holed.view(), 1, 0.25, 0.25).unwrap();
    assert!(s[[2, 2]].is_nan());
    assert!((s[[2, 3]] - expect).abs() < 1e-5, "a gap beside a pixel falls back to the other side");
    // A 6 m wall between two pixels: over a 1 m run (step 2 at 0.25 m) it rises 6 m.
    let wall = Array2::from_shape_fn((3, 8), |(_, c)| if c >= 4 { 6.0f32 } else { 0.0 });
    let s = b.slope(wall.view(), 2, 0.25, 0.25).unwrap();
    assert!((s[[1, 4]] - 6.0).abs() < 1e-5 && s[[1, 0]] == 0.0, "{s:?}");
}

fn erode(b: &dyn Backend) {
    let mut mask = Array2::<u8>::zeros((9, 12));
    mask.slice_mut(ndarray::s![1..8, 1..6]).fill(1); // 7 x 5 block
    mask.slice_mut(ndarray::s![2..5, 8..12]).fill(1); // 3 x 4 block at the east edge
    let e = b.erode(mask.view(), 1).unwrap();
    let expect_block = |r: usize, c: usize| (2..7).contains(&r) && (2..5).contains(&c);
    // Beyond the array edge counts as set, so the east block keeps its edge column.
    let expect_east = |r: usize, c: usize| r == 3 && (9..12).contains(&c);
    for ((r, c), v) in e.indexed_iter() {
        assert_eq!(*v == 1, expect_block(r, c) || expect_east(r, c), "pixel {r},{c}");
    }
    let wide = b.erode(mask.view(), 2).unwrap();
    assert_eq!(
        wide.iter().filter(|v| **v == 1).count(),
        3,
        "only three pixels of the 7 x 5 block's centre column survive"
    );
    assert_eq!(b.erode(mask.view(), 0).unwrap(), mask);
}

fn rgb_features(b: &dyn Backend) {
    let mut data = Array3::<f32>::zeros((3, 1, 3));
    // Stack in spectral order: blue, green, red. Pixels: grass, blue steel roof, invalid.
    for (k, v) in [[62.0, 170.0, 1.0], [128.0, 110.0, 1.0], [88.0, 70.0, 1.0]].iter().enumerate() {
        for (c, x) in v.iter().enumerate() {
            data[[k, 0, c]] = x / 255.0;
        }
    }
    let valid = array![[1u8, 1, 0]];
    let stack = BandStack::new(vec![BandRole::Blue, BandRole::Green, BandRole::Red], data, valid);
    let f = b.rgb_features(&stack).unwrap();
    let exg = f.get(RgbFeature::ExcessGreen);
    assert!(exg[[0, 0]] > 0.3 && exg[[0, 1]] < 0.0, "{exg:?}");
    assert!((f.get(RgbFeature::Brightness)[[0, 0]] - (88.0 + 128.0 + 62.0) / 3.0 / 255.0).abs() < 1e-6);
    assert!(f.get(RgbFeature::Chroma)[[0, 2]].is_nan());
}

#[test]
fn cpu_backend_drone_kernels() {
    let cpu = CpuBackend::new();
    height_difference(&cpu);
    slope(&cpu);
    erode(&cpu);
    rgb_features(&cpu);
}

#[test]
fn gpu_backend_drone_kernels() {
    let Some(gpu) = support::gpu() else { return };
    height_difference(&gpu);
    slope(&gpu);
    erode(&gpu);
    rgb_features(&gpu);
    assert!(gpu.stats().dispatches >= 4, "the kernels ran on the GPU: {:?}", gpu.stats());
}
