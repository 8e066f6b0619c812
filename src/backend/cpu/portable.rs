//! The portable kernel table: plain Rust, for CPUs without hand-written
//! kernels (and `cpu/portable` on every machine). The compiler vectorises
//! the lane loops for whatever the build target offers.

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::{store_transposed, TileArgs};
use crate::backend::cpu::winograd::transform::{InputJob, OutputJob};
use crate::backend::cpu::winograd::Tiling;

const LANES: usize = 8;
const PIXELS: usize = 4;

pub(crate) struct Portable;

impl CpuKernels for Portable {
    const ISA: CpuIsa = CpuIsa::Portable;
    const LANES: usize = LANES;
    const PIXELS: usize = PIXELS;
    const ROW_PIXELS: usize = 0;

    unsafe fn tile(t: &TileArgs, vectors: usize) {
        if vectors == 2 {
            tile::<2>(t)
        } else {
            tile::<1>(t)
        }
    }

    unsafe fn tile_row(t: &TileArgs) {
        // Never called (ROW_PIXELS is 0); computing it as a plain tile keeps
        // it correct if it ever were.
        tile::<1>(t)
    }

    // Nothing to gain without vector lanes.
    unsafe fn tile_contiguous(t: &TileArgs, vectors: usize) {
        Self::tile(t, vectors)
    }

    unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b)
    }

    unsafe fn max_pool_2x2_row(_top: &[f32], _bottom: &[f32], _row: &mut [f32]) -> usize {
        0
    }

    unsafe fn winograd_input<const M: usize, const A: usize, T: Tiling<M, A>>(job: &InputJob) {
        winograd_input::<M, A, T>(job)
    }

    unsafe fn winograd_output<const M: usize, const A: usize, T: Tiling<M, A>>(job: &OutputJob) {
        winograd_output::<M, A, T>(job)
    }
}

crate::backend::cpu::winograd::transform::winograd_transforms!();

/// Independent partial sums, which the compiler vectorises (the x86 tables
/// compile it for their vector width).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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

// Index loops over the register arrays mirror the x86 kernels and unroll fully.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn tile<const MV: usize>(t: &TileArgs) {
    let mut acc = [[[0.0f32; LANES]; MV]; PIXELS];
    for d in 0..t.depth {
        let x = t.x.add(*t.kofs.add(d) as usize);
        let mut a = [[0.0f32; LANES]; MV];
        for v in 0..MV {
            a[v].copy_from_slice(std::slice::from_raw_parts(t.a[v].add(d * LANES), LANES));
        }
        for i in 0..PIXELS {
            let xi = *x.add(t.pix[i]);
            for v in 0..MV {
                for l in 0..LANES {
                    acc[i][v][l] += xi * a[v][l];
                }
            }
        }
    }
    let width = MV * LANES;
    let mut tmp = [0.0f32; PIXELS * 2 * LANES];
    for i in 0..PIXELS {
        for v in 0..MV {
            for l in 0..LANES {
                let mut r = acc[i][v][l] + *t.bias.add(v * LANES + l);
                if t.relu {
                    r = r.max(0.0);
                }
                tmp[i * width + v * LANES + l] = r;
            }
        }
    }
    store_transposed(&tmp, width, t);
}
