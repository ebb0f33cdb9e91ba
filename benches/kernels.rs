//! Every kernel on every backend: `cpu/<kernel>` and `gpu/<kernel>`, in pixels per second over one
//! synthetic Landsat-like scene (six bands, nodata and masked pixels). See benches/README.md.
//!
//! Each GPU iteration includes the upload, the dispatches, the read-back and a final wait for the
//! device to be idle, which is what a job pays.
//!
//! `JINGTU_BENCH_SIDE` sets the scene's side in pixels (default 1024). The GPU group runs on a real GPU,
//! or on a software adapter where `JINGTU_GPU_ALLOW_SOFTWARE=1`; without either it is left out, saying so.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jingtu::compute::{AdapterPolicy, Backend, CpuBackend, GpuBackend, ObservationPlanes};
use jingtu::raster::{BandRole, BandStack};
use jingtu::spectral::{ClassRules, IndexKind, IndexStack};
use jingtu::synth::rng::Rng;
use jingtu::temporal::{DateContext, PixelState, TemporalParams};
use ndarray::Array2;

struct Inputs {
    before: BandStack,
    after: BandStack,
    weights: Array2<u8>,
    indices: IndexStack,
    magnitude: Array2<f32>,
    mask: Array2<u8>,
    /// The temporal state of every pixel after the `before` acquisition.
    states: Vec<PixelState>,
    /// The `after` acquisition as the scan observes it, and its context.
    observations: ObservationPlanes,
    context: DateContext,
}

/// What the scan hands the temporal step for a classified acquisition.
fn observations(cpu: &CpuBackend, stack: &BandStack) -> ObservationPlanes {
    let indices = cpu.indices(stack).unwrap();
    let class = cpu.classify(stack, &indices, &ClassRules::default()).unwrap();
    let plane = |k| indices.get(k).iter().copied().collect();
    ObservationPlanes {
        class: class.iter().copied().collect(),
        brightness: plane(IndexKind::Brightness),
        ndvi: plane(IndexKind::Ndvi),
        bsi: plane(IndexKind::Bsi),
    }
}

impl Inputs {
    fn new(side: usize) -> Self {
        let roles = [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1, BandRole::Swir2];
        let mut rng = Rng::new(42);
        let before = support::stack(&mut rng, &roles, side, side);
        let after = support::stack(&mut rng, &roles, side, side);
        let weights = Array2::from_shape_fn((side, side), |_| u8::from(rng.int(0, 4) != 0));
        let cpu = CpuBackend::new();
        let indices = cpu.indices(&after).unwrap();
        let magnitude = cpu.change_magnitude(&before, &after).unwrap();
        // Sparse seeds, like cloud pixels before their mask is grown.
        let mask = Array2::from_shape_fn((side, side), |_| u8::from(rng.int(0, 50) == 0));
        // A month apart (2028-01-31 and 2028-02-29), under ordinary light.
        let first = DateContext { day: 21_214, reference_soil: 0.17 };
        let context = DateContext { day: 21_243, reference_soil: 0.17 };
        let mut states = vec![PixelState::default(); side * side];
        cpu.temporal_update(&mut states, &observations(&cpu, &before), &first, &TemporalParams::default()).unwrap();
        let observations = observations(&cpu, &after);
        Inputs { before, after, weights, indices, magnitude, mask, states, observations, context }
    }
}

/// Runs `work` and, on the GPU, waits for the device before the clock stops.
fn bench_backend(c: &mut Criterion, group_name: &str, backend: &dyn Backend, gpu: Option<&GpuBackend>, x: &Inputs) {
    let pixels = (x.after.height() * x.after.width()) as u64;
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(pixels));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    let settle = || {
        if let Some(g) = gpu {
            g.wait_idle().unwrap();
        }
    };
    let rules = ClassRules::default();
    group.bench_function("linear", |b| {
        b.iter_batched(
            || x.after.clone(),
            |mut stack| {
                backend.linear(&mut stack, &[1.02; 6], &[-0.003; 6]).unwrap();
                settle();
                stack
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("indices", |b| {
        b.iter(|| {
            let out = backend.indices(&x.after).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("classify", |b| {
        b.iter(|| {
            let out = backend.classify(&x.after, &x.indices, &rules).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("pair_moments", |b| {
        b.iter(|| {
            let out = backend.pair_moments(&x.before, &x.after, x.weights.view()).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("change_magnitude", |b| {
        b.iter(|| {
            let out = backend.change_magnitude(&x.before, &x.after).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("box_mean", |b| {
        b.iter(|| {
            let out = backend.box_mean(x.magnitude.view(), 1).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("histogram", |b| {
        b.iter(|| {
            let out = backend.histogram(x.magnitude.view(), 0.0, 0.3, 512).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("dilate", |b| {
        b.iter(|| {
            let out = backend.dilate(x.mask.view(), 2).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("cloud_test", |b| {
        b.iter(|| {
            let out = backend.cloud_test(&x.after).unwrap();
            settle();
            black_box(out)
        })
    });
    let params = TemporalParams::default();
    group.bench_function("temporal_update", |b| {
        b.iter_batched(
            || x.states.clone(),
            |mut states| {
                let bits = backend.temporal_update(&mut states, &x.observations, &x.context, &params).unwrap();
                settle();
                (states, bits)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let side = std::env::var("JINGTU_BENCH_SIDE").ok().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let inputs = Inputs::new(side);
    bench_backend(c, "cpu", &CpuBackend::new(), None, &inputs);
    match GpuBackend::new(AdapterPolicy::from_env()) {
        Ok(gpu) => {
            eprintln!("gpu: {}", gpu.name());
            bench_backend(c, "gpu", &gpu, Some(&gpu), &inputs);
            eprintln!("gpu: {:?}", gpu.stats());
        }
        Err(e) => eprintln!("gpu benches left out: {e}"),
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
