//! A GPU that fails in the middle of a job. Each kernel is made to fail by an invalid dispatch (more
//! workgroups than the device allows: a real wgpu validation error, caught by the error scopes); the
//! kernel is redone on the CPU with the CPU's output, one warning is logged, and later kernels run on
//! the CPU without another warning. A temporal step that fails after some of its chunks came back
//! leaves the states it was given untouched, so the CPU applies the acquisition once.
//!
//! The logger is process-wide and other tests of the binary log too: it keeps the warnings of the
//! threads that asked for them (this test's), so the log it reads holds its own warnings only.

use crate::support;

use std::sync::Mutex;

use jingtu::compute::{Backend, CpuBackend, GpuWithFallback};
use jingtu::spectral::ClassRules;
use jingtu::temporal::{PixelState, TemporalParams};
use support::{Scene, scenes};

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    /// Set on the test's thread: the fallback warns on the thread that called the kernel.
    static CAPTURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if record.level() == log::Level::Warn && record.target().starts_with("jingtu") && CAPTURING.get() {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

const KERNELS: [&str; 13] = [
    "linear",
    "indices",
    "classify",
    "pair_moments",
    "change_magnitude",
    "box_mean",
    "histogram",
    "dilate",
    "cloud_test",
    "height_difference",
    "slope",
    "erode",
    "rgb_features",
];

/// Six acquisitions of the temporal step over one state per pixel of `scene`: the event bits of each,
/// then the final states' words.
fn temporal_run(backend: &dyn Backend, scene: &Scene) -> Vec<u64> {
    let case = support::temporal_case(scene.before.height() * scene.before.width(), 11);
    let mut states = case.states.clone();
    let mut out = Vec::new();
    for (ctx, obs) in case.acquisitions.iter().take(6) {
        let bits =
            backend.temporal_update(&mut states, obs, ctx, &TemporalParams::default(), &ClassRules::default()).unwrap();
        out.extend(bits.iter().map(|b| u64::from(*b)));
    }
    out.extend(bytemuck::cast_slice::<PixelState, u32>(&states).iter().map(|w| u64::from(*w)));
    out
}

/// Runs `kernel` on `backend` and returns its output as bits (NaNs and zeros made canonical), so that
/// outputs of every type compare alike.
fn run(kernel: &str, backend: &dyn Backend, scene: &Scene) -> Vec<u64> {
    let f32_bits = |v: &f32| {
        if v.is_nan() { u64::from(f32::NAN.to_bits()) } else { u64::from((v + 0.0).to_bits()) }
    };
    let (before, after) = (&scene.before, &scene.after);
    let magnitude = CpuBackend::new().change_magnitude(before, after).unwrap();
    match kernel {
        "linear" => {
            let mut stack = after.clone();
            backend.linear(&mut stack, &[1.5; 6], &[-0.01; 6]).unwrap();
            stack.data.iter().map(f32_bits).chain(stack.valid.iter().map(|v| u64::from(*v))).collect()
        }
        "indices" => backend.indices(after).unwrap().data.iter().map(f32_bits).collect(),
        "classify" => {
            let idx = CpuBackend::new().indices(after).unwrap();
            backend.classify(after, &idx, &ClassRules::default()).unwrap().iter().map(|c| u64::from(*c)).collect()
        }
        "pair_moments" => backend
            .pair_moments(before, after, scene.weights.view())
            .unwrap()
            .iter()
            .flat_map(|m| [m.n, m.sx, m.sy, m.sxx, m.syy, m.sxy].map(f64::to_bits))
            .collect(),
        "change_magnitude" => backend.change_magnitude(before, after).unwrap().iter().map(f32_bits).collect(),
        "box_mean" => backend.box_mean(magnitude.view(), 1).unwrap().iter().map(f32_bits).collect(),
        "histogram" => backend.histogram(magnitude.view(), 0.0, 0.3, 64).unwrap(),
        "dilate" => backend.dilate(scene.weights.view(), 2).unwrap().iter().map(|v| u64::from(*v)).collect(),
        "cloud_test" => backend.cloud_test(after).unwrap().iter().map(|v| u64::from(*v)).collect(),
        "temporal_update" => temporal_run(backend, scene),
        // The change magnitude stands in for a surface model: a plane with NaN holes.
        "height_difference" => {
            let before = CpuBackend::new().box_mean(magnitude.view(), 2).unwrap();
            backend.height_difference(before.view(), magnitude.view(), 0.35).unwrap().iter().map(f32_bits).collect()
        }
        "slope" => backend.slope(magnitude.view(), 2, 0.25, 0.3).unwrap().iter().map(f32_bits).collect(),
        "erode" => backend.erode(scene.weights.view(), 1).unwrap().iter().map(|v| u64::from(*v)).collect(),
        "rgb_features" => backend.rgb_features(after).unwrap().data.iter().map(f32_bits).collect(),
        other => panic!("no kernel {other}"),
    }
}

#[test]
fn a_failing_gpu_is_replaced_by_the_cpu_with_one_warning_and_the_same_output() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    CAPTURING.set(true);
    let Some(_) = support::gpu() else { return };
    let cpu = CpuBackend::new();
    let scene = scenes().into_iter().find(|s| s.name == "landsat 173x301").unwrap();
    for kernel in KERNELS {
        let gpu = support::gpu().unwrap().with_binding_limit(support::CHUNKED_BINDING);
        gpu.fail_next_dispatch();
        let backend = GpuWithFallback::new(gpu);
        let before = WARNINGS.lock().unwrap().len();
        assert_eq!(run(kernel, &backend, &scene), run(kernel, &cpu, &scene), "{kernel}: output after the fallback");
        let why = backend.failure().unwrap_or_else(|| panic!("{kernel}: the fault went unnoticed"));
        assert!(why.starts_with(kernel) && why.contains("Validation"), "{kernel}: {why}");
        assert!(backend.name().starts_with("cpu"), "{}", backend.name());
        // The next kernel goes straight to the CPU, without a second warning.
        let other = KERNELS.iter().find(|k| **k != kernel).unwrap();
        assert_eq!(run(other, &backend, &scene), run(other, &cpu, &scene));
        let warnings = WARNINGS.lock().unwrap()[before..].to_vec();
        assert_eq!(warnings.len(), 1, "{kernel}: {warnings:?}");
        assert!(warnings[0].contains(kernel) && warnings[0].contains("CPU"), "{}", warnings[0]);
    }
    // Without a fault the same backend type stays on the GPU.
    let backend = GpuWithFallback::new(support::gpu().unwrap());
    for kernel in KERNELS {
        assert_eq!(run(kernel, &backend, &scene), run(kernel, &cpu, &scene), "{kernel} on the GPU");
    }
    assert_eq!(backend.failure(), None);
    assert!(backend.name().starts_with("gpu"), "{}", backend.name());

    // The seasonal model's step runs the CPU reference on the GPU backend until its WGSL kernel is
    // back (compute/gpu/temporal.rs), so it has no GPU fault to fall back from; it must still agree.
    let backend = GpuWithFallback::new(support::gpu().unwrap());
    assert_eq!(temporal_run(&backend, &scene), temporal_run(&cpu, &scene), "temporal_update on the GPU backend");
}
