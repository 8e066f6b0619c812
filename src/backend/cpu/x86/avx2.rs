//! The AVX2 + FMA kernel table: 8 lanes, 2-sliver × 6-pixel tiles and
//! 12-pixel row tiles.

use std::arch::x86_64::*;

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::TileArgs;
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

// Six pixels do not fill a vector: every tile goes through the buffer.
crate::backend::cpu::tile::simd_tiles!(feature: "avx2,fma", lanes: LANES, pixels: PIXELS,
    zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps, splat: _mm256_set1_ps,
    fma: _mm256_fmadd_ps, add: _mm256_add_ps, max: _mm256_max_ps, prefetch: super::prefetch);
