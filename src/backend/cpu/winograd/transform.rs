//! The input and output transforms, written once over fixed-size lane
//! arrays so that the compiler vectorises them; each kernel table compiles
//! them for its instruction set (`CpuKernels::winograd_input`/`_output`).

use super::tiling::{Lanes, Tiling, HALF_GROUP, LANE_GROUP};

/// Transforms a run of `tiles` consecutive input tiles of one tile row.
#[derive(Clone, Copy)]
pub(crate) struct InputJob {
    /// The first tile's top-left pixel, channel 0, in a channel-minor (HWC)
    /// padded image: pixel (y, x) channel c at `y·row + x·pixel + c`.
    pub src: *const f32,
    pub row: usize,
    pub pixel: usize,
    /// Channels to transform (the active inputs).
    pub channels: usize,
    pub tiles: usize,
    /// The first tile's transformed input at ξ = 0: tile t's channel c at ξ
    /// is at `ξ·plane + t·pixel + c` (the same channel-minor layout).
    pub dst: *mut f32,
    pub plane: usize,
}

/// Transforms `tiles` tiles of one output channel, numbered across the
/// batch, and writes them with bias and ReLU into the channel's NCHW planes.
#[derive(Clone, Copy)]
pub(crate) struct OutputJob {
    /// The channel's products at ξ = 0 for tile 0; tile t at ξ is at
    /// `ξ·plane + t`.
    pub src: *const f32,
    pub plane: usize,
    pub tiles_x: usize,
    /// Tiles per image.
    pub tiles_per_image: usize,
    /// The global index (across the batch) of the job's tile 0.
    pub first: usize,
    pub tiles: usize,
    /// Image 0's output plane for the channel, `ho × wo`; image n's is
    /// `n·image` further. Tiles past the plane's edge are cut.
    pub dst: *mut f32,
    pub image: usize,
    pub ho: usize,
    pub wo: usize,
    pub bias: f32,
    pub relu: bool,
}

/// `B·x·Bᵀ`-style sandwich of one tile for `L` tiles or channels at once:
/// `one_d` over the columns, then over the rows. Callers pass an
/// `#[inline(always)]` closure: a function item, or a plain closure, was
/// called out of line, and so compiled without the table's vector
/// instruction set (perf: 6 % of L2's F(2×2, 5×5) time in SSE code).
#[inline(always)]
fn sandwich<const R: usize, const C: usize, const L: usize>(
    one_d: impl Fn(&[[f32; L]; C]) -> [[f32; L]; R],
    x: &[[[f32; L]; C]; C],
    y: &mut [[[f32; L]; R]; R],
) {
    // t = mat·x, column by column: t[i][c].
    let mut t = [[[0.0; L]; C]; R];
    for c in 0..C {
        let column = one_d(&std::array::from_fn(|r| x[r][c]));
        for i in 0..R {
            t[i][c] = column[i];
        }
    }
    for i in 0..R {
        y[i] = one_d(&t[i]);
    }
}

/// # Safety
/// Every pixel of every tile's α×α window, for `channels` channels, is
/// readable at `src`; every transformed value is writable at `dst`, and no
/// one else accesses them meanwhile.
#[inline(always)]
pub(crate) unsafe fn input<const M: usize, const A: usize, T: Tiling<M, A>>(job: &InputJob) {
    let mut d = [[[0.0f32; LANE_GROUP]; A]; A];
    let mut v = [[[0.0f32; LANE_GROUP]; A]; A];
    for tile in 0..job.tiles {
        let src = job.src.add(tile * M * job.pixel);
        let dst = job.dst.add(tile * job.pixel);
        let mut c0 = 0;
        while c0 < job.channels {
            let n = (job.channels - c0).min(LANE_GROUP);
            // d[r][c]: the tile's pixel (r, c), channels c0..c0+n.
            for (r, row) in d.iter_mut().enumerate() {
                for (c, lanes) in row.iter_mut().enumerate() {
                    load(src.add(r * job.row + c * job.pixel + c0), lanes, n);
                }
            }
            sandwich(
                #[inline(always)]
                |x| T::input_1d::<LANE_GROUP>(x),
                &d,
                &mut v,
            );
            for (i, row) in v.iter().enumerate() {
                for (j, lanes) in row.iter().enumerate() {
                    store(lanes, dst.add((i * A + j) * job.plane + c0), n);
                }
            }
            c0 += LANE_GROUP;
        }
    }
}

/// # Safety
/// The products of all `tiles` tiles are readable at `src` for every ξ; the
/// output planes are writable and no one else writes them meanwhile.
#[inline(always)]
pub(crate) unsafe fn output<const M: usize, const A: usize, T: Tiling<M, A>>(job: &OutputJob) {
    let mut t0 = 0;
    while t0 < job.tiles {
        let n = (job.tiles - t0).min(LANE_GROUP);
        if n <= HALF_GROUP {
            output_lanes::<M, A, T, HALF_GROUP>(job, t0, n);
        } else {
            output_lanes::<M, A, T, LANE_GROUP>(job, t0, n);
        }
        t0 += n;
    }
}

/// Tiles `t0..t0 + n` (n ≤ L) of an output job, `L` at once.
///
/// # Safety
/// As [`output`].
// `l` indexes the lanes of every row's values, not one array.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn output_lanes<const M: usize, const A: usize, T: Tiling<M, A>, const L: usize>(
    job: &OutputJob,
    t0: usize,
    n: usize,
) {
    let mut m = [[[0.0f32; L]; A]; A];
    let mut y = [[[0.0f32; L]; M]; M];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, lanes) in row.iter_mut().enumerate() {
            load(job.src.add((i * A + j) * job.plane + t0), lanes, n);
        }
    }
    sandwich(
        #[inline(always)]
        |x| T::output_1d::<L>(x),
        &m,
        &mut y,
    );
    for row in y.iter_mut() {
        for lanes in row.iter_mut() {
            for v in lanes.iter_mut() {
                *v += job.bias;
                if job.relu {
                    *v = v.max(0.0);
                }
            }
        }
    }
    // Tile t0's place, then one step at a time: a division per tile and
    // channel cost as much as the transform on the 5×5 layer.
    let first = job.first + t0;
    let (mut image, within) = (first / job.tiles_per_image, first % job.tiles_per_image);
    let (mut ty, mut tx) = (within / job.tiles_x, within % job.tiles_x);
    let interior_rows = M * (ty + 1) <= job.ho;
    if interior_rows && tx + n <= job.tiles_x && M * (tx + n) <= job.wo {
        // The common case: n whole tiles side by side on one tile row, each
        // row of each tile one M-float store.
        let out = job.dst.add(image * job.image + M * ty * job.wo + M * tx);
        for (a, row) in y.iter().enumerate() {
            let out = out.add(a * job.wo);
            for l in 0..n {
                let values: [f32; M] = std::array::from_fn(|b| row[b][l]);
                std::ptr::write_unaligned(out.add(M * l) as *mut [f32; M], values);
            }
        }
        return;
    }
    for l in 0..n {
        let (oy, ox) = (M * ty, M * tx);
        let plane = job.dst.add(image * job.image);
        for (a, row) in y.iter().enumerate().take(job.ho - oy) {
            let out = plane.add((oy + a) * job.wo + ox);
            for (b, lanes) in row.iter().enumerate().take(job.wo - ox) {
                *out.add(b) = lanes[l];
            }
        }
        tx += 1;
        if tx == job.tiles_x {
            tx = 0;
            ty += 1;
            if ty * job.tiles_x == job.tiles_per_image {
                ty = 0;
                image += 1;
            }
        }
    }
}

/// Loads `n ≤ L` floats; the rest of `lanes` is left as it was.
#[inline(always)]
unsafe fn load<const L: usize>(src: *const f32, lanes: &mut [f32; L], n: usize) {
    if n == L {
        *lanes = std::ptr::read_unaligned(src as *const [f32; L]);
    } else {
        // A plain loop: `copy_nonoverlapping` of a variable length is a
        // call to memmove, which dominated small layers.
        for (l, v) in lanes.iter_mut().enumerate().take(n) {
            *v = *src.add(l);
        }
    }
}

#[inline(always)]
unsafe fn store(lanes: &Lanes, dst: *mut f32, n: usize) {
    if n == LANE_GROUP {
        std::ptr::write_unaligned(dst as *mut Lanes, *lanes);
    } else {
        for (l, v) in lanes.iter().enumerate().take(n) {
            *dst.add(l) = *v;
        }
    }
}

/// Defines the free functions `winograd_input` and `winograd_output` that a
/// kernel table's `CpuKernels` entries forward to, compiled with the table's
/// target feature (none for tables whose ISA is the build target's baseline).
macro_rules! winograd_transforms {
    ($(feature: $feature:literal)?) => {
        /// # Safety
        /// The CPU supports the table's ISA; as [`transform::input`](crate::backend::cpu::winograd::transform::input).
        $(#[target_feature(enable = $feature)])?
        unsafe fn winograd_input<const M: usize, const A: usize, T: $crate::backend::cpu::winograd::Tiling<M, A>>(
            job: &$crate::backend::cpu::winograd::transform::InputJob,
        ) {
            $crate::backend::cpu::winograd::transform::input::<M, A, T>(job)
        }

        /// # Safety
        /// The CPU supports the table's ISA; as [`transform::output`](crate::backend::cpu::winograd::transform::output).
        $(#[target_feature(enable = $feature)])?
        unsafe fn winograd_output<const M: usize, const A: usize, T: $crate::backend::cpu::winograd::Tiling<M, A>>(
            job: &$crate::backend::cpu::winograd::transform::OutputJob,
        ) {
            $crate::backend::cpu::winograd::transform::output::<M, A, T>(job)
        }
    };
}
pub(crate) use winograd_transforms;
