//! Max-pooling and softmax on the CPU. Pooling works row by row: for each
//! window offset the range of outputs whose input lies inside the image is
//! computed once, and the max over that range is a branch-free loop over a
//! (strided) input row, which the compiler vectorises. Softmax reuses the
//! oracle's row loop: it touches only the logits.

use crate::backend::cpu::kernels::MaxPoolRowFn;
use crate::backend::cpu::workers::{SharedMut, Workers};
use crate::backend::scalar::pool::softmax_row;
use crate::backend::{check_run, Kernel};
use crate::error::Result;
use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::Shape4;

pub(crate) struct CpuMaxPool {
    pub spec: MaxPool2dSpec,
    /// The kernel table's 2×2 row (which may do none of it).
    pub row: MaxPoolRowFn,
    pub workers: Workers,
}

impl Kernel for CpuMaxPool {
    fn reserve(&mut self, _batch: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, _k: usize, output: &mut [f32]) -> Result<()> {
        // The unsafe plane slices below rely on these checks.
        let out = self.spec.output_shape(shape)?;
        check_run(shape, out, input, output)?;
        let planes = shape.n * shape.c;
        let chunks = planes.min(4 * self.workers.threads());
        let y = SharedMut::new(output);
        self.workers.run(chunks, |chunk, _| {
            for p in planes * chunk / chunks..planes * (chunk + 1) / chunks {
                // SAFETY: output plane `p` belongs to this task alone.
                let y = unsafe {
                    std::slice::from_raw_parts_mut(y.ptr().add(p * out.plane()), out.plane())
                };
                pool_plane(
                    &self.spec,
                    self.row,
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
        check_run(shape, shape, input, output)?;
        let cols = shape.item_len();
        if cols == 0 {
            return Ok(());
        }
        for (x, y) in input.chunks_exact(cols).zip(output.chunks_exact_mut(cols)) {
            softmax_row(x, y);
        }
        Ok(())
    }
}

/// Max-pools one plane of `shape` into one plane of `out`.
fn pool_plane(
    spec: &MaxPool2dSpec,
    kernel_row: MaxPoolRowFn,
    x: &[f32],
    shape: Shape4,
    y: &mut [f32],
    out: Shape4,
) {
    if spec.kernel == [2, 2] && spec.stride == [2, 2] && spec.padding == [0, 0] {
        return pool_2x2(x, shape.w, y, out, kernel_row);
    }
    let ([kh, kw], [sh, sw], [ph, pw]) = (spec.kernel, spec.stride, spec.padding);
    for (oy, row) in y.chunks_exact_mut(out.w).enumerate() {
        row.fill(f32::NEG_INFINITY);
        for ky in 0..kh {
            let Some(iy) = (oy * sh + ky).checked_sub(ph).filter(|&iy| iy < shape.h) else {
                continue;
            };
            let input = &x[iy * shape.w..(iy + 1) * shape.w];
            for kx in 0..kw {
                // Output ox reads input ox·sw + kx − pw, inside [0, w) for ox in lo..hi.
                let lo = pw.saturating_sub(kx).div_ceil(sw);
                let hi = match (shape.w + pw).checked_sub(kx + 1) {
                    Some(last) => (last / sw + 1).min(out.w),
                    None => 0,
                };
                if lo < hi {
                    max_into(&mut row[lo..hi], &input[lo * sw + kx - pw..], sw);
                }
            }
        }
    }
}

/// `out[i] = max(out[i], input[i·stride])`.
#[inline(always)]
fn max_into(out: &mut [f32], input: &[f32], stride: usize) {
    match stride {
        1 => out.iter_mut().zip(input).for_each(|(o, &v)| *o = o.max(v)),
        2 => {
            let n = out.len();
            // One check up front lets the compiler drop the per-element ones.
            let input = &input[..2 * n - 1];
            for i in 0..n {
                out[i] = out[i].max(input[2 * i]);
            }
        }
        s => out
            .iter_mut()
            .zip(input.iter().step_by(s))
            .for_each(|(o, &v)| *o = o.max(v)),
    }
}

/// The common 2×2, stride-2 pool in one pass over pairs of input rows.
/// The last max with −∞ gives an all-NaN window the oracle's result (−∞).
fn pool_2x2(x: &[f32], w: usize, y: &mut [f32], out: Shape4, kernel_row: MaxPoolRowFn) {
    for (oy, row) in y.chunks_exact_mut(out.w).enumerate() {
        let top = &x[2 * oy * w..][..2 * out.w];
        let bottom = &x[(2 * oy + 1) * w..][..2 * out.w];
        let done = kernel_row(top, bottom, row);
        for ox in done..out.w {
            let m = top[2 * ox]
                .max(top[2 * ox + 1])
                .max(bottom[2 * ox].max(bottom[2 * ox + 1]));
            row[ox] = m.max(f32::NEG_INFINITY);
        }
    }
}
