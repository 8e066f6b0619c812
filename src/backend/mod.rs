//! Backends: each turns a [`Layer`] into a prepared [`Kernel`].
//!
//! `scalar` is the oracle that every other backend is tested against; `cpu`
//! is the fast CPU path (AVX-512, AVX2, NEON or portable kernels); `neon` is
//! the CPU backend held to its NEON kernels (`CpuBackend::neon`); `wgpu` runs WGSL shaders on any
//! adapter wgpu finds; `cuda` runs hand-written CUDA kernels through the
//! driver API.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::layer::Layer;
use crate::model::shape::Shape4;

#[cfg(feature = "cpu")]
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) mod gpu;
#[cfg(not(feature = "cuda"))]
pub mod cuda {
    //! Built without the `cuda` feature.
    pub fn probe() -> Result<std::sync::Arc<dyn super::Backend>, String> {
        Err("built without the `cuda` feature".into())
    }
}
pub mod scalar;
#[cfg(feature = "wgpu")]
pub mod wgpu;
#[cfg(not(feature = "wgpu"))]
pub mod wgpu {
    //! Built without the `wgpu` feature.
    pub fn probe() -> Result<std::sync::Arc<dyn super::Backend>, String> {
        Err("built without the `wgpu` feature".into())
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Scalar,
    Cpu,
    Neon,
    Cuda,
    Wgpu,
}

impl BackendKind {
    pub const ALL: [BackendKind; 5] = [Self::Scalar, Self::Cpu, Self::Neon, Self::Cuda, Self::Wgpu];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Cpu => "cpu",
            Self::Neon => "neon",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownBackend(s.to_string()))
    }
}

/// `v` as a GPU kernel's 32-bit index, or a shape error naming `what`.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) fn gpu_index(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Shape(format!(
            "{what} = {v} exceeds the GPU kernels' 32-bit indices"
        ))
    })
}

/// What a kernel's `run` may rely on: `out` is what the layer's
/// `output_shape` returned for `shape` (so every size is within the
/// [`limits`](crate::model::limits)), and the slices hold exactly the
/// elements of `shape` and `out`.
pub(crate) fn check_run(shape: Shape4, out: Shape4, input: &[f32], output: &[f32]) -> Result<()> {
    crate::error::check_len("input", shape.len(), input.len())?;
    crate::error::check_len("output", out.len(), output.len())
}

/// A place layers can run. Implementations are cheap to share across threads.
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// One line saying what actually runs (instruction set, threads, device).
    fn describe(&self) -> String;

    /// Converts, packs or uploads the layer's weights, once.
    fn prepare(&self, layer: &Layer) -> Result<Box<dyn Kernel>>;

    /// A GPU backend on a software device (lavapipe, WARP): it works and is
    /// tested, but the dispatcher never prefers it to the CPU kernels.
    fn software_device(&self) -> bool {
        false
    }

    /// How this backend computes `layer`, for deriving the rounding error
    /// its results may show against the oracle.
    fn arithmetic(&self, _layer: &Layer) -> Arithmetic {
        Arithmetic::Direct
    }

    /// A device backend's way to run a whole chain of layers with the
    /// activations left on the device; `None` where layers run one by one.
    fn prepare_chain(&self, _layers: &[Layer]) -> Option<Result<Box<dyn Chain>>> {
        None
    }
}

/// How a backend computes a layer: what its error bound is derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    /// The oracle's sums in another order: each output's error grows with
    /// its reduction length (`check::tolerance`).
    Direct,
    /// Winograd F(tile×tile, r×r), r the layer's kernel side: larger
    /// error, bounded per output by
    /// `check::winograd_tolerances`.
    Winograd { tile: usize },
}

/// Layers prepared to run back to back on a device: one copy in, one out.
pub trait Chain: Send {
    /// The last layer's output for `input` with `k` groups active.
    fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4>;

    /// Sizes the device buffers for inputs up to `widest_input` with up to
    /// `groups` groups active, so later runs allocate nothing.
    fn reserve(&mut self, widest_input: Shape4, groups: usize) -> Result<()>;

    /// Runs every layer with `k` groups active. `output` holds exactly the
    /// last layer's output.
    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()>;

    /// Copies `input` (of `shape`) to the device and leaves it there.
    fn upload(&mut self, input: &[f32], shape: Shape4) -> Result<()>;

    /// Runs every layer on the input left by the last `upload` or `run`,
    /// then waits for the device: the kernels' time alone, for benchmarks.
    fn run_resident(&mut self, shape: Shape4, k: usize) -> Result<()>;

    /// Copies the output of the last run (`run` or `run_resident`) since the
    /// last `upload` back. `output` must be exactly that output's length;
    /// with no such run this is an error.
    fn download(&mut self, output: &mut [f32]) -> Result<()>;
}

/// A layer prepared on one backend.
///
/// Callers go through [`PreparedLayer`](crate::PreparedLayer), which checks
/// every shape and length before a kernel sees them (against the layer's
/// `output_shape`, which enforces [`limits`](crate::model::limits)), so
/// kernels may assume `input.len() == shape.len()`, `1 <= k <= G` and an
/// output of exactly `layer.output_shape(shape, k)`. Kernels whose unsafe
/// code depends on those facts check them again with `check_run`, since
/// this trait can also be called directly.
pub trait Kernel: Send {
    /// Sizes internal buffers for inputs of `batch`×`h`×`w` at any active
    /// group count, so later runs of that size allocate nothing.
    fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()>;

    /// Runs the first `k` groups. Returns only once `output` is written, so
    /// a device backend synchronises before returning (and benchmarks that
    /// time `run` include the device's work).
    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()>;
}
