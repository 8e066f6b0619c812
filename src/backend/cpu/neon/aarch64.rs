//! The AArch64 NEON kernel table (Jetson Nano's Cortex-A57): 4 lanes and
//! 32 vector registers, so the same 2-sliver × 8-pixel tile (16
//! accumulators) and 1-sliver × 16-pixel row tile as the x86 kernels, with
//! the stable `core::arch::aarch64` intrinsics; whole and narrow tiles are
//! stored through 4×4 transposes.

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

    unsafe fn tile_contiguous(t: &TileArgs, vectors: usize) {
        use crate::backend::cpu::tile::NARROW_PIXELS as N;
        match (vectors == 2, t.cols <= N) {
            (true, false) => tile_contiguous::<2, PIXELS>(t),
            (true, true) => tile_contiguous::<2, N>(t),
            (false, false) => tile_contiguous::<1, PIXELS>(t),
            (false, true) => tile_contiguous::<1, N>(t),
        }
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

crate::backend::cpu::tile::simd_tiles!(feature: "neon", vector: float32x4_t, lanes: LANES, pixels: PIXELS,
    zero: zero, load: vld1q_f32, store: vst1q_f32, splat: vdupq_n_f32,
    fma: fma, add: vaddq_f32, max: vmaxq_f32, prefetch: prefetch,
    full_tile_store: store_full_tile, full_row_store: store_full_row,
    narrow_tile_store: store_narrow_tile);

/// Writes 4 pixels × `4·MV` channels: a 4×4 transpose per sliver turns
/// pixel vectors into channel rows, one 4-float store each (through the
/// buffer: 16 scalar stores per sliver).
#[inline(always)]
unsafe fn store_narrow_tile<const MV: usize>(out: &[[float32x4_t; MV]; 4], t: &TileArgs) {
    store_quad::<MV>(out, t, 0);
}

/// Writes the 8 pixels of a whole tile as two 4-pixel blocks.
#[inline(always)]
unsafe fn store_full_tile<const MV: usize>(out: &[[float32x4_t; MV]; PIXELS], t: &TileArgs) {
    for block in 0..PIXELS / 4 {
        let quad: [[float32x4_t; MV]; 4] = std::array::from_fn(|i| out[4 * block + i]);
        store_quad::<MV>(&quad, t, 4 * block);
    }
}

/// Writes the 16 pixels of a row tile (one sliver) as four 4-pixel blocks.
#[inline(always)]
unsafe fn store_full_row(out: &[float32x4_t; 2 * PIXELS], t: &TileArgs) {
    for block in 0..2 * PIXELS / 4 {
        let quad: [[float32x4_t; 1]; 4] = std::array::from_fn(|i| [out[4 * block + i]]);
        store_quad::<1>(&quad, t, 4 * block);
    }
}

/// Pixels `first..first + 4` of every channel row from four pixel vectors
/// per sliver.
#[allow(clippy::needless_range_loop)] // `v` indexes each pixel's slivers
#[inline(always)]
unsafe fn store_quad<const MV: usize>(quad: &[[float32x4_t; MV]; 4], t: &TileArgs, first: usize) {
    for v in 0..MV {
        let rows = transpose4([quad[0][v], quad[1][v], quad[2][v], quad[3][v]]);
        for (c, row) in rows.into_iter().enumerate() {
            vst1q_f32(t.out.add((v * LANES + c) * t.ld + first), row);
        }
    }
}

/// `tile::<MV, P>` for a reduction whose steps are consecutive in `x`
/// (`kofs[d] == d`, the Winograd products). Each pixel's next four steps
/// come in one load and are multiplied by lane (`fmla v.4s, v.4s, v.s[j]`):
/// per four steps, `P` loads instead of `4·P` address computations and
/// broadcast loads, which cost more than the FMAs they feed (19 instructions
/// per 8 FMAs at MV = 2, P = 4). Each accumulator still sums its steps in
/// order with one rounding per FMA, as `tile` does.
///
/// # Safety
/// As [`CpuKernels::tile_contiguous`].
#[allow(clippy::needless_range_loop)] // index loops over register arrays unroll
unsafe fn tile_contiguous<const MV: usize, const P: usize>(t: &TileArgs) {
    const { assert!(P <= PIXELS) };
    let mut acc = [[zero(); MV]; P];
    let pix = t.pix;
    let quads_end = t.depth - t.depth % 4;
    let mut d = 0;
    while d < quads_end {
        // Four steps of one sliver are 64 bytes: one line to prefetch.
        for v in 0..MV {
            prefetch(t.a[v].wrapping_add((d + crate::backend::cpu::tile::PREFETCH_STEPS) * LANES));
        }
        let mut x = [zero(); P];
        for i in 0..P {
            x[i] = vld1q_f32(t.x.add(pix[i] + d));
        }
        lane_step::<MV, P, 0>(&mut acc, t, d, &x);
        lane_step::<MV, P, 1>(&mut acc, t, d + 1, &x);
        lane_step::<MV, P, 2>(&mut acc, t, d + 2, &x);
        lane_step::<MV, P, 3>(&mut acc, t, d + 3, &x);
        d += 4;
    }
    for d in quads_end..t.depth {
        let mut a = [zero(); MV];
        for v in 0..MV {
            a[v] = vld1q_f32(t.a[v].add(d * LANES));
        }
        for i in 0..P {
            let xi = vld1q_dup_f32(t.x.add(pix[i] + d));
            for v in 0..MV {
                acc[i][v] = vfmaq_f32(acc[i][v], xi, a[v]);
            }
        }
    }
    finish_tile(&acc, t);
}

/// Step `d` of every accumulator, its input in lane `J` of `x[i]`.
///
/// # Safety
/// `t.a[..MV]` hold step `d`.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn lane_step<const MV: usize, const P: usize, const J: i32>(
    acc: &mut [[float32x4_t; MV]; P],
    t: &TileArgs,
    d: usize,
    x: &[float32x4_t; P],
) {
    let mut a = [zero(); MV];
    for v in 0..MV {
        a[v] = vld1q_f32(t.a[v].add(d * LANES));
    }
    for i in 0..P {
        for v in 0..MV {
            acc[i][v] = vfmaq_laneq_f32::<J>(acc[i][v], a[v], x[i]);
        }
    }
}

/// The transpose of a 4×4 block held as four row vectors.
#[inline(always)]
unsafe fn transpose4(r: [float32x4_t; 4]) -> [float32x4_t; 4] {
    // Interleave pairs of 32-bit lanes, then pairs of 64-bit halves.
    let t0 = vtrn1q_f32(r[0], r[1]);
    let t1 = vtrn2q_f32(r[0], r[1]);
    let t2 = vtrn1q_f32(r[2], r[3]);
    let t3 = vtrn2q_f32(r[2], r[3]);
    let (t0, t1, t2, t3) = (
        vreinterpretq_f64_f32(t0),
        vreinterpretq_f64_f32(t1),
        vreinterpretq_f64_f32(t2),
        vreinterpretq_f64_f32(t3),
    );
    [
        vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)),
        vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)),
        vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)),
        vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)),
    ]
}

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
