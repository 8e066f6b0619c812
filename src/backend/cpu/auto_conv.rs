//! The `auto` convolution for layers Winograd can compute: both kernels are
//! prepared, and each input size runs the one measured faster for it
//! (docs/winograd.md). The choice depends only on the size, so it is made
//! when a size is reserved and repeated, not re-measured, by each run.

use crate::backend::cpu::conv::CpuConv;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::winograd::{CpuWinograd, F4};
use crate::backend::cpu::workers::Workers;
use crate::backend::Kernel;
use crate::error::Result;
use crate::model::conv::{Conv2d, Conv2dSpec};
use crate::model::shape::Shape4;

/// F(4×4, 3×3) tiles per run up to which Winograd is faster than direct
/// convolution. Measured on the preset layers (8×8 outputs, so 4 tiles per
/// image) with AVX2, one thread: Winograd 1.1–1.3x faster at batch 1, about
/// even at batch 4 (16 tiles), 1.2–1.6x slower at batch 32 (128 tiles),
/// where its matrix products run well below the direct kernels' rate.
pub(crate) const WINOGRAD_MAX_TILES: usize = 16;

pub(crate) struct AutoConv<K: CpuKernels> {
    spec: Conv2dSpec,
    direct: CpuConv<K>,
    winograd: CpuWinograd<K, 4, 6, F4>,
}

impl<K: CpuKernels> AutoConv<K> {
    pub fn new(layer: &Conv2d, workers: Workers) -> Result<Self> {
        Ok(Self {
            spec: *layer.spec(),
            direct: CpuConv::new(layer, workers.clone())?,
            winograd: CpuWinograd::new(layer, workers)?,
        })
    }

    /// Whether inputs of this size run by Winograd; sizes the layer rejects
    /// go to the direct kernel, which reports the error.
    fn winograd_for(&self, batch: usize, h: usize, w: usize) -> bool {
        let input = Shape4::new(batch, self.spec.layout().inputs, h, w);
        match self.spec.output_shape(input, self.spec.groups) {
            Ok(out) => batch
                .checked_mul(out.h.div_ceil(4))
                .and_then(|t| t.checked_mul(out.w.div_ceil(4)))
                .is_some_and(|tiles| tiles <= WINOGRAD_MAX_TILES),
            Err(_) => false,
        }
    }
}

impl<K: CpuKernels> Kernel for AutoConv<K> {
    fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()> {
        if self.winograd_for(batch, h, w) {
            self.winograd.reserve(batch, h, w)
        } else {
            self.direct.reserve(batch, h, w)
        }
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        if self.winograd_for(shape.n, shape.h, shape.w) {
            self.winograd.run(input, shape, k, output)
        } else {
            self.direct.run(input, shape, k, output)
        }
    }
}
