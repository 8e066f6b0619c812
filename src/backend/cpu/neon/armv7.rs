//! The ARMv7 NEON kernel table (the Odroid XU3's Cortex-A15 and A7). Stable Rust has no 32-bit NEON intrinsics, so the reduction loop is
//! inline assembly; the epilogue (bias, ReLU, NCHW store) stays in Rust.
//!
//! Tile: 8 channels (two q registers of weights) × 4 pixels, 8 accumulators
//! in q8–q15. `vfma` needs VFPv4, which both cores have and which
//! `CpuIsa::Neon` checks at run time (AT_HWCAP).

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::{store_transposed, TileArgs};
use crate::backend::cpu::winograd::transform::{InputJob, OutputJob};
use crate::backend::cpu::winograd::Tiling;

pub(crate) struct Neon;

const LANES: usize = 4;
const PIXELS: usize = 4;

impl CpuKernels for Neon {
    const ISA: CpuIsa = CpuIsa::Neon;
    const LANES: usize = LANES;
    const PIXELS: usize = PIXELS;
    const ROW_PIXELS: usize = 0;

    unsafe fn tile(t: &TileArgs, vectors: usize) {
        // One sliver: run the same two-sliver loop on it twice; the extra
        // rows are never stored (rows ≤ 4).
        let a1 = if vectors == 2 { t.a[1] } else { t.a[0] };
        let mut acc = [0.0f32; 2 * LANES * PIXELS];
        if t.depth > 0 {
            reduce(t, a1, &mut acc);
        }
        // acc is [pixel][vector][lane]: pixel-major rows of 8 channels.
        let width = 2 * LANES;
        for i in 0..PIXELS {
            for c in 0..width {
                let v = &mut acc[i * width + c];
                // Biases exist for `vectors` slivers; further rows are not stored.
                if c < vectors * LANES {
                    *v += *t.bias.add(c);
                }
                if t.relu {
                    *v = v.max(0.0);
                }
            }
        }
        store_transposed(&acc, width, t);
    }

    unsafe fn tile_row(t: &TileArgs) {
        // Never called (ROW_PIXELS is 0).
        Self::tile(t, 1)
    }

    // AArch32 NEON has no fused multiply by lane (only `vmla`, which rounds twice),
    // so the broadcasting tile keeps the products bit-identical to `tile`.
    unsafe fn tile_contiguous(t: &TileArgs, vectors: usize) {
        Self::tile(t, vectors)
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

// The thumbv7neon target has NEON as its baseline.
crate::backend::cpu::winograd::transform::winograd_transforms!();

/// acc[i·8 + v·4 + l] = Σ_d a_v[d·4 + l] · x[kofs[d] + pix[i]].
#[inline(never)]
unsafe fn reduce(t: &TileArgs, a1: *const f32, acc: &mut [f32; 32]) {
    let x = t.x as usize;
    let [p0, p1, p2, p3] = [t.pix[0] * 4, t.pix[1] * 4, t.pix[2] * 4, t.pix[3] * 4];
    std::arch::asm!(
        ".fpu neon-vfpv4",
        "vmov.i32 q8, #0",
        "vmov.i32 q9, #0",
        "vmov.i32 q10, #0",
        "vmov.i32 q11, #0",
        "vmov.i32 q12, #0",
        "vmov.i32 q13, #0",
        "vmov.i32 q14, #0",
        "vmov.i32 q15, #0",
        "2:",
        "ldr {t}, [{kofs}], #4",
        "add {t}, {x}, {t}, lsl #2",
        "vld1.32 {{q0}}, [{a0}]!",
        "vld1.32 {{q1}}, [{a1}]!",
        "add {u}, {t}, {p0}",
        "vld1.32 {{d4[], d5[]}}, [{u}]",
        "add {u}, {t}, {p1}",
        "vld1.32 {{d6[], d7[]}}, [{u}]",
        "add {u}, {t}, {p2}",
        "vld1.32 {{d8[], d9[]}}, [{u}]",
        "add {u}, {t}, {p3}",
        "vld1.32 {{d10[], d11[]}}, [{u}]",
        "vfma.f32 q8, q0, q2",
        "vfma.f32 q9, q1, q2",
        "vfma.f32 q10, q0, q3",
        "vfma.f32 q11, q1, q3",
        "vfma.f32 q12, q0, q4",
        "vfma.f32 q13, q1, q4",
        "vfma.f32 q14, q0, q5",
        "vfma.f32 q15, q1, q5",
        "subs {n}, {n}, #1",
        "bne 2b",
        "vst1.32 {{q8, q9}}, [{acc}]!",
        "vst1.32 {{q10, q11}}, [{acc}]!",
        "vst1.32 {{q12, q13}}, [{acc}]!",
        "vst1.32 {{q14, q15}}, [{acc}]",
        kofs = inout(reg) t.kofs => _,
        a0 = inout(reg) t.a[0] => _,
        a1 = inout(reg) a1 => _,
        x = in(reg) x,
        p0 = in(reg) p0,
        p1 = in(reg) p1,
        p2 = in(reg) p2,
        p3 = in(reg) p3,
        n = inout(reg) t.depth => _,
        acc = inout(reg) acc.as_mut_ptr() => _,
        t = out(reg) _,
        u = out(reg) _,
        out("q0") _, out("q1") _, out("q2") _, out("q3") _, out("q4") _, out("q5") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _, out("q12") _, out("q13") _, out("q14") _, out("q15") _,
        options(nostack),
    );
}

/// NEON and VFPv4 (for `vfma`), from the kernel's hardware capabilities.
pub(crate) fn supported() -> Result<(), String> {
    const HWCAP_NEON: libc::c_ulong = 1 << 12;
    const HWCAP_VFPV4: libc::c_ulong = 1 << 16;
    // SAFETY: getauxval only reads the process's auxiliary vector.
    let hwcap = unsafe { libc::getauxval(libc::AT_HWCAP) };
    match (hwcap & HWCAP_NEON != 0, hwcap & HWCAP_VFPV4 != 0) {
        (true, true) => Ok(()),
        (false, _) => Err("this CPU has no NEON (AT_HWCAP)".into()),
        (true, false) => {
            Err("this CPU has NEON but not VFPv4's fused multiply-add (AT_HWCAP)".into())
        }
    }
}

/// Four accumulators of four lanes, in assembly.
///
/// # Safety
/// The CPU has NEON and VFPv4.
unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Four outputs a step on ARMv7 NEON (the backend checked the CPU has it). Its `vmax.f32`
/// returns NaN for a NaN input, unlike `f32::max`, so each input is folded
/// into a running max that starts at −∞ only where it is not NaN (a
/// self-compare mask): exactly the oracle's fold. Returns how many outputs it wrote.
///
/// # Safety
/// The CPU has NEON; `top` and `bottom` hold `2·row.len()` floats.
unsafe fn max_pool_2x2_row(top: &[f32], bottom: &[f32], row: &mut [f32]) -> usize {
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
