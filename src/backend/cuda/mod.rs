//! The CUDA backend: hand-written kernels (`kernels/*.cu`) launched through
//! the driver API, with grids that cover the active groups only.
//!
//! - `args`: the kernels' by-value argument structs, mirrored from
//!   `kernels/groupscale.cuh`.
//! - `plan`: kernel, grid and arguments for a layer at a shape and k.
//! - `device`: what a device must do. `driver` is a GPU; `emulator` (feature
//!   `cuda-emulator`) runs the same kernels on the CPU, for tests.
//! - `kernel`: one prepared layer. `chain`: a model's layers run on device
//!   buffers, one copy in and one out.
//! - `source`: the PTX and the source the build embedded; `nvrtc` compiles
//!   that source at run time when there is no PTX for the GPU found.
//!
//! Settings: `GROUPSCALE_CUDA_DEVICE=N` picks the GPU, `GROUPSCALE_NVRTC`
//! names the NVRTC library. `GROUPSCALE_CUDA_HALF2=1`
//! multiplies f16 weights with f16 activations (half2) on GPUs with fast
//! f16: up to twice the arithmetic rate, for about 1e-3 relative error.

pub mod args;
mod chain;
mod device;
mod driver;
#[cfg(feature = "cuda-emulator")]
mod emulator;
mod kernel;
pub mod nvrtc;
pub mod plan;
mod source;

use std::sync::Arc;

pub use chain::DeviceChain;
pub use device::KernelName;
pub use plan::Tile;

use crate::backend::{Backend, BackendKind, Chain, Kernel};
use crate::error::{Error, Result};
use crate::model::layer::Layer;
use crate::settings;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CudaOptions {
    /// Which GPU (`GROUPSCALE_CUDA_DEVICE`).
    pub device: usize,
    /// half2 arithmetic for f16 weights where the GPU has fast f16
    /// (`GROUPSCALE_CUDA_HALF2`).
    pub half2: bool,
    /// Pins the conv tile instead of choosing per layer and k (tests).
    pub tile: Option<Tile>,
}

impl CudaOptions {
    pub fn from_env() -> Result<Self> {
        let device = match settings::CUDA_DEVICE.value() {
            Some(v) => v.trim().parse().map_err(|_| Error::Setting {
                name: settings::CUDA_DEVICE.name,
                value: v.clone(),
                reason: "expected a device number (0, 1, ...)".into(),
            })?,
            None => 0,
        };
        let half2 = match settings::CUDA_HALF2.value().as_deref().map(str::trim) {
            None | Some("0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => {
                return Err(Error::Setting {
                    name: settings::CUDA_HALF2.name,
                    value: other.into(),
                    reason: "expected 1 or 0".into(),
                })
            }
        };
        Ok(Self {
            device,
            half2,
            tile: None,
        })
    }
}

pub struct CudaBackend {
    device: Arc<dyn device::Device>,
    options: CudaOptions,
}

impl CudaBackend {
    /// Opens a GPU, or says why there is none (no driver, no device, no
    /// usable PTX). Never panics for a missing library.
    pub fn open(options: CudaOptions) -> Result<Self> {
        let device = driver::DriverDevice::open(options.device)?;
        Ok(Self {
            device: Arc::new(device),
            options,
        })
    }

    /// The kernels on the CPU emulator: slow, for tests on machines without
    /// a GPU. `fast_f16` plays a GPU with fast f16 so half2 can run.
    #[cfg(feature = "cuda-emulator")]
    pub fn emulated(options: CudaOptions, fast_f16: bool) -> Self {
        Self {
            device: Arc::new(emulator::Emulator::new(fast_f16)),
            options,
        }
    }

    /// Prepares a chain of layers that keeps its activations on the device.
    pub fn chain(&self, layers: &[Layer]) -> Result<DeviceChain> {
        let kernels = layers
            .iter()
            .map(|l| self.prepare_kernel(l))
            .collect::<Result<Vec<_>>>()?;
        DeviceChain::new(self.device.clone(), kernels)
    }

    fn prepare_kernel(&self, layer: &Layer) -> Result<kernel::CudaKernel> {
        kernel::CudaKernel::new(
            self.device.clone(),
            layer,
            self.options.half2,
            self.options.tile,
        )
    }
}

impl Backend for CudaBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
    }

    fn describe(&self) -> String {
        format!(
            "cuda on {}{}",
            self.device.describe(),
            if self.options.half2 && self.device.fast_f16() {
                ", half2 arithmetic for f16 weights"
            } else {
                ""
            }
        )
    }

    fn prepare(&self, layer: &Layer) -> Result<Box<dyn Kernel>> {
        Ok(Box::new(self.prepare_kernel(layer)?))
    }

    fn prepare_chain(&self, layers: &[Layer]) -> Option<Result<Box<dyn Chain>>> {
        Some(self.chain(layers).map(|c| Box::new(c) as Box<dyn Chain>))
    }
}

/// The dispatcher's probe: the GPU `GROUPSCALE_CUDA_DEVICE` names, or the
/// reason there is none.
pub fn probe() -> Result<Arc<dyn Backend>, String> {
    CudaOptions::from_env()
        .and_then(CudaBackend::open)
        .map(|b| Arc::new(b) as Arc<dyn Backend>)
        .map_err(|e| match e {
            Error::BackendUnavailable { reason, .. } => reason,
            other => other.to_string(),
        })
}
