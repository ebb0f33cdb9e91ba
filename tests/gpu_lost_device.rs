//! A GPU lost in the middle of a job (a driver reset, a GPU fallen off the bus): the kernels after the
//! loss are redone on the CPU with the CPU's output. A binary of its own, because a lost device stays
//! lost for the whole process.

#[path = "it/support/backend.rs"]
mod support;

use jingtu::compute::{Backend, CpuBackend, GpuWithFallback};
use support::{assert_same_f32, scenes};

#[test]
fn kernels_after_a_lost_device_run_on_the_cpu() {
    let Some(gpu) = support::gpu() else { return };
    let cpu = CpuBackend::new();
    let scene = scenes().into_iter().find(|s| s.name == "landsat 37x53").unwrap();
    let backend = GpuWithFallback::new(gpu);
    let on_gpu = backend.change_magnitude(&scene.before, &scene.after).unwrap();
    assert_eq!(backend.failure(), None);
    assert!(backend.gpu().stats().dispatches > 0);

    backend.gpu().lose_device();
    let after_loss = backend.change_magnitude(&scene.before, &scene.after).unwrap();
    let want = cpu.change_magnitude(&scene.before, &scene.after).unwrap();
    assert_same_f32("after the loss", after_loss.as_slice().unwrap(), want.as_slice().unwrap());
    assert_same_f32("before the loss", on_gpu.as_slice().unwrap(), want.as_slice().unwrap());
    let why = backend.failure().expect("the loss went unnoticed");
    assert!(why.contains("lost") || why.contains("Lost"), "{why}");

    // A backend made after the loss fails too, and falls back as well.
    let late = GpuWithFallback::new(support::gpu().unwrap());
    assert_eq!(late.dilate(scene.weights.view(), 1).unwrap(), cpu.dilate(scene.weights.view(), 1).unwrap());
    assert!(late.failure().is_some());
}
