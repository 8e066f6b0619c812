//! The AArch64 NEON kernel table (Jetson Nano's Cortex-A57): 4 lanes and
//! 32 vector registers, so the same 2-sliver × 8-pixel tile (16
//! accumulators) and 1-sliver × 16-pixel row tile as the x86 kernels, with
//! the stable `core::arch::aarch64` intrinsics.

use std::arch::aarch64::*;

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::TileArgs;
use crate::backend::cpu::winograd::transform::{InputJob, OutputJob};
use crate::backend::cpu::winograd::Tiling;

const LANES: usize = 4;
const PIXELS: usize = 8;

pub(crate) struct Neon;

impl CpuKernels for Neon {
    const ISA: CpuIsa = CpuIsa::Neon;
    const LANES: usize = LANES;
    const PIXELS: usize = PIXELS;
    const ROW_PIXELS: usize = 2 * PIXELS;

    unsafe fn tile(t: &TileArgs, vectors: usize) {
        tile_any(t, vectors)
    }

    unsafe fn tile_row(t: &TileArgs) {
        tile_row(t)
    }

    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b)
    }

    unsafe fn max_pool_2x2_row(top: &[f32], bottom: &[f32], row: &mut [f32]) -> usize {
        max_pool_2x2_row(top, bottom, row)
    }

    unsafe fn winograd_input<const M: usize, const A: usize, T: Tiling<M, A>>(job: &InputJob) {
        winograd_input::<M, A, T>(job)
    }

    unsafe fn winograd_output<const M: usize, const A: usize, T: Tiling<M, A>>(job: &OutputJob) {
        winograd_output::<M, A, T>(job)
    }
}

// NEON is the AArch64 baseline: no target feature to enable.
crate::backend::cpu::winograd::transform::winograd_transforms!();

#[inline(always)]
unsafe fn zero() -> float32x4_t {
    vdupq_n_f32(0.0)
}

/// `a·b + c`, in the argument order the shared tile macro uses.
#[inline(always)]
unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
    vfmaq_f32(c, a, b)
}

/// `prfm` is a hint: it never faults, even past the end of a buffer.
#[inline(always)]
fn prefetch(p: *const f32) {
    // SAFETY: a prefetch has no architectural effect.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    }
}

crate::backend::cpu::tile::simd_tiles!(feature: "neon", lanes: LANES, pixels: PIXELS,
    zero: zero, load: vld1q_f32, store: vst1q_f32, splat: vdupq_n_f32,
    fma: fma, add: vaddq_f32, max: vmaxq_f32, prefetch: prefetch);

/// Four accumulators of four lanes.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let main = n - n % 16;
    // SAFETY: NEON is part of AArch64; loads stay below `main ≤ len`.
    unsafe {
        let mut acc = [vdupq_n_f32(0.0); 4];
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut i = 0;
        while i < main {
            for (v, acc) in acc.iter_mut().enumerate() {
                *acc = vfmaq_f32(
                    *acc,
                    vld1q_f32(pa.add(i + 4 * v)),
                    vld1q_f32(pb.add(i + 4 * v)),
                );
            }
            i += 16;
        }
        let sum = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
        vaddvq_f32(sum)
            + a[main..n]
                .iter()
                .zip(&b[main..n])
                .map(|(x, y)| x * y)
                .sum::<f32>()
    }
}

/// Four outputs a step: `vld2q` splits even and odd columns, `vmaxnmq` has
/// `f32::max`'s NaN rule. Returns how many outputs it wrote.
///
/// # Safety
/// `top` and `bottom` hold `2·row.len()` floats.
unsafe fn max_pool_2x2_row(top: &[f32], bottom: &[f32], row: &mut [f32]) -> usize {
    let steps = row.len() / 4;
    // SAFETY: NEON is part of AArch64; by the contract above, step s reads top/bottom[8s..8s+8] and
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
