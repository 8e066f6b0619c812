//! Max-pooling and softmax on the CPU. Pooling works row by row: for each
//! window offset the range of outputs whose input lies inside the image is
//! computed once, and the max over that range is a branch-free loop over a
//! (strided) input row, which the compiler vectorises. Softmax reuses the
//! oracle's row loop: it touches only the logits.

use crate::backend::cpu::workers::{SharedMut, Workers};
use crate::backend::scalar::pool::softmax_row;
use crate::backend::{check_run, Kernel};
use crate::error::Result;
use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::Shape4;

pub(crate) struct CpuMaxPool {
    pub spec: MaxPool2dSpec,
    /// Whether the backend runs its NEON kernels (else the Rust path, also
    /// on ARM, so `cpu/portable` stays portable).
    pub neon: bool,
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
                    self.neon,
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
    neon: bool,
    x: &[f32],
    shape: Shape4,
    y: &mut [f32],
    out: Shape4,
) {
    if spec.kernel == [2, 2] && spec.stride == [2, 2] && spec.padding == [0, 0] {
        return pool_2x2(x, shape.w, y, out, neon);
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
#[cfg_attr(
    not(any(target_arch = "aarch64", target_arch = "arm")),
    allow(unused_variables)
)]
fn pool_2x2(x: &[f32], w: usize, y: &mut [f32], out: Shape4, neon: bool) {
    for (oy, row) in y.chunks_exact_mut(out.w).enumerate() {
        let top = &x[2 * oy * w..][..2 * out.w];
        let bottom = &x[(2 * oy + 1) * w..][..2 * out.w];
        #[cfg(target_arch = "aarch64")]
        let done = if neon {
            neon_2x2_row(top, bottom, row)
        } else {
            0
        };
        #[cfg(target_arch = "arm")]
        let done = if neon {
            armv7_2x2_row(top, bottom, row)
        } else {
            0
        };
        #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
        let done = 0;
        for ox in done..out.w {
            let m = top[2 * ox]
                .max(top[2 * ox + 1])
                .max(bottom[2 * ox].max(bottom[2 * ox + 1]));
            row[ox] = m.max(f32::NEG_INFINITY);
        }
    }
}

/// Four outputs a step: `vld2q` splits even and odd columns, `vmaxnmq` has
/// `f32::max`'s NaN rule. Returns how many outputs it wrote.
#[cfg(target_arch = "aarch64")]
fn neon_2x2_row(top: &[f32], bottom: &[f32], row: &mut [f32]) -> usize {
    use std::arch::aarch64::*;
    let steps = row.len() / 4;
    // SAFETY: NEON is part of AArch64; step s reads top/bottom[8s..8s+8] and
    // writes row[4s..4s+4], inside the slices (2·row.len() inputs each).
    unsafe {
        let floor = vdupq_n_f32(f32::NEG_INFINITY);
        for s in 0..steps {
            let t = vld2q_f32(top.as_ptr().add(8 * s));
            let b = vld2q_f32(bottom.as_ptr().add(8 * s));
            let m = vmaxnmq_f32(vmaxnmq_f32(t.0, t.1), vmaxnmq_f32(b.0, b.1));
            vst1q_f32(row.as_mut_ptr().add(4 * s), vmaxnmq_f32(m, floor));
        }
    }
    steps * 4
}

/// Four outputs a step on ARMv7 NEON (the backend checked the CPU has it). Its `vmax.f32`
/// returns NaN for a NaN input, unlike `f32::max`, so each input is folded
/// into a running max that starts at −∞ only where it is not NaN (a
/// self-compare mask): exactly the oracle's fold. Returns how many outputs it wrote.
#[cfg(target_arch = "arm")]
fn armv7_2x2_row(top: &[f32], bottom: &[f32], row: &mut [f32]) -> usize {
    let steps = row.len() / 4;
    if steps == 0 {
        return 0;
    }
    // SAFETY: NEON is present (`CpuIsa::Neon` was required); step s reads top/bottom[8s..8s+8]
    // and writes row[4s..4s+4], inside the slices (2·row.len() inputs each).
    unsafe {
        std::arch::asm!(
            ".fpu neon",
            "2:",
            // q4 = −∞ (0xff800000): the running max of four windows.
            "vmov.i32 q4, #0xff000000",
            "vorr.i32 q4, #0x00800000",
            "vld2.32 {{d0, d1, d2, d3}}, [{top}]!",
            "vld2.32 {{d4, d5, d6, d7}}, [{bottom}]!",
            "vceq.f32 q5, q0, q0",
            "vmax.f32 q6, q4, q0",
            "vbsl q5, q6, q4",
            "vceq.f32 q4, q1, q1",
            "vmax.f32 q6, q5, q1",
            "vbsl q4, q6, q5",
            "vceq.f32 q5, q2, q2",
            "vmax.f32 q6, q4, q2",
            "vbsl q5, q6, q4",
            "vceq.f32 q4, q3, q3",
            "vmax.f32 q6, q5, q3",
            "vbsl q4, q6, q5",
            "vst1.32 {{q4}}, [{out}]!",
            "subs {n}, {n}, #1",
            "bne 2b",
            top = inout(reg) top.as_ptr() => _,
            bottom = inout(reg) bottom.as_ptr() => _,
            out = inout(reg) row.as_mut_ptr() => _,
            n = inout(reg) steps => _,
            out("q0") _, out("q1") _, out("q2") _, out("q3") _, out("q4") _, out("q5") _, out("q6") _,
            options(nostack),
        );
    }
    steps * 4
}
