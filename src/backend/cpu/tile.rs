//! The register tile every CPU convolution kernel computes.
//!
//! A tile is up to `2·LANES` output channels (vector lanes, weights packed so
//! that one load fetches a lane's worth of channels) by `PIXELS` output
//! positions (each input value is broadcast to all lanes). Input values are
//! read straight from the (padded) input through offset tables, so there is no
//! im2col buffer; see `conv.rs` for how the tables are built.

use crate::backend::cpu::isa::CpuIsa;

/// Pixels of the widest tile of any kernel; sizes [`TileArgs::pix`].
pub(crate) const MAX_PIXELS: usize = 8;

#[derive(Clone, Copy)]
pub(crate) struct TileArgs {
    /// The image's first input channel (padded when the layer pads).
    pub x: *const f32,
    /// For each step of the reduction: the offset of its (channel, tap) in `x`.
    pub kofs: *const u32,
    pub depth: usize,
    /// For each tile pixel: the offset of its window's top-left in `x`.
    pub pix: [usize; MAX_PIXELS],
    /// Packed weights of one or two slivers, each `[depth][LANES]`.
    pub a: [*const f32; 2],
    /// `vectors·LANES` biases (zero-padded).
    pub bias: *const f32,
    pub relu: bool,
    /// Output channel `co0`, pixel `p0`; channel rows are `ld` apart.
    pub out: *mut f32,
    pub ld: usize,
    /// Valid channels (≤ vectors·LANES) and pixels (≤ PIXELS) to store.
    pub rows: usize,
    pub cols: usize,
}

pub(crate) trait TileKernel: Send + Sync + 'static {
    const ISA: CpuIsa;
    const LANES: usize;
    const PIXELS: usize;

    /// Pixels of the row tile (one sliver, consecutive pixels of one output
    /// row at stride 1), or 0 when the ISA has none.
    const ROW_PIXELS: usize;

    /// Computes one tile of `vectors` (1 or 2) slivers.
    ///
    /// # Safety
    /// The CPU supports `Self::ISA`; `x + kofs[d] + pix[i]` is in bounds for
    /// every `d < depth` and `i < PIXELS`; `a[..vectors]` hold `depth·LANES`
    /// floats and `bias` `vectors·LANES`; `out` is valid for `rows` rows of
    /// `cols` floats, `ld` apart, and no one else writes them.
    unsafe fn tile(t: &TileArgs, vectors: usize);

    /// Computes a row tile: one sliver by `ROW_PIXELS` pixels whose inputs are
    /// consecutive, `pix[0]` being the first pixel's offset. Twice the pixels
    /// of [`tile`](Self::tile) at one sliver keeps as many accumulators busy
    /// as a two-sliver tile, for layers with few channels per group.
    ///
    /// # Safety
    /// As [`tile`](Self::tile), with `x + kofs[d] + pix[0] + i` in bounds for
    /// `i < ROW_PIXELS`; only called when `ROW_PIXELS > 0`.
    unsafe fn tile_row(t: &TileArgs);
}

/// Writes a pixel-major register tile (`tmp[i·width + c]`) to channel-major
/// NCHW output rows.
///
/// # Safety
/// As [`TileKernel::tile`] for `out`, `ld`, `rows` and `cols`.
#[inline(always)]
pub(crate) unsafe fn store_transposed(tmp: &[f32], width: usize, t: &TileArgs) {
    for c in 0..t.rows {
        let row = t.out.add(c * t.ld);
        for i in 0..t.cols {
            *row.add(i) = tmp[i * width + c];
        }
    }
}
