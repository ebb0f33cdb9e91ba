//! Every kernel on every backend: `cpu/<kernel>` and `gpu/<kernel>`, in pixels per second over one
//! synthetic Landsat-like scene (six bands, nodata and masked pixels), and for the drone kernels a
//! surface model, a mask of high parts and an RGB stack made from it. See benches/README.md.
//!
//! Each GPU iteration includes the upload, the dispatches, the read-back and a final wait for the
//! device to be idle, which is what a job pays.
//!
//! `JINGTU_BENCH_SIDE` sets the scene's side in pixels (default 1024). The GPU group runs on a real GPU,
//! or on a software adapter where `JINGTU_GPU_ALLOW_SOFTWARE=1`; without either it is left out, saying so.

#[path = "../tests/it/support/backend.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jingtu::compute::{AdapterPolicy, Backend, CpuBackend, GpuBackend, ObservationPlanes};
use jingtu::raster::{BandRole, BandStack};
use jingtu::spectral::{ClassRules, IndexKind, IndexStack};
use jingtu::synth::rng::Rng;
use jingtu::temporal::{DateContext, PixelState, TemporalParams};
use ndarray::{Array2, s};

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
    /// Surface models of two flights (metres): heights with walls, NaN where the scene has nodata.
    surface_before: Array2<f32>,
    surface_after: Array2<f32>,
    /// Rectangles of 8 to 80 pixels, as the high parts of a drone tile.
    high: Array2<u8>,
    /// The scene's blue, green and red bands, as an orthomosaic gives them.
    rgb: BandStack,
}

/// A surface model from a scene's first band: 12 to 52 m with a 6 m wall every 23 columns.
fn surface(stack: &BandStack) -> Array2<f32> {
    Array2::from_shape_fn((stack.height(), stack.width()), |(r, c)| {
        let v = stack.data[[0, r, c]];
        let wall = if (c / 23) % 2 == 1 { 6.0 } else { 0.0 };
        12.5 + 40.0 * v + wall + 0.01 * r as f32
    })
}

/// Rectangles in about a third of the 96-pixel cells of a `side` x `side` grid.
fn high_parts(rng: &mut Rng, side: usize) -> Array2<u8> {
    let mut mask = Array2::<u8>::zeros((side, side));
    for top in (0..side).step_by(96) {
        for left in (0..side).step_by(96) {
            if rng.int(0, 3) == 0 {
                let (h, w) = (rng.int(8, 80) as usize, rng.int(8, 80) as usize);
                mask.slice_mut(s![top..(top + h).min(side), left..(left + w).min(side)]).fill(1);
            }
        }
    }
    mask
}

/// What the scan hands the temporal step for a classified acquisition.
fn observations(cpu: &CpuBackend, stack: &BandStack) -> ObservationPlanes {
    let indices = cpu.indices(stack).unwrap();
    let class = cpu.classify(stack, &indices, &ClassRules::default()).unwrap();
    let plane = |k| indices.get(k).iter().copied().collect();
    let n = stack.height() * stack.width();
    let mut bands = vec![f32::NAN; 6 * n];
    for (b, role) in [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1, BandRole::Swir2]
        .iter()
        .enumerate()
    {
        if let Some(k) = stack.index_of(*role) {
            bands[b * n..(b + 1) * n].copy_from_slice(&stack.data.as_slice().unwrap()[k * n..(k + 1) * n]);
        }
    }
    ObservationPlanes {
        class: class.iter().copied().collect(),
        bands,
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
        let first = DateContext::on(21_214, true);
        let context = DateContext::on(21_243, true);
        let mut states = vec![PixelState::default(); side * side];
        cpu.temporal_update(
            &mut states,
            &observations(&cpu, &before),
            &first,
            &TemporalParams::default(),
            &ClassRules::default(),
        )
        .unwrap();
        let observations = observations(&cpu, &after);
        let (surface_before, surface_after) = (surface(&before), surface(&after));
        let high = high_parts(&mut rng, side);
        let rgb = BandStack::new(
            vec![BandRole::Blue, BandRole::Green, BandRole::Red],
            after.data.slice(s![0..3, .., ..]).to_owned(),
            after.valid.clone(),
        );
        Inputs {
            before,
            after,
            weights,
            indices,
            magnitude,
            mask,
            states,
            observations,
            context,
            surface_before,
            surface_after,
            high,
            rgb,
        }
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
                let bits = backend
                    .temporal_update(&mut states, &x.observations, &x.context, &params, &ClassRules::default())
                    .unwrap();
                settle();
                (states, bits)
            },
            BatchSize::LargeInput,
        )
    });
    // The drone kernels as a job at its default 10 cm calls them: walls over a 1 m run (5 pixels
    // either side) and erosion to the 3 m minimum structure width (radius 15).
    group.bench_function("height_difference", |b| {
        b.iter(|| {
            let out = backend.height_difference(x.surface_before.view(), x.surface_after.view(), 0.35).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("slope", |b| {
        b.iter(|| {
            let out = backend.slope(x.surface_after.view(), 5, 0.1, 0.1).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("erode", |b| {
        b.iter(|| {
            let out = backend.erode(x.high.view(), 15).unwrap();
            settle();
            black_box(out)
        })
    });
    group.bench_function("rgb_features", |b| {
        b.iter(|| {
            let out = backend.rgb_features(&x.rgb).unwrap();
            settle();
            black_box(out)
        })
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
