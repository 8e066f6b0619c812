//! The register tile on AArch64 NEON: 4 lanes, 32 vector registers, so the
//! same 2-sliver × 8-pixel tile (16 accumulators) and 1-sliver × 16-pixel
//! row tile as the x86 kernels.

use std::arch::aarch64::*;

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

crate::backend::cpu::tile::simd_tile_kernel!(Neon, isa: crate::CpuIsa::Neon, feature: "neon", lanes: 4, pixels: 8,
    zero: zero, load: vld1q_f32, store: vst1q_f32, splat: vdupq_n_f32,
    fma: fma, add: vaddq_f32, max: vmaxq_f32, prefetch: prefetch);
