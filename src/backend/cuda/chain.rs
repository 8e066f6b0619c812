//! A model's layers on the device: activations stay in two device buffers
//! used in turn, so a batch costs one copy in and one copy out whatever the
//! depth, and changing k changes only the launches' sizes.

use std::sync::Arc;

use super::device::{Device, DeviceBuffer};
use super::kernel::CudaKernel;
use crate::backend::gpu::{chain_bytes, destination, source, Source};
use crate::backend::Chain;
use crate::error::{check_len, Error, Result};
use crate::model::shape::Shape4;

pub struct DeviceChain {
    device: Arc<dyn Device>,
    kernels: Vec<CudaKernel>,
    input: DeviceBuffer,
    /// Used in turn, as `backend::gpu::source` and `destination` say.
    activations: [DeviceBuffer; 2],
    /// The element count of the last run's output, for `download`.
    last_output: Option<usize>,
    /// The shape of the input on the device, for `run_resident`.
    uploaded: Option<Shape4>,
}

impl DeviceChain {
    pub(super) fn new(device: Arc<dyn Device>, kernels: Vec<CudaKernel>) -> Result<Self> {
        if kernels.is_empty() {
            return Err(crate::error::invalid("a chain needs at least one layer"));
        }
        Ok(Self {
            device: device.clone(),
            kernels,
            input: DeviceBuffer::new(&device, 0)?,
            activations: [
                DeviceBuffer::new(&device, 0)?,
                DeviceBuffer::new(&device, 0)?,
            ],
            last_output: None,
            uploaded: None,
        })
    }
}

impl Chain for DeviceChain {
    fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        self.kernels
            .iter()
            .try_fold(input, |shape, kernel| kernel.layer().output_shape(shape, k))
    }

    fn reserve(&mut self, widest_input: Shape4, groups: usize) -> Result<()> {
        self.reserve_for(widest_input, groups).map(|_| ())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // Every size first, so nothing launches for a call that cannot finish.
        let last = self.reserve_for(shape, k)?;
        check_len("output", last.len(), output.len())?;
        self.upload(input, shape)?;
        self.launch_all(shape, k)?;
        self.last_output = Some(last.len());
        self.last_output().download_f32(output)
    }

    fn upload(&mut self, input: &[f32], shape: Shape4) -> Result<()> {
        check_len("input", shape.len(), input.len())?;
        self.last_output = None;
        self.uploaded = None;
        self.input.ensure(4 * input.len())?;
        self.input.upload_f32(input)?;
        self.uploaded = Some(shape);
        Ok(())
    }

    fn run_resident(&mut self, shape: Shape4, k: usize) -> Result<()> {
        // Checked before reserving, which could grow the buffer and drop
        // what was uploaded.
        if self.uploaded != Some(shape) {
            return Err(Error::Shape(format!(
                "no input of shape {shape} is on the device: upload it first"
            )));
        }
        let last = self.reserve_for(shape, k)?;
        self.launch_all(shape, k)?;
        self.last_output = Some(last.len());
        self.device.synchronize()
    }

    fn download(&mut self, output: &mut [f32]) -> Result<()> {
        let Some(len) = self.last_output else {
            return Err(crate::error::invalid("no run to download the output of"));
        };
        check_len("output", len, output.len())?;
        self.last_output().download_f32(output)
    }
}

impl DeviceChain {
    /// Launches every layer, reading the uploaded input; does not wait.
    fn launch_all(&self, shape: Shape4, k: usize) -> Result<()> {
        let mut current = shape;
        for (i, kernel) in self.kernels.iter().enumerate() {
            let src = match source(i) {
                Source::Input => self.input.ptr(),
                Source::Activations(j) => self.activations[j].ptr(),
            };
            let dst = self.activations[destination(i)].ptr();
            // SAFETY: `reserve_for` sized every buffer for this shape and k.
            unsafe { kernel.launch_on_device(current, k, src, dst)? };
            current = kernel.layer().output_shape(current, k)?;
        }
        Ok(())
    }

    /// Grows the buffers for `shape` at `k` (a no-op once reserved) and
    /// returns the last layer's output shape.
    fn reserve_for(&mut self, shape: Shape4, k: usize) -> Result<Shape4> {
        let layers = self.kernels.iter().map(CudaKernel::layer);
        let ([input, first, second], last) = chain_bytes(layers, shape, k)?;
        self.input.ensure(input)?;
        self.activations[0].ensure(first)?;
        self.activations[1].ensure(second)?;
        Ok(last)
    }

    fn last_output(&self) -> &DeviceBuffer {
        &self.activations[destination(self.kernels.len() - 1)]
    }
}
