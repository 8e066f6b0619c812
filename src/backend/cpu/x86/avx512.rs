//! The AVX-512 kernel table: 16 lanes, 2-sliver × 8-pixel tiles and
//! 16-pixel row tiles, stored through in-register 8×8 transposes.

use std::arch::x86_64::*;

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::TileArgs;
use crate::backend::cpu::winograd::transform::{InputJob, OutputJob};
use crate::backend::cpu::winograd::Tiling;

const LANES: usize = 16;
const PIXELS: usize = 8;

pub(crate) struct Avx512;

impl CpuKernels for Avx512 {
    const ISA: CpuIsa = CpuIsa::Avx512;
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

crate::backend::cpu::winograd::transform::winograd_transforms!(feature: "avx512f");

/// The portable dot product compiled for 512-bit vectors.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::backend::cpu::portable::dot(a, b)
}

crate::backend::cpu::tile::simd_tiles!(feature: "avx512f", vector: __m512, lanes: LANES, pixels: PIXELS,
    zero: _mm512_setzero_ps, load: _mm512_loadu_ps, store: _mm512_storeu_ps, splat: _mm512_set1_ps,
    fma: _mm512_fmadd_ps, add: _mm512_add_ps, max: _mm512_max_ps, prefetch: super::prefetch, full_tile_store: store_full_tile,
    full_row_store: store_full_row);

/// A row tile is two 8-pixel tiles side by side.
#[inline(always)]
unsafe fn store_full_row(out: &[__m512; 16], t: &TileArgs) {
    for half in 0..2 {
        let block: [[__m512; 1]; 8] = std::array::from_fn(|i| [out[8 * half + i]]);
        let t = TileArgs {
            out: t.out.add(8 * half),
            ..*t
        };
        store_full_tile::<1>(&block, &t);
    }
}

/// Writes 8 pixels × `16·MV` channels: each 8×8 block is transposed in
/// registers, so every output channel gets one 8-float store.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn store_full_tile<const MV: usize>(out: &[[__m512; MV]; 8], t: &TileArgs) {
    for v in 0..MV {
        for half in 0..2 {
            let rows: [__m256; 8] = std::array::from_fn(|i| {
                let wide = _mm512_castps_pd(out[i][v]);
                _mm256_castpd_ps(if half == 0 {
                    _mm512_castpd512_pd256(wide)
                } else {
                    _mm512_extractf64x4_pd::<1>(wide)
                })
            });
            let columns = super::transpose8x8(rows);
            let first_channel = v * 16 + half * 8;
            for (c, column) in columns.iter().enumerate() {
                _mm256_storeu_ps(t.out.add((first_channel + c) * t.ld), *column);
            }
        }
    }
}
