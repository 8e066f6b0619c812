//! The AVX2 + FMA kernel table: 8 lanes, 2-sliver × 6-pixel tiles and
//! 12-pixel row tiles, whole tiles stored through in-register 8×8
//! transposes.

use std::arch::x86_64::*;

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::{TileArgs, NARROW_PIXELS};
use crate::backend::cpu::winograd::transform::{InputJob, OutputJob};
use crate::backend::cpu::winograd::Tiling;

const LANES: usize = 8;
const PIXELS: usize = 6;

pub(crate) struct Avx2;

impl CpuKernels for Avx2 {
    const ISA: CpuIsa = CpuIsa::Avx2;
    const LANES: usize = LANES;
    const PIXELS: usize = PIXELS;
    const ROW_PIXELS: usize = 2 * PIXELS;

    unsafe fn tile(t: &TileArgs, vectors: usize) {
        tile_any(t, vectors)
    }

    unsafe fn tile_row(t: &TileArgs) {
        tile_row(t)
    }

    // x86 has no multiply by lane, so the broadcasting tile serves (the
    // broadcast folds into a load; not measured against an alternative).
    unsafe fn tile_contiguous(t: &TileArgs, vectors: usize) {
        Self::tile(t, vectors)
    }

    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b)
    }

    unsafe fn max_pool_2x2_row(_top: &[f32], _bottom: &[f32], _row: &mut [f32]) -> usize {
        // The portable row loop, which the compiler vectorises, is as fast.
        0
    }

    unsafe fn winograd_input<const M: usize, const A: usize, T: Tiling<M, A>>(job: &InputJob) {
        winograd_input::<M, A, T>(job)
    }

    unsafe fn winograd_output<const M: usize, const A: usize, T: Tiling<M, A>>(job: &OutputJob) {
        winograd_output::<M, A, T>(job)
    }
}

crate::backend::cpu::winograd::transform::winograd_transforms!(feature: "avx2,fma");

/// The portable dot product compiled for 256-bit vectors with FMA.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::backend::cpu::portable::dot(a, b)
}

crate::backend::cpu::tile::simd_tiles!(feature: "avx2,fma", vector: __m256, lanes: LANES, pixels: PIXELS,
    zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps, splat: _mm256_set1_ps,
    fma: _mm256_fmadd_ps, add: _mm256_add_ps, max: _mm256_max_ps, prefetch: super::prefetch,
    full_tile_store: store_full_tile, full_row_store: store_full_row,
    narrow_tile_store: store_narrow_tile);

/// Writes 6 pixels × `8·MV` channels (see [`store_transposed_tile`]).
/// Through the buffer a tile cost 48 scalar stores per sliver with a branch
/// each, which dominated Winograd's short products (perf: 70 % of the
/// product kernel on the 5×5 layer L2).
#[inline(always)]
unsafe fn store_full_tile<const MV: usize>(out: &[[__m256; MV]; PIXELS], t: &TileArgs) {
    store_transposed_tile::<MV, PIXELS>(out, t)
}

/// Writes `NARROW_PIXELS` (4) pixels × `8·MV` channels: the Winograd
/// products of a small image (L3-L5 at batch 1 have 4 tiles) are all
/// narrow tiles.
#[inline(always)]
unsafe fn store_narrow_tile<const MV: usize>(out: &[[__m256; MV]; NARROW_PIXELS], t: &TileArgs) {
    store_transposed_tile::<MV, NARROW_PIXELS>(out, t)
}

/// Writes `P` (4 or 6) pixels × `8·MV` channels: each sliver's `P` vectors,
/// padded to eight, are transposed in registers, and every channel gets its
/// `P` floats in one or two stores.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn store_transposed_tile<const MV: usize, const P: usize>(
    out: &[[__m256; MV]; P],
    t: &TileArgs,
) {
    const { assert!(P == 4 || P == 6) };
    for v in 0..MV {
        let rows: [__m256; 8] = std::array::from_fn(|i| {
            if i < P {
                out[i][v]
            } else {
                _mm256_setzero_ps()
            }
        });
        let columns = super::transpose8x8(rows);
        for (c, column) in columns.iter().enumerate() {
            let row = t.out.add((v * LANES + c) * t.ld);
            _mm_storeu_ps(row, _mm256_castps256_ps128(*column));
            if P == 6 {
                _mm_store_sd(
                    row.add(4) as *mut f64,
                    _mm_castps_pd(_mm256_extractf128_ps::<1>(*column)),
                );
            }
        }
    }
}

/// A row tile's 12 pixels of 8 channels: pixels 0-7 as one transposed block
/// of whole-vector stores, pixels 8-11 as a second, half-used one.
#[inline(always)]
unsafe fn store_full_row(out: &[__m256; 2 * PIXELS], t: &TileArgs) {
    let first = super::transpose8x8(std::array::from_fn(|i| out[i]));
    let rest = super::transpose8x8(std::array::from_fn(|i| {
        if 8 + i < 2 * PIXELS {
            out[8 + i]
        } else {
            _mm256_setzero_ps()
        }
    }));
    for c in 0..LANES {
        let row = t.out.add(c * t.ld);
        _mm256_storeu_ps(row, first[c]);
        _mm_storeu_ps(row.add(8), _mm256_castps256_ps128(rest[c]));
    }
}
