//! The register tile every CPU convolution kernel computes.
//!
//! A tile is up to `2·LANES` output channels (vector lanes, weights packed so
//! that one load fetches a lane's worth of channels) by `PIXELS` output
//! positions (each input value is broadcast to all lanes). Input values are
//! read straight from the (padded) input through offset tables, so there is no
//! im2col buffer; see `conv.rs` for how the tables are built.

/// Pixels of the widest tile of any kernel; sizes [`TileArgs::pix`].
pub(crate) const MAX_PIXELS: usize = 8;

/// The narrow tile's pixels, for remainders of at most this many: a
/// 3×3 Winograd F(4×4) layer on an 8×8 output has 4 tiles per image, which
/// filled 4 of a 6- or 8-pixel tile's columns, the rest computed and thrown
/// away. (ISAs whose tile is this narrow already need no second size.)
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) const NARROW_PIXELS: usize = 4;

/// How far ahead the weight stream is prefetched, in reduction steps. A
/// tile's weights (`depth × 2·lanes` floats) outgrow L1 on most layers and are
/// re-read for every pixel tile; without the hint the loads wait on L2
/// (measured: 172 → 191 GFLOP/s on L4 with AVX-512). 8 to 32 performed alike.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) const PREFETCH_STEPS: usize = 16;

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

/// Writes a pixel-major register tile (`tmp[i·width + c]`) to channel-major
/// NCHW output rows.
///
/// # Safety
/// As [`CpuKernels::tile`](super::kernels::CpuKernels::tile) for `out`, `ld`, `rows` and `cols`.
#[inline(always)]
pub(crate) unsafe fn store_transposed(tmp: &[f32], width: usize, t: &TileArgs) {
    for c in 0..t.rows {
        let row = t.out.add(c * t.ld);
        for i in 0..t.cols {
            *row.add(i) = tmp[i * width + c];
        }
    }
}

/// Defines the convolution tiles `tile_any` (`tile::<MV, P>`) and `tile_row` of a
/// [`CpuKernels`](super::kernels::CpuKernels) table for one vector
/// instruction set. The loop nest is written once here; only the intrinsics
/// differ. `fma(a, b, c)` is `a·b + c`; `prefetch(p)` hints that `p` is read
/// soon (it may point past a buffer, so it must not fault). Tiles are written
/// through a buffer by `store_transposed` unless the ISA gives faster
/// `full_tile_store`/`full_row_store` routines for whole tiles (and
/// `narrow_tile_store` for whole narrow ones).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! simd_tiles {
    (
        feature: $feature:literal, vector: $vector:ty, lanes: $lanes:expr, pixels: $pixels:expr,
        zero: $zero:ident, load: $load:ident, store: $store:ident, splat: $splat:ident,
        fma: $fma:ident, add: $add:ident, max: $max:ident, prefetch: $prefetch:path
        $(, full_tile_store: $full_tile_store:path, full_row_store: $full_row_store:path)?
        $(, narrow_tile_store: $narrow_tile_store:path)?
    ) => {
        /// # Safety
        /// As [`CpuKernels::tile_row`](crate::backend::cpu::kernels::CpuKernels::tile_row).
        // Index loops over the register arrays unroll fully into registers.
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = $feature)]
        unsafe fn tile_row(t: &$crate::backend::cpu::tile::TileArgs) {
            const NP: usize = 2 * $pixels;
            let mut acc = [$zero(); NP];
            let first = t.x.add(t.pix[0]);
            for d in 0..t.depth {
                let x = first.add(*t.kofs.add(d) as usize);
                $prefetch(
                    t.a[0].wrapping_add((d + $crate::backend::cpu::tile::PREFETCH_STEPS) * $lanes),
                );
                let a = $load(t.a[0].add(d * $lanes));
                for i in 0..NP {
                    acc[i] = $fma($splat(*x.add(i)), a, acc[i]);
                }
            }
            let bias = $load(t.bias);
            let mut out = [$zero(); NP];
            for i in 0..NP {
                out[i] = $add(acc[i], bias);
                if t.relu {
                    out[i] = $max(out[i], $zero());
                }
            }
            $(
                if t.rows == $lanes && t.cols == NP {
                    return $full_row_store(&out, t);
                }
            )?
            let mut tmp = [0.0f32; NP * $lanes];
            for i in 0..NP {
                $store(tmp.as_mut_ptr().add(i * $lanes), out[i]);
            }
            $crate::backend::cpu::tile::store_transposed(&tmp, $lanes, t);
        }

        /// A tile of `MV` slivers by `P ≤ PIXELS` pixels: `P = PIXELS`
        /// normally, fewer for a narrow remainder (see [`NARROW_PIXELS`]).
        ///
        /// # Safety
        /// As [`CpuKernels::tile`](crate::backend::cpu::kernels::CpuKernels::tile).
        // Index loops over the register arrays unroll fully into registers.
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = $feature)]
        unsafe fn tile<const MV: usize, const P: usize>(t: &$crate::backend::cpu::tile::TileArgs) {
            const { assert!(P <= $pixels) };
            // Steps whose weights fill one 64-byte cache line: the weight
            // stream is prefetched once per line, not once per step.
            const LINE_STEPS: usize = if 16 / $lanes == 0 { 1 } else { 16 / $lanes };
            let mut acc = [[$zero(); MV]; P];
            let pix = t.pix;
            // One reduction step: a weight vector per sliver times P
            // broadcast inputs.
            let step = |acc: &mut [[_; MV]; P], d: usize| {
                let x = t.x.add(*t.kofs.add(d) as usize);
                let mut a = [$zero(); MV];
                for v in 0..MV {
                    a[v] = $load(t.a[v].add(d * $lanes));
                }
                for i in 0..P {
                    let xi = $splat(*x.add(pix[i]));
                    for v in 0..MV {
                        acc[i][v] = $fma(xi, a[v], acc[i][v]);
                    }
                }
            };
            #[allow(clippy::modulo_one)] // 16-lane vectors fill a line per step
            let lines_end = t.depth - t.depth % LINE_STEPS;
            let mut d = 0;
            while d < lines_end {
                for v in 0..MV {
                    $prefetch(
                        t.a[v].wrapping_add((d + $crate::backend::cpu::tile::PREFETCH_STEPS) * $lanes),
                    );
                }
                for u in 0..LINE_STEPS {
                    step(&mut acc, d + u);
                }
                d += LINE_STEPS;
            }
            for d in lines_end..t.depth {
                step(&mut acc, d);
            }
            finish_tile(&acc, t);
        }

        /// Adds the bias, applies the ReLU and stores a tile's accumulators
        /// (`P` pixels × `MV` slivers) into its NCHW rows: the end of every
        /// tile kernel of this table, including ISA-specific ones.
        ///
        /// # Safety
        /// As [`CpuKernels::tile`](crate::backend::cpu::kernels::CpuKernels::tile).
        #[allow(clippy::needless_range_loop)]
        #[inline(always)]
        unsafe fn finish_tile<const MV: usize, const P: usize>(
            acc: &[[$vector; MV]; P],
            t: &$crate::backend::cpu::tile::TileArgs,
        ) {
            let mut out = [[$zero(); MV]; P];
            for v in 0..MV {
                let bias = $load(t.bias.add(v * $lanes));
                for i in 0..P {
                    out[i][v] = $add(acc[i][v], bias);
                    if t.relu {
                        out[i][v] = $max(out[i][v], $zero());
                    }
                }
            }
            $(
                if P == $pixels && t.rows == MV * $lanes && t.cols == $pixels {
                    // SAFETY: P == PIXELS: the same type.
                    let full = &*(&out as *const [[_; MV]; P]).cast::<[[_; MV]; $pixels]>();
                    return $full_tile_store(full, t);
                }
            )?
            $(
                if P == $crate::backend::cpu::tile::NARROW_PIXELS
                    && t.rows == MV * $lanes
                    && t.cols == P
                {
                    // SAFETY: P == NARROW_PIXELS: the same type.
                    let narrow = &*(&out as *const [[_; MV]; P])
                        .cast::<[[_; MV]; $crate::backend::cpu::tile::NARROW_PIXELS]>();
                    return $narrow_tile_store(narrow, t);
                }
            )?
            let mut tmp = [0.0f32; $pixels * 2 * $lanes];
            let width = MV * $lanes;
            for i in 0..P {
                for v in 0..MV {
                    $store(tmp.as_mut_ptr().add(i * width + v * $lanes), out[i][v]);
                }
            }
            $crate::backend::cpu::tile::store_transposed(&tmp, width, t);
        }

        /// # Safety
        /// As [`CpuKernels::tile`](crate::backend::cpu::kernels::CpuKernels::tile).
        unsafe fn tile_any(t: &$crate::backend::cpu::tile::TileArgs, vectors: usize) {
            use $crate::backend::cpu::tile::NARROW_PIXELS as N;
            match (vectors == 2, t.cols <= N) {
                (true, false) => tile::<2, { $pixels }>(t),
                (true, true) => tile::<2, N>(t),
                (false, false) => tile::<1, { $pixels }>(t),
                (false, true) => tile::<1, N>(t),
            }
        }
    };
}
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) use simd_tiles;
