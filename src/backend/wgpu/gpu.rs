//! One wgpu device and queue, its compute pipelines (built once, cached
//! with their bind-group layouts), and the errors wgpu reports out of band.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use super::shaders::{self, Entry};

/// Which adapter to open.
#[derive(Clone, Debug)]
pub struct WgpuOptions {
    /// Backends to try; default from `WGPU_BACKEND` (vulkan, metal, dx12,
    /// gl), else all.
    pub backends: wgpu::Backends,
    /// Default from `WGPU_POWER_PREF` (low, high, none).
    pub power: wgpu::PowerPreference,
    /// Accept only a software adapter (lavapipe, WARP).
    pub force_fallback: bool,
}

impl WgpuOptions {
    pub fn from_env() -> Self {
        Self {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
            power: wgpu::PowerPreference::from_env()
                .unwrap_or(wgpu::PowerPreference::HighPerformance),
            force_fallback: false,
        }
    }
}

pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// The adapter has `SHADER_F16`, and the device was opened with it.
    pub f16: bool,
    pub max_workgroups: u32,
    pipelines: Mutex<HashMap<(Entry, bool), Arc<Pipeline>>>,
    /// The first validation or out-of-memory error wgpu raised since the
    /// last check (wgpu reports these through a callback, not a result).
    errors: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Opens the adapter `options` select. Every failure is a message, so
    /// that a machine without a GPU or driver gets "unavailable".
    pub async fn open(options: &WgpuOptions) -> Result<Self, String> {
        if wgpu::Instance::enabled_backend_features().is_empty() {
            return Err("wgpu was built without any backend for this platform".into());
        }
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = options.backends;
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: options.power,
                force_fallback_adapter: options.force_fallback,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("no GPU adapter: {e}"))?;
        let info = adapter.get_info();
        let f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("groupscale"),
                required_features: if f16 {
                    wgpu::Features::SHADER_F16
                } else {
                    wgpu::Features::empty()
                },
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                format!(
                    "{} ({:?}): cannot open a device: {e}",
                    info.name, info.backend
                )
            })?;
        let errors: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        Ok(Self {
            device,
            queue,
            info,
            f16,
            max_workgroups: limits.max_compute_workgroups_per_dimension,
            pipelines: Mutex::default(),
            errors,
        })
    }

    /// The error wgpu raised since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// A buffer of `bytes` (at least 4: wgpu refuses empty bindings).
    pub fn buffer(&self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage,
            mapped_at_creation: false,
        })
    }

    /// Submits `encoder` and waits for the device.
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) -> Result<(), String> {
        self.queue.submit([encoder.finish()]);
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| format!("waiting for the GPU: {e}"))
    }

    /// Copies the start of `source` into `output` through `readback` (a
    /// MAP_READ buffer at least as large), after the work in `encoder`.
    pub fn submit_and_read(
        &self,
        mut encoder: wgpu::CommandEncoder,
        source: &wgpu::Buffer,
        readback: &wgpu::Buffer,
        output: &mut [f32],
    ) -> Result<(), String> {
        let bytes = 4 * output.len() as u64;
        encoder.copy_buffer_to_buffer(source, 0, readback, 0, bytes);
        let slice = readback.slice(..bytes);
        let mapped = Arc::new(MapStatus::default());
        let done = mapped.clone();
        self.queue.submit([encoder.finish()]);
        slice.map_async(wgpu::MapMode::Read, move |r| done.set(r));
        match self.wait_for_map(&mapped)? {
            Ok(()) => {}
            Err(e) => return Err(format!("reading results back: {e}")),
        }
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| format!("reading results back: {e}"))?;
            output.copy_from_slice(bytemuck::cast_slice(&view));
        }
        readback.unmap();
        Ok(())
    }

    /// Drives the device until `status` has its answer. One `poll` is not
    /// always enough: when several threads share the device, another
    /// thread's poll may have claimed this map callback and not yet run it
    /// when ours returns (CI saw that as a spurious failure), so wait for
    /// the callback itself, polling again between short waits.
    fn wait_for_map(
        &self,
        status: &MapStatus,
    ) -> Result<Result<(), wgpu::BufferAsyncError>, String> {
        let deadline = std::time::Instant::now() + MAP_DEADLINE;
        loop {
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| format!("waiting for the GPU: {e}"))?;
            if let Some(result) = status.wait(std::time::Duration::from_millis(10)) {
                return Ok(result);
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "the GPU did not finish within {} s",
                    MAP_DEADLINE.as_secs()
                ));
            }
        }
    }

    /// The pipeline for `entry`, built on first use.
    pub fn pipeline(&self, entry: Entry, f16_weights: bool) -> Arc<Pipeline> {
        let f16_weights = f16_weights && entry.has_weights();
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((entry, f16_weights))
            .or_insert_with(|| Arc::new(self.build(entry, f16_weights)))
            .clone()
    }

    fn build(&self, entry: Entry, f16_weights: bool) -> Pipeline {
        let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        let storage_count = entry.storage_bindings();
        for binding in 1..=storage_count {
            entries.push(storage(binding, binding < storage_count));
        }
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(entry.name()),
                entries: &entries,
            });
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry.name()),
                source: wgpu::ShaderSource::Wgsl(shaders::source(entry, f16_weights).into()),
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry.name()),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry.name()),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry.name()),
                compilation_options: Default::default(),
                cache: None,
            });
        Pipeline { pipeline, layout }
    }
}

/// How long a read-back may take before it is reported as a failure: far
/// beyond any kernel here, even on a software adapter under load.
const MAP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// The outcome of one `map_async`, set by its callback on whichever thread
/// polls the device.
#[derive(Default)]
struct MapStatus {
    result: Mutex<Option<Result<(), wgpu::BufferAsyncError>>>,
    ready: Condvar,
}

impl MapStatus {
    fn set(&self, result: Result<(), wgpu::BufferAsyncError>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        self.ready.notify_all();
    }

    /// The outcome, waiting up to `timeout` for it.
    fn wait(&self, timeout: std::time::Duration) -> Option<Result<(), wgpu::BufferAsyncError>> {
        let guard = self.result.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = self
            .ready
            .wait_timeout_while(guard, timeout, |r| r.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.take()
    }
}
