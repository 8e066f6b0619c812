//! The kernel table: every kernel the CPU backend runs, for one instruction
//! set. Each instruction set fills it once, in one file: `x86/avx512.rs`,
//! `x86/avx2.rs`, `neon/aarch64.rs`, `neon/armv7.rs` and `portable.rs`.
//! `CpuBackend::prepare` picks the table once per layer (the backend's ISA,
//! checked when it was built), so adding a kernel means adding an entry here
//! and filling it in those files, and adding an ISA means one new file.

use crate::backend::cpu::isa::CpuIsa;
use crate::backend::cpu::tile::TileArgs;
use crate::backend::cpu::winograd::transform::{InputJob, OutputJob};
use crate::backend::cpu::winograd::Tiling;

/// A dot product as the dense layers call it: `Σ a[i]·b[i]` over the shorter
/// length.
pub(crate) type DotFn = fn(&[f32], &[f32]) -> f32;

/// One output row of a 2×2, stride-2 max-pool from its two input rows (each
/// `2·row.len()` long), as far as the kernel goes: returns how many outputs
/// it wrote, and the caller computes the rest.
pub(crate) type MaxPoolRowFn = fn(&[f32], &[f32], &mut [f32]) -> usize;

pub(crate) trait CpuKernels: Send + Sync + 'static {
    const ISA: CpuIsa;
    /// Output channels per weight vector (a sliver).
    const LANES: usize;
    /// Pixels of the register tile.
    const PIXELS: usize;
    /// Pixels of the row tile (one sliver, consecutive pixels of one output
    /// row at stride 1), or 0 when the ISA has none.
    const ROW_PIXELS: usize;

    /// Computes one convolution tile of `vectors` (1 or 2) slivers.
    ///
    /// # Safety
    /// The CPU supports `Self::ISA`; `x + kofs[d] + pix[i]` is in bounds for
    /// every `d < depth` and `i < PIXELS`; `a[..vectors]` hold `depth·LANES`
    /// floats and `bias` `vectors·LANES`; `out` is valid for `rows` rows of
    /// `cols` floats, `ld` apart, and no one else writes them.
    unsafe fn tile(t: &TileArgs, vectors: usize);

    /// Computes a row tile: one sliver by `ROW_PIXELS` pixels whose inputs
    /// are consecutive, `pix[0]` being the first pixel's offset. Twice the
    /// pixels of [`tile`](Self::tile) at one sliver keeps as many
    /// accumulators busy as a two-sliver tile, for layers with few channels
    /// per group.
    ///
    /// # Safety
    /// As [`tile`](Self::tile), with `x + kofs[d] + pix[0] + i` in bounds for
    /// `i < ROW_PIXELS`; only called when `ROW_PIXELS > 0`.
    unsafe fn tile_row(t: &TileArgs);

    /// Computes a tile as [`tile`](Self::tile) does, for a reduction whose
    /// steps are consecutive floats of `x` (`kofs[d] == d`): the Winograd
    /// products, whose transformed input is channel-minor. The result is
    /// bit-identical to `tile`'s (the same FMAs in the same order); an ISA
    /// that can multiply by a vector lane loads several steps of a pixel at
    /// once instead of broadcasting each, and the others run `tile`.
    ///
    /// # Safety
    /// As [`tile`](Self::tile), and `kofs[d] == d` for every `d < depth`.
    unsafe fn tile_contiguous(t: &TileArgs, vectors: usize);

    /// `Σ a[i]·b[i]` over the shorter length.
    ///
    /// # Safety
    /// The CPU supports `Self::ISA`.
    unsafe fn dot(a: &[f32], b: &[f32]) -> f32;

    /// As [`MaxPoolRowFn`]; the ISAs without a hand-written row return 0.
    /// The result must equal the oracle's fold (`f32::max` from −∞), NaNs
    /// included.
    ///
    /// # Safety
    /// The CPU supports `Self::ISA`; `top` and `bottom` hold at least
    /// `2·row.len()` floats.
    unsafe fn max_pool_2x2_row(top: &[f32], bottom: &[f32], row: &mut [f32]) -> usize;

    /// Winograd input transform of a run of tiles
    /// ([`transform::input`](crate::backend::cpu::winograd::transform::input)),
    /// compiled for this ISA.
    ///
    /// # Safety
    /// The CPU supports `Self::ISA`; as `transform::input`.
    unsafe fn winograd_input<const M: usize, const A: usize, T: Tiling<M, A>>(job: &InputJob);

    /// Winograd output transform of one channel's tiles
    /// ([`transform::output`](crate::backend::cpu::winograd::transform::output)),
    /// compiled for this ISA.
    ///
    /// # Safety
    /// The CPU supports `Self::ISA`; as `transform::output`.
    unsafe fn winograd_output<const M: usize, const A: usize, T: Tiling<M, A>>(job: &OutputJob);
}

/// The table's dot product as a safe function pointer.
///
/// Sound because it is only instantiated by `CpuBackend::prepare` for the
/// backend's ISA, which `CpuBackend::new` required the CPU to support.
pub(crate) fn dot_fn<K: CpuKernels>() -> DotFn {
    // SAFETY: see above.
    |a, b| unsafe { K::dot(a, b) }
}

/// The table's pool row as a safe function pointer (sound as [`dot_fn`];
/// the lengths are checked here).
pub(crate) fn max_pool_row_fn<K: CpuKernels>() -> MaxPoolRowFn {
    |top, bottom, row| {
        let inputs = 2 * row.len();
        assert!(top.len() >= inputs && bottom.len() >= inputs);
        // SAFETY: the ISA as above; the lengths were just checked.
        unsafe { K::max_pool_2x2_row(top, bottom, row) }
    }
}
