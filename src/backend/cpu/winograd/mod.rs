//! Grouped 3×3 and 5×5, stride-1 convolution by Winograd's minimal filtering
//! (`tiling.rs` has the algebra).
//!
//! At prepare time every group's filters are transformed once and packed,
//! per tile position ξ, into the same `[depth][LANES]` slivers the direct
//! kernels read. A run has four phases, each over the active groups' channels
//! only:
//!
//! 1. the input is copied channel-minor (HWC) into zero-bordered image slots;
//! 2. every α×α tile is transformed (vectorised over channels) into `V[ξ]`,
//!    `[tile][channel]`, all images' tiles side by side;
//! 3. for every ξ and group, `M[ξ] = U[ξ]·V[ξ]` on the table's convolution
//!    tile kernel (an offset table steps through the channels, another
//!    through the tiles), so a weight sliver is reused for every tile of every
//!    image in the batch;
//! 4. every output channel's tiles are transformed back (vectorised over
//!    tiles) with the bias and ReLU fused, into the NCHW output.
//!
//! Switching k changes how many channels each phase covers and nothing else:
//! the buffers are sized by `reserve` for all groups.

mod tiling;
pub(crate) mod transform;

use std::marker::PhantomData;
use std::ops::Range;

use crate::backend::cpu::kernels::CpuKernels;
use crate::backend::cpu::tile::{TileArgs, MAX_PIXELS};
use crate::backend::cpu::workers::{SharedConst, SharedMut, Workers};
use crate::backend::{check_run, Kernel};
use crate::error::{invalid, Error, Result};
use crate::model::conv::{Conv2d, Conv2dSpec};
use crate::model::group::{Connectivity, GroupLayout};
use crate::model::shape::Shape4;
use tiling::{Lanes, LANE_GROUP};
pub(crate) use tiling::{Tiling, F2, F2R5, F4};
use transform::{InputJob, OutputJob};

/// Whether a Winograd tiling for `r`×`r` filters computes this layer:
/// `r`×`r`, stride 1, no dilation.
pub(crate) fn applies(spec: &Conv2dSpec, r: usize) -> bool {
    spec.kernel == [r, r] && spec.stride == [1, 1] && spec.dilation == [1, 1]
}

/// Where one group's transformed filters sit: at `ξ·per_position + at` for
/// position ξ.
struct PackedGroup {
    at: usize,
    slivers: usize,
    depth: usize,
    first_input: usize,
}

/// Buffers and tables for one input size, built by `reserve`.
struct Plan {
    batch: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    tiles_y: usize,
    tiles_x: usize,
    /// The padded HWC image: `hp × wp` pixels of `inputs` channels.
    hp: usize,
    wp: usize,
    images: Vec<f32>,
    /// Tiles the phase schedule stages (runs of up to two blocks).
    phase_tiles: usize,
    /// `V[ξ][tile][channel]` for the phase schedule's tiles.
    transformed: Vec<f32>,
    /// `M[ξ][channel][tile]`.
    products: Vec<f32>,
    /// The blocked schedule's per-worker `V` and `M` of one block each.
    block_transformed: Vec<f32>,
    block_products: Vec<f32>,
    /// Offset tables of the matrix products: channel d at `d`, tile t at
    /// `t·inputs`.
    channel_offsets: Vec<u32>,
    tile_offsets: Vec<u32>,
}

pub(crate) struct CpuWinograd<K: CpuKernels, const M: usize, const A: usize, T: Tiling<M, A>> {
    spec: Conv2dSpec,
    layout: GroupLayout,
    groups: Vec<PackedGroup>,
    /// `[ξ][group][sliver][depth][LANES]`.
    packed: Vec<f32>,
    per_position: usize,
    /// Per output channel; zero when the layer has none.
    bias: Vec<f32>,
    /// The matrix products add no bias: the output transform does.
    zero_bias: Vec<f32>,
    /// `full` layers whose groups fill whole slivers run as one segment.
    merge_groups: bool,
    plan: Option<Plan>,
    workers: Workers,
    kernel: PhantomData<(K, T)>,
}

impl<K: CpuKernels, const M: usize, const A: usize, T: Tiling<M, A>> CpuWinograd<K, M, A, T> {
    pub fn new(layer: &Conv2d, workers: Workers) -> Result<Self> {
        // The tile kernels' and transforms' safety rests on this check.
        K::ISA.require()?;
        let spec = *layer.spec();
        if !applies(&spec, T::R) {
            return Err(invalid(format!(
                "{} needs a {r}×{r}, stride-1, undilated convolution",
                T::NAME,
                r = T::R
            )));
        }
        let layout = spec.layout();
        let weights = layer.weights().to_f32();
        let og = layout.outputs_per_group();
        let slivers = og.div_ceil(K::LANES);
        let mut groups = Vec::with_capacity(layout.groups);
        // α²/9 times the weights, padded to whole slivers: checked, since a
        // valid layer's weights may still make this too large to hold.
        let too_large = || {
            Error::Shape(format!(
                "{} needs more memory for this layer's transformed weights than it can hold",
                T::NAME
            ))
        };
        let mut per_position = 0usize;
        for j in 0..layout.groups {
            let inputs = layout.group_inputs(j);
            groups.push(PackedGroup {
                at: per_position,
                slivers,
                depth: inputs.len(),
                first_input: inputs.start,
            });
            per_position = slivers
                .checked_mul(inputs.len())
                .and_then(|n| n.checked_mul(K::LANES))
                .and_then(|n| n.checked_add(per_position))
                .ok_or_else(too_large)?;
        }
        let packed_len = per_position.checked_mul(A * A).ok_or_else(too_large)?;
        let mut packed = Vec::new();
        packed
            .try_reserve_exact(packed_len)
            .map_err(|_| too_large())?;
        packed.resize(packed_len, 0.0f32);
        for (j, group) in groups.iter().enumerate() {
            let w = &weights[layout.group_weights(j)];
            for row in 0..og {
                for d in 0..group.depth {
                    let taps = T::R * T::R;
                    let u = tiling::transform_filter::<M, A, T>(
                        &w[(row * group.depth + d) * taps..][..taps],
                    );
                    let (s, lane) = (row / K::LANES, row % K::LANES);
                    for (xi, value) in u.iter().flatten().enumerate() {
                        packed[xi * per_position
                            + group.at
                            + (s * group.depth + d) * K::LANES
                            + lane] = *value;
                    }
                }
            }
        }
        let bias = match layer.bias() {
            Some(b) => b.to_vec(),
            None => vec![0.0; layout.outputs],
        };
        Ok(Self {
            spec,
            layout,
            groups,
            packed,
            per_position,
            bias,
            zero_bias: vec![0.0; 2 * K::LANES],
            merge_groups: spec.connectivity == Connectivity::Full && og.is_multiple_of(K::LANES),
            plan: None,
            workers,
            kernel: PhantomData,
        })
    }

    fn plan_for(&mut self, n: usize, h: usize, w: usize) -> Result<()> {
        match &self.plan {
            Some(p) if p.h == h && p.w == w && p.batch >= n => Ok(()),
            _ => self.reserve(n, h, w),
        }
    }
}

/// The distance between two positions ξ of `V` or `M` holding `len` floats
/// each: one cache line more, so that the α² values of one tile, which a
/// transform reads or writes together, do not all fall in the same cache set
/// when `len` is a multiple of the page size (measured: the input transform
/// of L4 at batch 32 ran 4x slower).
fn skewed(len: usize) -> usize {
    len + 16
}

/// Copies rows `rows` of image `n`'s first `shape.c` planes, channel-minor,
/// into the interior of its slot, LANE_GROUP channels per store.
///
/// # Safety
/// `slot` is image n's padded HWC image of the plan's layout, and no one else
/// writes these rows meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn to_channel_minor(
    input: &[f32],
    shape: Shape4,
    n: usize,
    y: usize,
    plan: &Plan,
    inputs: usize,
    padding: [usize; 2],
    slot: *mut f32,
) {
    let (h, w) = (plan.h, plan.w);
    let plane = h * w;
    let image = &input[n * shape.c * plane..][..shape.c * plane];
    let dst = slot.add(((y + padding[0]) * plan.wp + padding[1]) * inputs);
    let mut c = 0;
    while c + LANE_GROUP <= shape.c {
        for x in 0..w {
            let lanes: Lanes = std::array::from_fn(|l| image[(c + l) * plane + y * w + x]);
            std::ptr::write_unaligned(dst.add(x * inputs + c) as *mut Lanes, lanes);
        }
        c += LANE_GROUP;
    }
    for c in c..shape.c {
        for x in 0..w {
            *dst.add(x * inputs + c) = image[c * plane + y * w + x];
        }
    }
}

/// Where a run's transformed inputs and products live: the whole-run
/// buffers, or one worker's block.
#[derive(Clone, Copy)]
struct Staging {
    transformed: *mut f32,
    products: *mut f32,
    plane_in: usize,
    plane_out: usize,
    /// Tiles the buffers hold: rows of M are this long.
    capacity: usize,
    /// The global index of the buffers' tile 0.
    first_tile: usize,
}

impl<K: CpuKernels, const M: usize, const A: usize, T: Tiling<M, A>> CpuWinograd<K, M, A, T> {
    /// Transforms tiles `tiles` (global indices) of input channels
    /// `channels` into the staging buffers.
    ///
    /// # Safety
    /// The images are copied; `tiles` lie within the staging's capacity from
    /// its first tile; no one else writes these values meanwhile.
    unsafe fn transform_inputs(
        &self,
        plan: &Plan,
        images: *const f32,
        stage: Staging,
        tiles: Range<usize>,
        channels: Range<usize>,
    ) {
        let inputs = self.layout.inputs;
        let slot_len = plan.hp * plan.wp * inputs;
        let per_image = plan.tiles_y * plan.tiles_x;
        let mut t = tiles.start;
        while t < tiles.end {
            let (n, within) = (t / per_image, t % per_image);
            let (ty, tx) = (within / plan.tiles_x, within % plan.tiles_x);
            let run = (plan.tiles_x - tx).min(tiles.end - t);
            let job = InputJob {
                src: images
                    .add(n * slot_len + (M * ty * plan.wp + M * tx) * inputs + channels.start),
                row: plan.wp * inputs,
                pixel: inputs,
                channels: channels.len(),
                tiles: run,
                dst: stage
                    .transformed
                    .add((t - stage.first_tile) * inputs + channels.start),
                plane: stage.plane_in,
            };
            K::winograd_input::<M, A, T>(&job);
            t += run;
        }
    }

    /// The segment `(group, slivers, first channel, channels)` with `k`
    /// groups active.
    fn segment(&self, k: usize, s: usize) -> (usize, usize, usize, usize) {
        let og = self.layout.outputs_per_group();
        if self.merge_groups {
            (0, k * self.groups[0].slivers, 0, k * og)
        } else {
            (s, self.groups[s].slivers, s * og, og)
        }
    }

    /// `M[ξ] = U[ξ]·V[ξ]` for one sliver pair of segment `seg`, over the
    /// staging's first `count` tiles.
    ///
    /// # Safety
    /// The segment's input channels of those tiles are transformed; the
    /// pair's rows of M belong to the caller.
    #[allow(clippy::too_many_arguments)]
    unsafe fn multiply(
        &self,
        plan: &Plan,
        stage: Staging,
        count: usize,
        k: usize,
        seg: usize,
        pair: usize,
        xi: usize,
    ) {
        let (group, slivers, first_channel, channels) = self.segment(k, seg);
        let g = &self.groups[group];
        let first_sliver = 2 * pair;
        let vectors = (slivers - first_sliver).min(2);
        let sliver_len = g.depth * K::LANES;
        let a_at = xi * self.per_position + g.at + first_sliver * sliver_len;
        let channel = first_channel + first_sliver * K::LANES;
        let packed = self.packed.as_ptr();
        let mut args = TileArgs {
            x: stage.transformed.add(xi * stage.plane_in + g.first_input),
            kofs: plan.channel_offsets.as_ptr(),
            depth: g.depth,
            pix: [0; MAX_PIXELS],
            a: [
                packed.add(a_at),
                packed.add(a_at + (vectors - 1) * sliver_len),
            ],
            bias: self.zero_bias.as_ptr(),
            relu: false,
            out: stage.products,
            ld: stage.capacity,
            rows: (channels - first_sliver * K::LANES).min(vectors * K::LANES),
            cols: 0,
        };
        let row = stage
            .products
            .add(xi * stage.plane_out + channel * stage.capacity);
        let mut t0 = 0;
        while t0 < count {
            args.out = row.add(t0);
            args.cols = (count - t0).min(K::PIXELS);
            for i in 0..K::PIXELS {
                // Tiles past the end repeat the last: read, not stored.
                args.pix[i] = plan.tile_offsets[(t0 + i).min(count - 1)] as usize;
            }
            // SAFETY: channel_offsets[d] == d (built by `reserve`).
            K::tile_contiguous(&args, vectors);
            t0 += K::PIXELS;
        }
    }

    /// Transforms output channel `co` of the staging's first `count` tiles
    /// back into the NCHW output (`active_out` channels).
    ///
    /// # Safety
    /// Its products are computed; the channel's pixels of those tiles belong
    /// to the caller.
    #[allow(clippy::too_many_arguments)]
    unsafe fn transform_output(
        &self,
        plan: &Plan,
        stage: Staging,
        count: usize,
        co: usize,
        out: *mut f32,
        active_out: usize,
    ) {
        let (ho, wo) = (plan.ho, plan.wo);
        let job = OutputJob {
            src: stage.products.add(co * stage.capacity),
            plane: stage.plane_out,
            tiles_x: plan.tiles_x,
            tiles_per_image: plan.tiles_y * plan.tiles_x,
            first: stage.first_tile,
            tiles: count,
            dst: out.add(co * ho * wo),
            image: active_out * ho * wo,
            ho,
            wo,
            bias: self.bias[co],
            relu: self.spec.relu,
        };
        K::winograd_output::<M, A, T>(&job);
    }
}

/// Tiles of one block in the blocked schedule: about 256 outputs, so that
/// a block's transformed inputs and products of one group stay in L2.
const fn block_tiles(m: usize) -> usize {
    256 / (m * m)
}

impl<K: CpuKernels, const M: usize, const A: usize, T: Tiling<M, A>> Kernel
    for CpuWinograd<K, M, A, T>
{
    fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()> {
        let input = Shape4::new(batch, self.layout.inputs, h, w);
        let out = self.spec.output_shape(input, self.layout.groups)?;
        let (ho, wo) = (out.h, out.w);
        let [ph, pw] = self.spec.padding;
        let too_large = || {
            invalid(format!(
                "input {batch}×{h}×{w} is too large for the Winograd kernels' 32-bit offsets"
            ))
        };
        let (tiles_y, tiles_x) = (ho.div_ceil(M), wo.div_ceil(M));
        // Tiles overhang the output by up to M - 1, so the padded image
        // covers the last tile's window, which may reach past the padding.
        let hp = (M * tiles_y + A - M).max(h + 2 * ph);
        let wp = (M * tiles_x + A - M).max(w + 2 * pw);
        let inputs = self.layout.inputs;
        let outputs = self.layout.outputs;
        let checked = |factors: &[usize]| {
            factors
                .iter()
                .try_fold(1usize, |acc, f| acc.checked_mul(*f))
                .filter(|n| *n <= u32::MAX as usize)
                .ok_or_else(too_large)
        };
        let tiles = checked(&[batch, tiles_y, tiles_x])?;
        let images_len = checked(&[batch, hp, wp, inputs])?;
        // The phase schedule stages every tile of runs of up to two blocks;
        // the blocked schedule one block per worker.
        let block = block_tiles(M);
        let phase_tiles = tiles.min(2 * block);
        let threads = self.workers.threads();
        let staging = |tiles: usize, copies: usize| -> Result<[usize; 2]> {
            let plane_in = skewed(checked(&[tiles, inputs])?);
            let plane_out = skewed(checked(&[tiles, outputs])?);
            Ok([
                checked(&[plane_in, A * A, copies])?,
                checked(&[plane_out, A * A, copies])?,
            ])
        };
        let [phase_in, phase_out] = staging(phase_tiles, 1)?;
        let [block_in, block_out] = if tiles > 2 * block {
            staging(block, threads)?
        } else {
            [0, 0]
        };
        let alloc = |len: usize, what: &str| -> Result<Vec<f32>> {
            let mut v = Vec::new();
            v.try_reserve_exact(len).map_err(|_| {
                Error::Shape(format!(
                    "cannot allocate {len} floats for the Winograd {what} of a batch of {batch}"
                ))
            })?;
            v.resize(len, 0.0);
            Ok(v)
        };
        self.plan = Some(Plan {
            batch,
            h,
            w,
            ho,
            wo,
            tiles_y,
            tiles_x,
            hp,
            wp,
            phase_tiles,
            images: alloc(images_len, "input images")?,
            transformed: alloc(phase_in, "transformed input")?,
            products: alloc(phase_out, "products")?,
            block_transformed: alloc(block_in, "block buffers")?,
            block_products: alloc(block_out, "block buffers")?,
            channel_offsets: (0..inputs as u32).collect(),
            tile_offsets: (0..phase_tiles.max(block))
                .map(|t| (t * inputs) as u32)
                .collect(),
        });
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // The unsafe phases below rely on these checks and on the plan, which
        // `reserve` builds from the same validated sizes.
        let out_shape = self.spec.output_shape(shape, k)?;
        check_run(shape, out_shape, input, output)?;
        self.plan_for(shape.n, shape.h, shape.w)?;
        let inputs = self.layout.inputs;
        let outputs = self.layout.outputs;
        let padding = self.spec.padding;
        let plan = self.plan.as_mut().expect("planned");
        let images = SharedMut::new(&mut plan.images);
        let transformed = SharedMut::new(&mut plan.transformed);
        let products = SharedMut::new(&mut plan.products);
        let block_transformed = SharedMut::new(&mut plan.block_transformed);
        let block_products = SharedMut::new(&mut plan.block_products);
        let out = SharedMut::new(output);
        let plan = self.plan.as_ref().expect("planned");
        let slot_len = plan.hp * plan.wp * inputs;
        let used_tiles = shape.n * plan.tiles_y * plan.tiles_x;
        let active_out = out_shape.c;
        let segments = if self.merge_groups { 1 } else { k };
        let pairs = |seg: usize| self.segment(k, seg).1.div_ceil(2);

        // Channel-minor copies, one task per image row.
        self.workers.run(shape.n * plan.h, |task, _| {
            let (n, y) = (task / plan.h, task % plan.h);
            // SAFETY: slot n belongs to image n, and row y to this task.
            unsafe {
                to_channel_minor(
                    input,
                    shape,
                    n,
                    y,
                    plan,
                    inputs,
                    padding,
                    images.ptr().add(n * slot_len),
                )
            };
        });
        let images = SharedConst::new(images.ptr());

        let block = block_tiles(M);
        if used_tiles > plan.phase_tiles {
            // Blocked: each task takes a block of tiles through all three
            // steps in its worker's buffers, which stay in cache.
            let plane_in = skewed(block * inputs);
            let plane_out = skewed(block * outputs);
            let blocks = used_tiles.div_ceil(block);
            self.workers.run(blocks, |b, worker| {
                let tiles = b * block..((b + 1) * block).min(used_tiles);
                let count = tiles.len();
                // SAFETY: worker `worker` owns its staging copy; the block's
                // output pixels belong to this task alone.
                unsafe {
                    let stage = Staging {
                        transformed: block_transformed.ptr().add(worker * A * A * plane_in),
                        products: block_products.ptr().add(worker * A * A * plane_out),
                        plane_in,
                        plane_out,
                        capacity: block,
                        first_tile: tiles.start,
                    };
                    // Input channels are transformed once, as the first
                    // segment that reads them needs them.
                    let mut ready = 0;
                    for seg in 0..segments {
                        let (group, _, first_channel, channels) = self.segment(k, seg);
                        let g = &self.groups[group];
                        let needed = g.first_input + g.depth;
                        if needed > ready {
                            let from = ready.max(g.first_input);
                            self.transform_inputs(
                                plan,
                                images.ptr(),
                                stage,
                                tiles.clone(),
                                from..needed,
                            );
                            ready = needed;
                        }
                        for xi in 0..A * A {
                            for pair in 0..pairs(seg) {
                                self.multiply(plan, stage, count, k, seg, pair, xi);
                            }
                        }
                        for co in first_channel..first_channel + channels {
                            self.transform_output(plan, stage, count, co, out.ptr(), active_out);
                        }
                    }
                }
            });
            return Ok(());
        }

        // Few tiles: every step is split over the workers in turn.
        let stage = Staging {
            transformed: transformed.ptr(),
            products: products.ptr(),
            plane_in: skewed(plan.phase_tiles * inputs),
            plane_out: skewed(plan.phase_tiles * outputs),
            capacity: plan.phase_tiles,
            first_tile: 0,
        };
        let stage = &SharedStaging(stage);
        let rows = shape.n * plan.tiles_y;
        self.workers.run(rows, |row, _| {
            let per_row = plan.tiles_x;
            // SAFETY: this task alone writes its tile row.
            unsafe {
                self.transform_inputs(
                    plan,
                    images.ptr(),
                    stage.0,
                    row * per_row..(row + 1) * per_row,
                    0..shape.c,
                )
            };
        });
        // Each task takes PHASE_STEPS_PER_TASK consecutive steps (a step: one
        // (ξ, segment, pair) product, or one output channel), in the order
        // one thread takes them: a task per step lasted a fraction of a
        // microsecond at batch 1, and taking each from the shared counter
        // cost about as much as the step.
        let pairs_per_segment = pairs(0);
        let product_steps = A * A * segments * pairs_per_segment;
        self.workers
            .run(product_steps.div_ceil(PHASE_STEPS_PER_TASK), |task, _| {
                let first = task * PHASE_STEPS_PER_TASK;
                for step in first..(first + PHASE_STEPS_PER_TASK).min(product_steps) {
                    let pair = step % pairs_per_segment;
                    let seg = (step / pairs_per_segment) % segments;
                    let xi = step / (pairs_per_segment * segments);
                    // SAFETY: all inputs are transformed; the pair's rows of
                    // M[ξ] belong to this task alone.
                    unsafe { self.multiply(plan, stage.0, used_tiles, k, seg, pair, xi) };
                }
            });
        self.workers
            .run(active_out.div_ceil(PHASE_STEPS_PER_TASK), |task, _| {
                let first = task * PHASE_STEPS_PER_TASK;
                for co in first..(first + PHASE_STEPS_PER_TASK).min(active_out) {
                    // SAFETY: every product is computed; channel co belongs to
                    // this task alone.
                    unsafe {
                        self.transform_output(plan, stage.0, used_tiles, co, out.ptr(), active_out)
                    };
                }
            });
        Ok(())
    }
}

/// Steps per task in the phase schedule (see `run`).
const PHASE_STEPS_PER_TASK: usize = 8;

/// The staging pointers, shared by the workers of one run (each writes its
/// own part, as the tasks above say).
struct SharedStaging(Staging);
// SAFETY: see above; the pointers outlive the run.
unsafe impl Sync for SharedStaging {}
