//! Dot products for the dense layers (linear, head), one per instruction
//! set, chosen once when a layer is prepared.

use crate::backend::cpu::isa::CpuIsa;

/// `Σ a[i]·b[i]` over equal-length slices.
pub(crate) type DotFn = fn(&[f32], &[f32]) -> f32;

/// The dot product for `isa` (which the caller has checked is supported).
pub(crate) fn for_isa(isa: CpuIsa) -> DotFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        CpuIsa::Avx512 => |a, b| unsafe { x86::avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        CpuIsa::Avx2 => |a, b| unsafe { x86::avx2(a, b) },
        #[cfg(target_arch = "aarch64")]
        CpuIsa::Neon => neon_aarch64,
        #[cfg(target_arch = "arm")]
        CpuIsa::Neon => |a, b| unsafe { neon_armv7(a, b) },
        _ => portable,
    }
}

/// Independent partial sums, which the compiler vectorises.
#[inline(always)]
pub(crate) fn portable(a: &[f32], b: &[f32]) -> f32 {
    const WIDTH: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; WIDTH];
    let main = n - n % WIDTH;
    for (ca, cb) in a[..main]
        .chunks_exact(WIDTH)
        .zip(b[..main].chunks_exact(WIDTH))
    {
        for l in 0..WIDTH {
            acc[l] += ca[l] * cb[l];
        }
    }
    let tail: f32 = a[main..].iter().zip(&b[main..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// The portable loop compiled for wider vectors.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512(a: &[f32], b: &[f32]) -> f32 {
        super::portable(a, b)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2(a: &[f32], b: &[f32]) -> f32 {
        super::portable(a, b)
    }
}

#[cfg(target_arch = "aarch64")]
fn neon_aarch64(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::aarch64::*;
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

/// Four q accumulators over 16 floats a step, in VFPv4 NEON.
///
/// # Safety
/// The CPU has NEON and VFPv4 (`CpuIsa::Neon` checked).
#[cfg(target_arch = "arm")]
unsafe fn neon_armv7(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let steps = n / 16;
    let main = steps * 16;
    let mut partial = [0.0f32; 4];
    if steps > 0 {
        std::arch::asm!(
            ".fpu neon-vfpv4",
            "vmov.i32 q8, #0",
            "vmov.i32 q9, #0",
            "vmov.i32 q10, #0",
            "vmov.i32 q11, #0",
            "2:",
            "vld1.32 {{q0, q1}}, [{a}]!",
            "vld1.32 {{q2, q3}}, [{a}]!",
            "vld1.32 {{q4, q5}}, [{b}]!",
            "vld1.32 {{q6, q7}}, [{b}]!",
            "vfma.f32 q8, q0, q4",
            "vfma.f32 q9, q1, q5",
            "vfma.f32 q10, q2, q6",
            "vfma.f32 q11, q3, q7",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vadd.f32 q8, q8, q9",
            "vadd.f32 q10, q10, q11",
            "vadd.f32 q8, q8, q10",
            "vst1.32 {{q8}}, [{out}]",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            n = inout(reg) steps => _,
            out = in(reg) partial.as_mut_ptr(),
            out("q0") _, out("q1") _, out("q2") _, out("q3") _, out("q4") _, out("q5") _, out("q6") _, out("q7") _,
            out("q8") _, out("q9") _, out("q10") _, out("q11") _,
            options(nostack),
        );
    }
    partial.iter().sum::<f32>()
        + a[main..n]
            .iter()
            .zip(&b[main..n])
            .map(|(x, y)| x * y)
            .sum::<f32>()
}
