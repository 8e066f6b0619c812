//! Max-pooling and softmax on the CPU: memory-bound and cheap next to the
//! convolutions, so they reuse the oracle's per-plane loops and only add
//! parallelism across planes.

use crate::backend::cpu::workers::{SharedMut, Workers};
use crate::backend::scalar::pool::{max_pool_plane, softmax_row};
use crate::backend::Kernel;
use crate::error::Result;
use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::Shape4;

pub(crate) struct CpuMaxPool {
    pub spec: MaxPool2dSpec,
    pub workers: Workers,
}

impl Kernel for CpuMaxPool {
    fn reserve(&mut self, _batch: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, _k: usize, output: &mut [f32]) -> Result<()> {
        let out = self.spec.output_shape(shape)?;
        let planes = shape.n * shape.c;
        let chunks = planes.min(4 * self.workers.threads());
        let y = SharedMut::new(output);
        self.workers.run(chunks, |chunk, _| {
            for p in planes * chunk / chunks..planes * (chunk + 1) / chunks {
                // SAFETY: output plane `p` belongs to this task alone.
                let y = unsafe {
                    std::slice::from_raw_parts_mut(y.ptr().add(p * out.plane()), out.plane())
                };
                max_pool_plane(
                    &self.spec,
                    &input[p * shape.plane()..(p + 1) * shape.plane()],
                    shape,
                    y,
                    out,
                );
            }
        });
        Ok(())
    }
}

pub(crate) struct CpuSoftmax;

impl Kernel for CpuSoftmax {
    fn reserve(&mut self, _batch: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, _k: usize, output: &mut [f32]) -> Result<()> {
        let cols = shape.item_len();
        for (x, y) in input.chunks_exact(cols).zip(output.chunks_exact_mut(cols)) {
            softmax_row(x, y);
        }
        Ok(())
    }
}
