//! The compute backends: every kernel on the CPU and the GPU (lavapipe where no GPU), to the bit. The lost
//! device is a binary of its own (tests/gpu_lost_device.rs, Cargo.toml says why).

mod drone_kernels;
mod exact_arithmetic;
mod gpu_fallback;
mod parity;
