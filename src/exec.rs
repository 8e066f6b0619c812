//! The one gate between callers and kernels: every shape, length and group
//! count is checked here, once, before a backend runs.

use std::sync::Arc;

use crate::backend::{Backend, BackendKind, Kernel};
use crate::error::{Error, Result};
use crate::model::layer::Layer;
use crate::model::shape::{Shape4, Tensor};

pub struct PreparedLayer {
    layer: Layer,
    backend: BackendKind,
    kernel: Box<dyn Kernel>,
}

impl PreparedLayer {
    pub fn new(backend: &Arc<dyn Backend>, layer: Layer) -> Result<Self> {
        let kernel = backend.prepare(&layer)?;
        Ok(Self {
            layer,
            backend: backend.kind(),
            kernel,
        })
    }

    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    pub fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        self.layer.output_shape(input, k)
    }

    /// Sizes buffers for `batch`×`h`×`w` inputs so that runs of that size, at
    /// any active group count, allocate nothing. The sizes are checked by
    /// the layer (its widest input and output) before the backend sees them.
    pub fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()> {
        self.layer.widest(batch, h, w)?;
        self.kernel.reserve(batch, h, w)
    }

    /// Runs the first `k` groups on `input` (of `shape`) into `output`, which
    /// must hold exactly `output_shape(shape, k)` elements.
    pub fn run(
        &mut self,
        input: &[f32],
        shape: Shape4,
        k: usize,
        output: &mut [f32],
    ) -> Result<Shape4> {
        let out_shape = self.layer.output_shape(shape, k)?;
        let expected_in = shape
            .checked_len()
            .ok_or_else(|| Error::Shape(format!("{shape} overflows")))?;
        if input.len() != expected_in {
            return Err(Error::ElementCount {
                what: "input",
                expected: expected_in,
                got: input.len(),
            });
        }
        if output.len() != out_shape.len() {
            return Err(Error::ElementCount {
                what: "output",
                expected: out_shape.len(),
                got: output.len(),
            });
        }
        if !out_shape.is_empty() {
            self.kernel.run(input, shape, k, output)?;
        }
        Ok(out_shape)
    }

    /// Like [`run`](Self::run), allocating the output.
    pub fn forward(&mut self, input: &Tensor, k: usize) -> Result<Tensor> {
        let mut out = Tensor::zeros(self.layer.output_shape(input.shape, k)?);
        self.run(&input.data, input.shape, k, &mut out.data)?;
        Ok(out)
    }
}
