//! The wgpu backend: WGSL compute shaders (`shaders/`) on any GPU that
//! wgpu reaches (Vulkan, Metal, DX12, GL), and on software Vulkan
//! (lavapipe) in CI.
//!
//! Pipelines are built once per device and cached with their bind-group
//! layouts; weights are uploaded once per layer; each dispatch covers the
//! active groups only. A `Session` runs the model as a `WgpuChain`: one
//! submission per batch, activations left on the GPU. With f16 weights and an adapter with `SHADER_F16`,
//! weights stay f16 on the GPU (half the memory and bandwidth) and are
//! widened to f32 in the shader.

mod chain;
mod gpu;
mod kernel;
pub mod params;
pub mod shaders;

use std::sync::Arc;

pub use chain::WgpuChain;
pub use gpu::WgpuOptions;

use crate::backend::{Backend, BackendKind, Chain, Kernel};
use crate::error::{Error, Result};
use crate::model::layer::Layer;

pub struct WgpuBackend {
    gpu: Arc<gpu::Gpu>,
}

impl WgpuBackend {
    /// Opens an adapter (async: for callers with an executor).
    pub async fn open(options: &WgpuOptions) -> Result<Self> {
        let gpu = gpu::Gpu::open(options)
            .await
            .map_err(|reason| Error::BackendUnavailable {
                backend: BackendKind::Wgpu,
                reason,
            })?;
        Ok(Self { gpu: Arc::new(gpu) })
    }

    /// Opens an adapter, blocking until it is ready (no executor needed).
    pub fn open_blocking(options: &WgpuOptions) -> Result<Self> {
        pollster::block_on(Self::open(options))
    }

    /// The adapter's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub fn adapter_name(&self) -> &str {
        &self.gpu.info.name
    }

    /// Whether f16 weights stay f16 on this device.
    pub fn has_f16(&self) -> bool {
        self.gpu.f16
    }
}

impl Backend for WgpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wgpu
    }

    fn describe(&self) -> String {
        let info = &self.gpu.info;
        format!(
            "wgpu on {} ({:?}, {:?}{})",
            info.name,
            info.backend,
            info.device_type,
            if self.gpu.f16 { ", f16 weights" } else { "" }
        )
    }

    fn software_device(&self) -> bool {
        self.gpu.info.device_type == wgpu::DeviceType::Cpu
    }

    fn prepare(&self, layer: &Layer) -> Result<Box<dyn Kernel>> {
        Ok(Box::new(kernel::GpuKernel::new(self.gpu.clone(), layer)?))
    }

    fn prepare_chain(&self, layers: &[Layer]) -> Option<Result<Box<dyn Chain>>> {
        Some(self.chain(layers).map(|c| Box::new(c) as Box<dyn Chain>))
    }
}

impl WgpuBackend {
    /// `layers` prepared to run back to back with the activations on the GPU.
    pub fn chain(&self, layers: &[Layer]) -> Result<WgpuChain> {
        let kernels = layers
            .iter()
            .map(|layer| kernel::GpuKernel::new(self.gpu.clone(), layer))
            .collect::<Result<_>>()?;
        WgpuChain::new(self.gpu.clone(), kernels)
    }
}

/// The dispatcher's probe: the adapter `WGPU_BACKEND` / `WGPU_POWER_PREF`
/// select, or the reason there is none.
pub fn probe() -> Result<Arc<dyn Backend>, String> {
    WgpuBackend::open_blocking(&WgpuOptions::from_env())
        .map(|b| Arc::new(b) as Arc<dyn Backend>)
        .map_err(|e| match e {
            Error::BackendUnavailable { reason, .. } => reason,
            other => other.to_string(),
        })
}
