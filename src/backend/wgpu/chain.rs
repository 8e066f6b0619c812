//! A model's layers on the GPU: activations stay in two storage buffers used
//! in turn, every layer's dispatch goes into one submission, and a batch
//! costs one write in and one read back, whatever the depth. Changing k
//! changes only the parameters and the dispatch sizes.

use std::sync::Arc;

use super::gpu::Gpu;
use super::kernel::{check_gpu, failure, GpuKernel};
use crate::backend::gpu::{chain_bytes, destination, source, Source};
use crate::backend::Chain;
use crate::error::{check_len, Error, Result};
use crate::model::shape::Shape4;

use wgpu::BufferUsages as U;

/// The chain's buffers at one capacity, with the bind groups that name them.
struct Buffers {
    input: wgpu::Buffer,
    /// Used in turn, as `backend::gpu::source` and `destination` say.
    activations: [wgpu::Buffer; 2],
    readback: wgpu::Buffer,
    /// Bytes each of input, activations[0], activations[1] holds.
    capacity: [u64; 3],
    /// Layer i's bindings: its input and output among the buffers above.
    bind_groups: Vec<wgpu::BindGroup>,
}

pub struct WgpuChain {
    gpu: Arc<Gpu>,
    kernels: Vec<GpuKernel>,
    buffers: Option<Buffers>,
    /// The element count of the last run's output, for `download`.
    last_output_len: Option<usize>,
    /// The shape of the input on the device, for `run_resident`.
    uploaded: Option<Shape4>,
}

impl WgpuChain {
    pub(super) fn new(gpu: Arc<Gpu>, kernels: Vec<GpuKernel>) -> Result<Self> {
        if kernels.is_empty() {
            return Err(crate::error::invalid("a chain needs at least one layer"));
        }
        Ok(Self {
            gpu,
            kernels,
            buffers: None,
            last_output_len: None,
            uploaded: None,
        })
    }

    /// The bytes each buffer needs for `shape` at `k`, and the last layer's
    /// output shape.
    fn needs(&self, shape: Shape4, k: usize) -> Result<([u64; 3], Shape4)> {
        let layers = self.kernels.iter().map(GpuKernel::layer);
        let (needs, last) = chain_bytes(layers, shape, k)?;
        Ok((needs.map(|bytes| bytes as u64), last))
    }

    /// Grows the buffers for `shape` at `k` (nothing once reserved) and
    /// returns the last layer's output shape.
    fn reserve_for(&mut self, shape: Shape4, k: usize) -> Result<Shape4> {
        let (needs, last) = self.needs(shape, k)?;
        self.ensure(needs);
        Ok(last)
    }

    /// Reallocates every buffer, and rebinds, when one is too small.
    fn ensure(&mut self, needs: [u64; 3]) {
        let have = self.buffers.as_ref().map_or([0; 3], |b| b.capacity);
        if self.buffers.is_none() || needs.iter().zip(&have).any(|(n, h)| n > h) {
            let capacity = [0, 1, 2].map(|i| needs[i].max(have[i]).max(4));
            self.buffers = Some(self.allocate(capacity));
            // New buffers hold neither the input nor the last output.
            self.uploaded = None;
            self.last_output_len = None;
        }
    }

    fn allocate(&self, capacity: [u64; 3]) -> Buffers {
        let gpu = &self.gpu;
        let input = gpu.buffer("chain input", capacity[0], U::STORAGE | U::COPY_DST);
        let activations =
            [1, 2].map(|i| gpu.buffer("chain activations", capacity[i], U::STORAGE | U::COPY_SRC));
        let readback_bytes = capacity[1].max(capacity[2]);
        let readback = gpu.buffer("chain readback", readback_bytes, U::MAP_READ | U::COPY_DST);
        let bind_groups = self
            .kernels
            .iter()
            .enumerate()
            .map(|(i, kernel)| {
                let src = match source(i) {
                    Source::Input => &input,
                    Source::Activations(j) => &activations[j],
                };
                kernel.bind_group(src, &activations[destination(i)])
            })
            .collect();
        Buffers {
            input,
            activations,
            readback,
            capacity,
            bind_groups,
        }
    }

    /// Records every layer's dispatch on the input uploaded last.
    fn encode_all(&self, shape: Shape4, k: usize) -> Result<wgpu::CommandEncoder> {
        let buffers = self.buffers.as_ref().expect("reserve_for made the buffers");
        let mut encoder = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let mut current = shape;
        for (kernel, bind_group) in self.kernels.iter().zip(&buffers.bind_groups) {
            kernel.encode(&mut encoder, bind_group, current, k)?;
            current = kernel.layer().output_shape(current, k)?;
        }
        Ok(encoder)
    }

    fn last_output(&self) -> &wgpu::Buffer {
        let buffers = self.buffers.as_ref().expect("reserve_for made the buffers");
        &buffers.activations[destination(self.kernels.len() - 1)]
    }
}

impl Chain for WgpuChain {
    fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        self.needs(input, k).map(|(_, last)| last)
    }

    fn reserve(&mut self, widest_input: Shape4, groups: usize) -> Result<()> {
        self.reserve_for(widest_input, groups).map(|_| ())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // Every size first, so nothing is submitted for a call that cannot finish.
        let last = self.reserve_for(shape, k)?;
        check_len("output", last.len(), output.len())?;
        self.upload(input, shape)?;
        let encoder = self.encode_all(shape, k)?;
        let buffers = self.buffers.as_ref().expect("reserve_for made the buffers");
        self.gpu
            .submit_and_read(encoder, self.last_output(), &buffers.readback, output)
            .map_err(failure)?;
        self.last_output_len = Some(last.len());
        check_gpu(&self.gpu)
    }

    fn upload(&mut self, input: &[f32], shape: Shape4) -> Result<()> {
        check_len("input", shape.len(), input.len())?;
        // Growing the buffers may replace the activations.
        self.last_output_len = None;
        self.ensure([4 * input.len() as u64, 0, 0]);
        let buffers = self.buffers.as_ref().expect("reserve_for made the buffers");
        self.gpu
            .queue
            .write_buffer(&buffers.input, 0, bytemuck::cast_slice(input));
        self.uploaded = Some(shape);
        Ok(())
    }

    fn run_resident(&mut self, shape: Shape4, k: usize) -> Result<()> {
        // Checked before reserving, which could grow the buffers and drop
        // what was uploaded.
        if self.uploaded != Some(shape) {
            return Err(Error::Shape(format!(
                "no input of shape {shape} is on the device: upload it first"
            )));
        }
        let last = self.reserve_for(shape, k)?;
        let encoder = self.encode_all(shape, k)?;
        self.gpu.submit_and_wait(encoder).map_err(failure)?;
        self.last_output_len = Some(last.len());
        check_gpu(&self.gpu)
    }

    fn download(&mut self, output: &mut [f32]) -> Result<()> {
        let Some(len) = self.last_output_len else {
            return Err(crate::error::invalid("no run to download the output of"));
        };
        check_len("output", len, output.len())?;
        let encoder = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let buffers = self.buffers.as_ref().expect("a run made the buffers");
        self.gpu
            .submit_and_read(encoder, self.last_output(), &buffers.readback, output)
            .map_err(failure)?;
        check_gpu(&self.gpu)
    }
}
