//! One layer on the GPU: weights uploaded once at prepare, input/output
//! buffers kept and grown only when a larger batch arrives, and a dispatch
//! sized by the active groups.

use std::sync::Arc;

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::gpu::{Gpu, Pipeline};
use super::params::{
    ConvParams, DenseParams, PoolParams, SoftmaxParams, CONV_TILE_N, LINEAR_OUTPUTS,
};
use super::shaders::Entry;
use crate::backend::gpu::{call_dims, CallDims, LayerDims};
use crate::backend::{check_run, gpu_index, BackendKind, Kernel};
use crate::error::{Error, Result};

use crate::model::layer::Layer;
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;

const WORKGROUP: u32 = 64;
/// The largest uniform struct (`ConvParams`).
const UNIFORM_BYTES: usize = 80;

/// One call's uniform bytes, on the stack: planning a call allocates nothing.
struct Uniform {
    bytes: [u8; UNIFORM_BYTES],
    len: usize,
}

impl Uniform {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

pub(super) fn failure(reason: impl Into<String>) -> Error {
    Error::BackendUnavailable {
        backend: BackendKind::Wgpu,
        reason: reason.into(),
    }
}

/// wgpu's first error since the last check, as this crate's error.
pub(super) fn check_gpu(gpu: &Gpu) -> Result<()> {
    match gpu.take_error() {
        Some(e) => Err(failure(format!("{}: {e}", gpu.info.name))),
        None => Ok(()),
    }
}

/// Input, output and read-back buffers for one size, with their bind group.
struct Io {
    input: wgpu::Buffer,
    output: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

pub struct GpuKernel {
    gpu: Arc<Gpu>,
    layer: Layer,
    entry: Entry,
    pipeline: Arc<Pipeline>,
    uniform: wgpu::Buffer,
    /// Weights and bias (a 4-byte zero buffer when the layer has none).
    weights: Option<(wgpu::Buffer, wgpu::Buffer)>,
    io: Option<Io>,
    io_capacity: (u64, u64),
}

impl GpuKernel {
    pub fn new(gpu: Arc<Gpu>, layer: &Layer) -> Result<Self> {
        let entry = match layer {
            Layer::Conv2d(_) => Entry::Conv,
            Layer::Linear(_) => Entry::Linear,
            Layer::Head(_) => Entry::Head,
            Layer::MaxPool2d(_) => Entry::MaxPool,
            Layer::Softmax => Entry::Softmax,
        };
        let (weights, bias) = match layer.parameters() {
            Some((w, b)) => (Some(w), b),
            None => (None, None),
        };
        let f16_weights = gpu.f16 && matches!(weights, Some(WeightData::F16(_)));
        let pipeline = gpu.pipeline(entry, f16_weights);
        let weights = weights.map(|w| {
            let bytes: Vec<u8> = match w {
                WeightData::F16(v) if f16_weights => {
                    let mut b: Vec<u8> = bytemuck::cast_slice(v).to_vec();
                    b.resize(b.len().next_multiple_of(4).max(4), 0);
                    b
                }
                other => bytemuck::cast_slice(&other.to_f32()).to_vec(),
            };
            let bias_bytes: Vec<u8> = match bias {
                Some(b) if !b.is_empty() => bytemuck::cast_slice(b).to_vec(),
                _ => vec![0; 4],
            };
            let init = |label: &str, contents: &[u8]| {
                gpu.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(label),
                        contents,
                        usage: wgpu::BufferUsages::STORAGE,
                    })
            };
            (init("weights", &bytes), init("bias", &bias_bytes))
        });
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: UNIFORM_BYTES as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let kernel = Self {
            gpu,
            layer: layer.clone(),
            entry,
            pipeline,
            uniform,
            weights,
            io: None,
            io_capacity: (0, 0),
        };
        kernel.check_gpu()?;
        Ok(kernel)
    }

    pub(super) fn layer(&self) -> &Layer {
        &self.layer
    }

    fn check_gpu(&self) -> Result<()> {
        check_gpu(&self.gpu)
    }

    /// This layer's bindings: its parameters and weights, and the given
    /// activation buffers.
    pub(super) fn bind_group(
        &self,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: self.uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: input.as_entire_binding(),
            },
        ];
        if let Some((w, b)) = &self.weights {
            entries.push(wgpu::BindGroupEntry {
                binding: 2,
                resource: w.as_entire_binding(),
            });
            entries.push(wgpu::BindGroupEntry {
                binding: 3,
                resource: b.as_entire_binding(),
            });
        }
        entries.push(wgpu::BindGroupEntry {
            binding: self.entry.storage_bindings(),
            resource: output.as_entire_binding(),
        });
        self.gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(self.entry.name()),
                layout: &self.pipeline.layout,
                entries: &entries,
            })
    }

    /// Writes this call's parameters and records its dispatch, sized by
    /// `shape` and `k`, on buffers bound by `bind_group`.
    pub(super) fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        bind_group: &wgpu::BindGroup,
        shape: Shape4,
        k: usize,
    ) -> Result<()> {
        let (params, grid) = self.plan(shape, k)?;
        self.gpu
            .queue
            .write_buffer(&self.uniform, 0, params.as_bytes());
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        pass.set_pipeline(&self.pipeline.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        Ok(())
    }

    fn ensure_io(&mut self, in_bytes: u64, out_bytes: u64) {
        let (have_in, have_out) = self.io_capacity;
        if self.io.is_some() && in_bytes <= have_in && out_bytes <= have_out {
            return;
        }
        let (in_bytes, out_bytes) = (in_bytes.max(have_in).max(4), out_bytes.max(have_out).max(4));
        use wgpu::BufferUsages as U;
        let input = self.gpu.buffer("input", in_bytes, U::STORAGE | U::COPY_DST);
        let output = self
            .gpu
            .buffer("output", out_bytes, U::STORAGE | U::COPY_SRC);
        let readback = self
            .gpu
            .buffer("readback", out_bytes, U::MAP_READ | U::COPY_DST);
        let bind_group = self.bind_group(&input, &output);
        self.io = Some(Io {
            input,
            output,
            readback,
            bind_group,
        });
        self.io_capacity = (in_bytes, out_bytes);
    }

    /// The uniform bytes and the workgroup grid for one call.
    fn plan(&self, shape: Shape4, k: usize) -> Result<(Uniform, [u32; 3])> {
        let CallDims { out, layer: dims } = call_dims(&self.layer, shape, k)?;
        let max = self.gpu.max_workgroups;
        // `count` workgroups as a 2-D grid (one dimension holds at most `max`).
        let workgroups = |count: usize| -> Result<[u32; 3]> {
            let groups = gpu_index(count, "workgroups")?;
            Ok([groups.min(max), groups.div_ceil(max), 1])
        };
        let flat = |elements: usize| workgroups(elements.div_ceil(WORKGROUP as usize));
        fn pod<T: Pod>(v: T) -> Uniform {
            let mut u = Uniform {
                bytes: [0; UNIFORM_BYTES],
                len: size_of::<T>(),
            };
            u.bytes[..u.len].copy_from_slice(bytemuck::bytes_of(&v));
            u
        }
        Ok(match dims {
            LayerDims::Conv(d) => {
                let params = ConvParams::from(d);
                let grid = [
                    gpu_index((out.h * out.w).div_ceil(CONV_TILE_N as usize), "workgroups")?,
                    (d.out_c / params.og)
                        .checked_mul(params.m_tiles)
                        .ok_or_else(|| Error::Shape("too many convolution workgroups".into()))?,
                    d.batch,
                ];
                if grid.iter().any(|&g| g > max) {
                    return Err(Error::Shape(format!(
                        "a {out} output needs a {grid:?} workgroup grid, over this GPU's {max} per dimension"
                    )));
                }
                (pod(params), grid)
            }
            LayerDims::Pool(d) => (pod(PoolParams::from(d)), flat(out.len())?),
            LayerDims::Dense(d) => {
                // One workgroup per LINEAR_OUTPUTS outputs, or per logit.
                let per_item = if d.classes == 0 {
                    d.out_len.div_ceil(LINEAR_OUTPUTS)
                } else {
                    d.classes
                };
                let count = (per_item as usize)
                    .checked_mul(d.batch as usize)
                    .ok_or_else(|| Error::Shape("too many dense workgroups".into()))?;
                (pod(DenseParams::from(d)), workgroups(count)?)
            }
            LayerDims::Softmax(d) => (pod(SoftmaxParams::from(d)), flat(shape.n)?),
        })
    }
}

impl Kernel for GpuKernel {
    fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()> {
        if let Some((input, output)) = self.layer.widest(batch, h, w)? {
            self.ensure_io(4 * input.len() as u64, 4 * output.len() as u64);
        }
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // The dispatch is sized by `shape`, the buffers by the slices.
        check_run(shape, self.layer().output_shape(shape, k)?, input, output)?;
        self.ensure_io(4 * input.len() as u64, 4 * output.len() as u64);
        let io = self.io.as_ref().expect("ensure_io made the buffers");
        self.gpu
            .queue
            .write_buffer(&io.input, 0, bytemuck::cast_slice(input));
        let mut encoder = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        self.encode(&mut encoder, &io.bind_group, shape, k)?;
        self.gpu
            .submit_and_read(encoder, &io.output, &io.readback, output)
            .map_err(failure)?;
        self.check_gpu()
    }
}
