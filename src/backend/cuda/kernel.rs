//! One layer on a CUDA device: weights uploaded once at prepare, input and
//! output buffers grown only for a larger batch, and one launch per call
//! covering the active groups only.

use std::sync::Arc;

use super::device::{f32_bytes, Device, DeviceBuffer, Launch};
use super::plan::{plan, Arithmetic, Operands, Tile};
use crate::backend::{check_run, Kernel};
use crate::error::Result;
use crate::model::layer::Layer;
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;

pub struct CudaKernel {
    device: Arc<dyn Device>,
    layer: Layer,
    arithmetic: Arithmetic,
    tile: Option<Tile>,
    weights: Option<DeviceBuffer>,
    bias: Option<DeviceBuffer>,
    input: DeviceBuffer,
    output: DeviceBuffer,
}

impl CudaKernel {
    pub fn new(
        device: Arc<dyn Device>,
        layer: &Layer,
        half2: bool,
        tile: Option<Tile>,
    ) -> Result<Self> {
        let (weights, bias) = match layer.parameters() {
            Some((w, b)) => (Some(w), b),
            None => (None, None),
        };
        let arithmetic = match weights {
            Some(WeightData::F16(_)) if half2 && device.fast_f16() => Arithmetic::Half2,
            Some(WeightData::F16(_)) => Arithmetic::F16Weights,
            _ => Arithmetic::F32,
        };
        let weights = weights
            .map(|w| {
                let bytes: &[u8] = match w {
                    WeightData::F32(v) => f32_bytes(v),
                    // SAFETY: f16 is a plain 2-byte value.
                    WeightData::F16(v) => unsafe {
                        std::slice::from_raw_parts(v.as_ptr().cast(), 2 * v.len())
                    },
                };
                DeviceBuffer::with_data(&device, bytes)
            })
            .transpose()?;
        let bias = bias
            .map(|b| DeviceBuffer::with_data(&device, f32_bytes(b)))
            .transpose()?;
        Ok(Self {
            input: DeviceBuffer::new(&device, 0)?,
            output: DeviceBuffer::new(&device, 0)?,
            device,
            layer: layer.clone(),
            arithmetic,
            tile,
            weights,
            bias,
        })
    }

    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    /// The launch for `shape` at `k`, reading `input` and writing `output`
    /// (device addresses).
    pub fn launch_for(&self, shape: Shape4, k: usize, input: u64, output: u64) -> Result<Launch> {
        let ops = Operands {
            input,
            output,
            weights: self.weights.as_ref().map_or(0, |b| b.ptr()),
            bias: self.bias.as_ref().map_or(0, |b| b.ptr()),
        };
        plan(
            &self.layer,
            shape,
            k,
            ops,
            self.arithmetic,
            self.tile,
            self.device.multiprocessors(),
        )
    }

    /// Launches on device buffers the caller owns, without waiting.
    ///
    /// # Safety
    /// `input` holds `shape.len()` f32 and `output` the layer's output at
    /// `k`, both allocations of this kernel's device.
    pub unsafe fn launch_on_device(
        &self,
        shape: Shape4,
        k: usize,
        input: u64,
        output: u64,
    ) -> Result<()> {
        let launch = self.launch_for(shape, k, input, output)?;
        unsafe { self.device.launch(&launch) }
    }
}

impl Kernel for CudaKernel {
    fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()> {
        if let Some((input, output)) = self.layer.widest(batch, h, w)? {
            self.input.ensure(4 * input.len())?;
            self.output.ensure(4 * output.len())?;
        }
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // The launch is sized by `shape`, the buffers by the slices: they
        // must agree, or the kernel reads and writes past its buffers.
        check_run(shape, self.layer().output_shape(shape, k)?, input, output)?;
        self.input.ensure(4 * input.len())?;
        self.output.ensure(4 * output.len())?;
        self.input.upload_f32(input)?;
        let launch = self.launch_for(shape, k, self.input.ptr(), self.output.ptr())?;
        // SAFETY: both buffers were just sized for this shape and k.
        unsafe { self.device.launch(&launch)? };
        self.output.download_f32(output)
    }
}
