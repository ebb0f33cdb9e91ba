//! The process's GPU: which adapters exist, which one jingtu uses, and the one device, queue and set of
//! pipelines built on it. Everything here happens once per process.

use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use super::kernels::Kernel;
use crate::error::{Error, Result};

/// The environment variable that lets `--backend gpu` use a software adapter (Mesa's llvmpipe/lavapipe,
/// SwiftShader, WARP): `JINGTU_GPU_ALLOW_SOFTWARE=1`. Tests set it to run the GPU path on machines
/// without a GPU; `auto` ignores it and never picks a software adapter.
pub const ALLOW_SOFTWARE_ENV: &str = "JINGTU_GPU_ALLOW_SOFTWARE";

/// Whether a software adapter (one that renders on the CPU) may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterPolicy {
    /// Only a real GPU: a software adapter is slower than the CPU backend it would replace.
    HardwareOnly,
    /// A software adapter too, when no real GPU exists (tests and CI).
    AllowSoftware,
}

impl AdapterPolicy {
    /// `AllowSoftware` when `JINGTU_GPU_ALLOW_SOFTWARE=1`, else `HardwareOnly`.
    pub fn from_env() -> Self {
        match std::env::var(ALLOW_SOFTWARE_ENV) {
            Ok(v) if v.trim() == "1" => AdapterPolicy::AllowSoftware,
            _ => AdapterPolicy::HardwareOnly,
        }
    }
}

/// What `jingtu inspect --backends` shows of one adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdapterSummary {
    /// The driver's name for the device.
    pub name: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub device_type: String,
    /// The graphics API wgpu reaches it through (`vulkan`, `metal`, `dx12`).
    pub api: String,
    /// Driver name and version.
    pub driver: String,
    /// True for adapters that render on the CPU (llvmpipe/lavapipe, SwiftShader, WARP).
    pub software: bool,
    /// True when it has 64-bit floats in shaders, which `pair_moments` needs to match the CPU.
    pub f64: bool,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let device_type = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete",
            wgpu::DeviceType::IntegratedGpu => "integrated",
            wgpu::DeviceType::VirtualGpu => "virtual",
            wgpu::DeviceType::Cpu => "cpu",
            wgpu::DeviceType::Other => "other",
        };
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        AdapterSummary {
            name: info.name.clone(),
            device_type: device_type.to_string(),
            api: info.backend.to_str().to_string(),
            driver,
            software: info.device_type == wgpu::DeviceType::Cpu,
            f64: adapter.features().contains(wgpu::Features::SHADER_F64),
        }
    }

    /// Preference among adapters, lower first: discrete before integrated before virtual, and software
    /// renderers last.
    fn rank(&self) -> u8 {
        match self.device_type.as_str() {
            "discrete" => 0,
            "integrated" => 1,
            "virtual" => 2,
            "other" => 3,
            _ => 4,
        }
    }
}

/// The adapter jingtu uses among `adapters` under `policy`, or why none is usable.
pub fn choose_adapter(adapters: &[AdapterSummary], policy: AdapterPolicy) -> std::result::Result<usize, String> {
    let best = (0..adapters.len()).min_by_key(|i| adapters[*i].rank());
    match best {
        None => Err("no GPU adapter found (no Vulkan, Metal or D3D12 driver answered)".to_string()),
        Some(i) if adapters[i].software && policy == AdapterPolicy::HardwareOnly => Err(format!(
            "no real GPU: the only adapters are software renderers on the CPU ({}), slower than the CPU \
             backend, so auto never uses them and gpu only where {ALLOW_SOFTWARE_ENV}=1",
            adapters.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
        Some(i) => Ok(i),
    }
}

struct Discovery {
    // Adapters keep what they need of the instance alive; it is kept for clarity of ownership.
    _instance: wgpu::Instance,
    adapters: Vec<wgpu::Adapter>,
    summaries: Vec<AdapterSummary>,
}

fn discovery() -> &'static Discovery {
    static DISCOVERY: OnceLock<Discovery> = OnceLock::new();
    DISCOVERY.get_or_init(|| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        // Vulkan validation layers are for developing wgpu, not for running jingtu; WGPU_* variables
        // still override.
        desc.flags = wgpu::InstanceFlags::empty();
        let instance = wgpu::Instance::new(desc.with_env());
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let summaries = adapters.iter().map(AdapterSummary::of).collect();
        Discovery { _instance: instance, adapters, summaries }
    })
}

/// Every adapter wgpu finds on this machine.
pub fn adapters() -> Vec<AdapterSummary> {
    discovery().summaries.clone()
}

/// The device jingtu computes on, with its queue and pipelines.
pub(crate) struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) adapter: AdapterSummary,
    pipelines: Vec<Option<wgpu::ComputePipeline>>,
    lost: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// The process's context on the adapter `policy` allows, built on first use.
    pub(crate) fn get(policy: AdapterPolicy) -> Result<Arc<GpuContext>> {
        let found = discovery();
        let index = choose_adapter(&found.summaries, policy).map_err(Error::Gpu)?;
        // The choice does not depend on the policy, only whether it is allowed, so one context serves all.
        static CONTEXT: OnceLock<std::result::Result<Arc<GpuContext>, String>> = OnceLock::new();
        CONTEXT
            .get_or_init(|| GpuContext::create(&found.adapters[index], found.summaries[index].clone()).map(Arc::new))
            .clone()
            .map_err(Error::Gpu)
    }

    fn create(adapter: &wgpu::Adapter, summary: AdapterSummary) -> std::result::Result<GpuContext, String> {
        let required_features = if summary.f64 { wgpu::Features::SHADER_F64 } else { wgpu::Features::empty() };
        let desc = wgpu::DeviceDescriptor {
            label: Some("jingtu"),
            required_features,
            // Whatever the adapter offers: larger bindings mean fewer chunks.
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| format!("{}: cannot open the device: {e}", summary.name))?;
        let lost = Arc::new(Mutex::new(None));
        let on_lost = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = on_lost.lock() {
                slot.get_or_insert(format!("device lost ({reason:?}): {message}"));
            }
        });
        // Errors are caught by error scopes around every use; one that escapes them must not panic
        // the process, which is wgpu's default.
        device.on_uncaptured_error(Arc::new(|e| log::error!("GPU error outside any kernel: {e}")));
        let pipelines = scoped(&device, "building the pipelines", || {
            Kernel::ALL
                .iter()
                .map(|k| (!k.needs_f64() || summary.f64).then(|| build_pipeline(&device, *k)))
                .collect::<Vec<_>>()
        })
        .map_err(|e| e.to_string())?;
        if !summary.f64 {
            log::info!("{} has no 64-bit floats in shaders: pair_moments runs on the CPU", summary.name);
        }
        Ok(GpuContext { device, queue, adapter: summary, pipelines, lost })
    }

    /// The pipeline of `kernel`, or `None` where the adapter cannot run it exactly.
    pub(crate) fn pipeline(&self, kernel: Kernel) -> Option<&wgpu::ComputePipeline> {
        let i = Kernel::ALL.iter().position(|k| *k == kernel).expect("every kernel is in Kernel::ALL");
        self.pipelines[i].as_ref()
    }

    /// An error once the device has been lost: nothing it returns afterwards can be trusted.
    pub(crate) fn check_alive(&self) -> Result<()> {
        match self.lost.lock().map(|l| l.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(Error::Gpu(why)),
            Err(_) => Err(Error::Gpu("device state unknown after a panic".into())),
        }
    }

    /// Destroys the device, as a driver reset or an unplugged GPU would. Test support.
    pub(crate) fn destroy_device(&self) {
        self.device.destroy();
    }
}

fn build_pipeline(device: &wgpu::Device, kernel: Kernel) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(kernel.name()),
        source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.name()),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// Runs `work` inside error scopes for every error filter and turns whatever they caught into an error
/// (the first by severity: out of memory, then validation, then internal).
pub(crate) fn scoped<T>(device: &wgpu::Device, what: &str, work: impl FnOnce() -> T) -> Result<T> {
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let value = work();
    // Scopes pop in the reverse order of their pushing.
    let internal = pollster::block_on(internal.pop());
    let validation = pollster::block_on(validation.pop());
    let oom = pollster::block_on(oom.pop());
    match oom.or(validation).or(internal) {
        None => Ok(value),
        Some(e) => Err(Error::Gpu(format!("{what}: {}", one_line(&e.to_string())))),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            device_type: device_type.into(),
            api: "vulkan".into(),
            driver: String::new(),
            software: device_type == "cpu",
            f64: true,
        }
    }

    #[test]
    fn a_real_gpu_is_preferred_and_software_needs_consent() {
        let lavapipe = adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "cpu");
        let igpu = adapter("Intel(R) UHD Graphics 630", "integrated");
        let dgpu = adapter("NVIDIA H200", "discrete");
        let all = [lavapipe.clone(), igpu.clone(), dgpu];
        assert_eq!(choose_adapter(&all, AdapterPolicy::HardwareOnly), Ok(2));
        assert_eq!(choose_adapter(&all[..2], AdapterPolicy::HardwareOnly), Ok(1));
        let only_software = [lavapipe];
        let refused = choose_adapter(&only_software, AdapterPolicy::HardwareOnly).unwrap_err();
        assert!(refused.contains("llvmpipe") && refused.contains(ALLOW_SOFTWARE_ENV), "{refused}");
        assert_eq!(choose_adapter(&only_software, AdapterPolicy::AllowSoftware), Ok(0));
        assert!(choose_adapter(&[], AdapterPolicy::AllowSoftware).unwrap_err().contains("no GPU adapter"));
    }
}
