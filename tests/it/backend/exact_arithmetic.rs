//! The prelude's division and square root, run on the GPU over the whole f32 range (normal, subnormal,
//! zero, infinite and NaN operands; results that overflow or fall to subnormal) and compared with the
//! CPU's IEEE 754 arithmetic to the bit. The kernel tests only meet reflectance-sized values; this meets
//! everything, so the kernels' exactness does not rest on the values those tests happen to draw.
//!
//! Like every GPU test it runs on Mesa's lavapipe where there is no GPU, and fails where there is no
//! Vulkan driver at all unless JINGTU_SKIP_GPU_TESTS=1.

use crate::support;

use jingtu::synth::rng::Rng;
use wgpu::util::DeviceExt;

const SHADER: &str = r#"
@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= arrayLength(&a) {
        return;
    }
    out[2u * i] = bitcast<u32>(div_rn(bitcast<f32>(a[i]), bitcast<f32>(b[i])));
    out[2u * i + 1u] = bitcast<u32>(sqrt_rn(bitcast<f32>(a[i])));
}
"#;

/// Operand pairs: random bit patterns (every exponent), values near one another, tiny over huge
/// (subnormal and zero results), huge over tiny (overflow), subnormal operands, small values over powers
/// of two (subnormal results exactly half-way between two floats, where ties go to even), and the
/// special values.
fn operands() -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng::new(20240611);
    let specials = [0.0f32, -0.0, 1.0, -1.0, 3.0, f32::MIN_POSITIVE, 1e-45, f32::MAX, f32::INFINITY, f32::NAN];
    let mut a = Vec::new();
    let mut b = Vec::new();
    for x in specials {
        for y in specials {
            a.push(x.to_bits());
            b.push(y.to_bits());
        }
    }
    let log_uniform =
        |rng: &mut Rng, lo: f64, hi: f64| (rng.range(lo, hi).exp2() as f32).copysign(rng.range(-1.0, 1.0) as f32);
    for _ in 0..40_000 {
        a.push(rng.next_u64() as u32);
        b.push(rng.next_u64() as u32);
        let x = log_uniform(&mut rng, -20.0, 20.0);
        a.push(x.to_bits());
        b.push((x * rng.range(0.5, 2.0) as f32).to_bits());
        a.push(log_uniform(&mut rng, -149.0, -100.0).to_bits());
        b.push(log_uniform(&mut rng, 0.0, 40.0).to_bits());
        a.push(log_uniform(&mut rng, 100.0, 127.9).to_bits());
        b.push(log_uniform(&mut rng, -60.0, 0.0).to_bits());
        a.push(log_uniform(&mut rng, -149.0, -126.0).to_bits());
        b.push(log_uniform(&mut rng, -149.0, -120.0).to_bits());
        let sign = (rng.next_u64() as u32) & 0x8000_0000;
        a.push(sign | (rng.next_u64() as u32 % 0x0100_0000));
        b.push((2f32).powi(rng.int(1, 26) as i32).to_bits());
    }
    (a, b)
}

#[test]
fn division_and_square_root_are_correctly_rounded_on_the_gpu() {
    if support::gpu().is_none() {
        return;
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("an adapter, as the GPU backend found one");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let source = format!("{}{SHADER}", include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/prelude.wgsl")));
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let (a, b) = operands();
    let storage = |data: &[u32]| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE,
        })
    };
    let size = (a.len() * 8) as u64;
    let out = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let (ba, bb) = (storage(&a), storage(&b));
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: ba.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: bb.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: out.as_entire_binding() },
        ],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(a.len().div_ceil(64) as u32, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&out, 0, &readback, 0, size);
    queue.submit([encoder.finish()]);
    readback.map_async(wgpu::MapMode::Read, .., |r| r.expect("mapped"));
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let got: Vec<u32> = bytemuck::cast_slice(&readback.get_mapped_range(..).unwrap()).to_vec();

    let same = |g: u32, w: f32| g == w.to_bits() || (f32::from_bits(g).is_nan() && w.is_nan());
    let mut wrong = Vec::new();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let (x, y) = (f32::from_bits(*x), f32::from_bits(*y));
        if !same(got[2 * i], x / y) {
            wrong.push(format!("{x:e} / {y:e} = {:e}, not {:e}", f32::from_bits(got[2 * i]), x / y));
        }
        if !same(got[2 * i + 1], x.sqrt()) {
            wrong.push(format!("sqrt({x:e}) = {:e}, not {:e}", f32::from_bits(got[2 * i + 1]), x.sqrt()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} results differ, e.g. {:?}",
        wrong.len(),
        2 * a.len(),
        &wrong[..wrong.len().min(8)]
    );
}
