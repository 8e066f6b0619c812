//! Grouped convolution on the CPU as an implicit GEMM.
//!
//! At prepare time each group's weights are packed into slivers of `LANES`
//! output channels, `[depth][LANES]`, zero-padded, so one vector load fetches
//! a weight for `LANES` channels. At run time nothing is packed: an offset
//! table turns each reduction step (input channel, tap) into an offset into a
//! zero-padded copy of the input, and a second table gives each output pixel
//! its window's origin. The microkernel broadcasts input values from those
//! offsets, so the only copy per run is the padding, shared by all groups.
//!
//! Work covers the active groups only: `k` segments (one for `full` when the
//! groups can be merged), each cut into tiles of two slivers, each tile swept
//! over the output pixels. Nothing is touched for inactive groups.

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

/// One group's packed weights.
struct PackedGroup {
    /// Offset of the first sliver in `packed`, and of its biases in `bias`.
    weights_at: usize,
    bias_at: usize,
    slivers: usize,
    depth: usize,
    /// First entry of the group's reduction in the offset table.
    kofs_at: usize,
}

/// Tables and buffers for one input size, built by `reserve`.
struct Plan {
    batch: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    /// Padded plane size; images in `padded` are `inputs·plane` apart
    /// whatever `k` is, so the zero borders are written once, here.
    plane: usize,
    wp: usize,
    padded: Vec<f32>,
    kofs: Vec<u32>,
    pix: Vec<u32>,
}

/// A run of output channels that read the same inputs with the same depth.
#[derive(Clone, Copy)]
struct Segment {
    weights_at: usize,
    bias_at: usize,
    slivers: usize,
    depth: usize,
    kofs_at: usize,
    first_channel: usize,
    channels: usize,
}

pub(crate) struct CpuConv<K: CpuKernels> {
    spec: Conv2dSpec,
    layout: GroupLayout,
    groups: Vec<PackedGroup>,
    packed: Vec<f32>,
    bias: Vec<f32>,
    /// `full` layers whose groups fill whole slivers run as one segment.
    merge_groups: bool,
    plan: Option<Plan>,
    workers: Workers,
    kernel: PhantomData<K>,
}

impl<K: CpuKernels> CpuConv<K> {
    pub fn new(layer: &Conv2d, workers: Workers) -> Result<Self> {
        // The tile kernels' safety rests on this check.
        K::ISA.require()?;
        let spec = *layer.spec();
        let layout = spec.layout();
        let weights = layer.weights().to_f32();
        let og = layout.outputs_per_group();
        let slivers = og.div_ceil(K::LANES);
        let mut packed = Vec::new();
        let mut bias = Vec::with_capacity(layout.groups * slivers * K::LANES);
        let mut groups = Vec::with_capacity(layout.groups);
        for j in 0..layout.groups {
            let depth = layout.group_row_len(j);
            let w = &weights[layout.group_weights(j)];
            let weights_at = packed.len();
            let bias_at = bias.len();
            packed.reserve(slivers * depth * K::LANES);
            for s in 0..slivers {
                for d in 0..depth {
                    packed.extend((0..K::LANES).map(|l| {
                        let row = s * K::LANES + l;
                        if row < og {
                            w[row * depth + d]
                        } else {
                            0.0
                        }
                    }));
                }
                bias.extend((0..K::LANES).map(|l| {
                    let row = s * K::LANES + l;
                    match layer.bias() {
                        Some(b) if row < og => b[j * og + row],
                        _ => 0.0,
                    }
                }));
            }
            groups.push(PackedGroup {
                weights_at,
                bias_at,
                slivers,
                depth,
                kofs_at: layout.group_inputs(j).start * layout.taps,
            });
        }
        Ok(Self {
            spec,
            layout,
            groups,
            packed,
            bias,
            merge_groups: spec.connectivity == Connectivity::Full && og.is_multiple_of(K::LANES),
            plan: None,
            workers,
            kernel: PhantomData,
        })
    }

    fn segment_count(&self, k: usize) -> usize {
        if self.merge_groups {
            1
        } else {
            k
        }
    }

    fn segment(&self, k: usize, s: usize) -> Segment {
        let og = self.layout.outputs_per_group();
        let (g, slivers, channels) = if self.merge_groups {
            (&self.groups[0], k * self.groups[0].slivers, k * og)
        } else {
            (&self.groups[s], self.groups[s].slivers, og)
        };
        Segment {
            weights_at: g.weights_at,
            bias_at: g.bias_at,
            slivers,
            depth: g.depth,
            kofs_at: g.kofs_at,
            first_channel: if self.merge_groups { 0 } else { s * og },
            channels,
        }
    }

    fn plan_for(&mut self, n: usize, h: usize, w: usize) -> Result<()> {
        match &self.plan {
            Some(p) if p.h == h && p.w == w && p.batch >= n => Ok(()),
            _ => self.reserve(n, h, w),
        }
    }

    /// Large batches run one image per task: the image is padded into its
    /// worker's slot right before use, so it is still in cache when read,
    /// and the padded buffer needs one slot per worker, not per image.
    fn image_major(&self, batch: usize) -> bool {
        batch >= 2 * self.workers.threads()
    }

    /// Images the padded buffer holds for batches of up to `batch`.
    fn padded_slots(&self, batch: usize) -> usize {
        batch
            .min(2 * self.workers.threads() - 1)
            .max(self.workers.threads())
    }

    /// Computes tile `tile` of segment `seg` of image `n` for output pixels
    /// `pixels`, reading the image from `x`.
    ///
    /// # Safety
    /// `x` is image `n`'s (padded) input as the plan lays it out, and no other
    /// task writes the same output channels and pixels.
    #[allow(clippy::too_many_arguments)]
    unsafe fn sweep(
        &self,
        x: *const f32,
        out: SharedMut,
        n: usize,
        k: usize,
        seg: usize,
        tile: usize,
        pixels: Range<usize>,
    ) {
        let plan = self.plan.as_ref().expect("planned");
        let npix = plan.ho * plan.wo;
        let seg = self.segment(k, seg);
        let vectors = (seg.slivers - 2 * tile).min(2);
        let first_sliver = 2 * tile;
        let sliver_len = seg.depth * K::LANES;
        let a_at = seg.weights_at + first_sliver * sliver_len;
        let first_channel = seg.first_channel + first_sliver * K::LANES;
        let packed = self.packed.as_ptr();
        let mut args = TileArgs {
            x,
            kofs: plan.kofs.as_ptr().add(seg.kofs_at),
            depth: seg.depth,
            pix: [0; MAX_PIXELS],
            a: [
                packed.add(a_at),
                packed.add(a_at + (vectors - 1) * sliver_len),
            ],
            bias: self
                .bias
                .as_ptr()
                .add(seg.bias_at + first_sliver * K::LANES),
            relu: self.spec.relu,
            out: out.ptr(),
            ld: npix,
            rows: (seg.channels - first_sliver * K::LANES).min(vectors * K::LANES),
            cols: 0,
        };
        let out_row = (n * self.layout.active_outputs(k) + first_channel) * npix;
        let (stride_w, wo) = (self.spec.stride[1], plan.wo);
        let mut p0 = pixels.start;
        while p0 < pixels.end {
            args.out = out.ptr().add(out_row + p0);
            // One sliver over a stretch of one output row at stride 1: the
            // row tile, whose pixels' inputs are consecutive.
            let row_tile = vectors == 1
                && K::ROW_PIXELS > 0
                && stride_w == 1
                && p0 + K::ROW_PIXELS <= pixels.end
                && p0 % wo + K::ROW_PIXELS <= wo;
            if row_tile {
                args.cols = K::ROW_PIXELS;
                args.pix[0] = plan.pix[p0] as usize;
                K::tile_row(&args);
                p0 += K::ROW_PIXELS;
                continue;
            }
            args.cols = (pixels.end - p0).min(K::PIXELS);
            for i in 0..K::PIXELS {
                // Pixels past the end repeat the last one: in bounds, not stored.
                args.pix[i] = plan.pix[(p0 + i).min(pixels.end - 1)] as usize;
            }
            K::tile(&args, vectors);
            p0 += K::PIXELS;
        }
    }
}

/// Copies image `n`'s `channels` planes into the interiors of one padded
/// image slot (whose zero borders are never written).
///
/// # Safety
/// `slot` points to a padded image of the plan's layout that no one else
/// accesses meanwhile.
unsafe fn pad_image(
    input: &[f32],
    shape: Shape4,
    n: usize,
    channels: Range<usize>,
    plan: &Plan,
    padding: [usize; 2],
    slot: *mut f32,
) {
    let (h, w) = (plan.h, plan.w);
    for c in channels {
        let src = &input[(n * shape.c + c) * h * w..][..h * w];
        for y in 0..h {
            let at = c * plan.plane + (y + padding[0]) * plan.wp + padding[1];
            std::ptr::copy_nonoverlapping(src[y * w..].as_ptr(), slot.add(at), w);
        }
    }
}

impl<K: CpuKernels> Kernel for CpuConv<K> {
    fn reserve(&mut self, batch: usize, h: usize, w: usize) -> Result<()> {
        // The layer's checks, so that every size below is within the model
        // limits (sides, spans and the padded image all far below 2^32).
        let input = Shape4::new(batch, self.layout.inputs, h, w);
        let out = self.spec.output_shape(input, self.layout.groups)?;
        let (ho, wo) = (out.h, out.w);
        let [kh, kw] = self.spec.kernel;
        let [ph, pw] = self.spec.padding;
        let [sh, sw] = self.spec.stride;
        let [dh, dw] = self.spec.dilation;
        let too_large = || {
            invalid(format!(
                "input {h}×{w} is too large for the CPU kernels' 32-bit offsets"
            ))
        };
        let hp = h.checked_add(2 * ph).ok_or_else(too_large)?;
        let wp = w.checked_add(2 * pw).ok_or_else(too_large)?;
        let plane = hp.checked_mul(wp).ok_or_else(too_large)?;
        let slot_len = self
            .layout
            .inputs
            .checked_mul(plane)
            .ok_or_else(too_large)?;
        if slot_len > u32::MAX as usize {
            return Err(too_large());
        }
        let padded_len = if ph > 0 || pw > 0 {
            self.padded_slots(batch)
                .checked_mul(slot_len)
                .ok_or_else(too_large)?
        } else {
            0
        };
        let mut kofs = Vec::with_capacity(self.layout.inputs * kh * kw);
        for c in 0..self.layout.inputs {
            for ky in 0..kh {
                for kx in 0..kw {
                    kofs.push((c * plane + ky * dh * wp + kx * dw) as u32);
                }
            }
        }
        let pix = (0..ho)
            .flat_map(|oy| (0..wo).map(move |ox| (oy * sh * wp + ox * sw) as u32))
            .collect();
        let mut padded = Vec::new();
        padded.try_reserve_exact(padded_len).map_err(|_| {
            Error::Shape(format!(
                "cannot allocate {padded_len} floats for the padded input of a batch of {batch}"
            ))
        })?;
        padded.resize(padded_len, 0.0);
        self.plan = Some(Plan {
            batch,
            h,
            w,
            ho,
            wo,
            plane,
            wp,
            padded,
            kofs,
            pix,
        });
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // The unsafe tiles below rely on these checks and on the plan, which
        // `reserve` builds from the same validated sizes.
        let out = self.spec.output_shape(shape, k)?;
        check_run(shape, out, input, output)?;
        self.plan_for(shape.n, shape.h, shape.w)?;
        let pads = self.spec.padding != [0, 0];
        let plan = self.plan.as_mut().expect("planned");
        // Padded images sit `inputs·plane` apart whatever `k` is, so their
        // zero borders, written once by `reserve`, stay valid.
        let slot_len = self.layout.inputs * plan.plane;
        let (padding, out) = (self.spec.padding, SharedMut::new(output));
        let slots = SharedMut::new(&mut plan.padded);
        let segments = self.segment_count(k);
        let tiles = self.segment(k, 0).slivers.div_ceil(2);
        let plan = self.plan.as_ref().expect("planned");
        let npix = plan.ho * plan.wo;
        let image = |n: usize| SharedConst::new(input[n * shape.item_len()..].as_ptr());

        if self.image_major(shape.n) {
            self.workers.run(shape.n, |n, worker| {
                // SAFETY: slot `worker` belongs to this worker while it runs
                // this task; the image is padded before any tile reads it, and
                // image n's outputs belong to this task alone.
                unsafe {
                    let x = if pads {
                        let slot = slots.ptr().add(worker * slot_len);
                        pad_image(input, shape, n, 0..shape.c, plan, padding, slot);
                        slot as *const f32
                    } else {
                        image(n).ptr()
                    };
                    for seg in 0..segments {
                        for tile in 0..tiles {
                            self.sweep(x, out, n, k, seg, tile, 0..npix);
                        }
                    }
                }
            });
            return Ok(());
        }

        if pads {
            // Few images: pad them all first (image n in slot n), then split
            // each image's tiles and pixels across the workers.
            let planes = shape.n * shape.c;
            let chunks = planes.min(4 * self.workers.threads());
            self.workers.run(chunks, |chunk, _| {
                for p in planes * chunk / chunks..planes * (chunk + 1) / chunks {
                    let (n, c) = (p / shape.c, p % shape.c);
                    // SAFETY: each plane is written by one task only.
                    unsafe {
                        pad_image(
                            input,
                            shape,
                            n,
                            c..c + 1,
                            plan,
                            padding,
                            slots.ptr().add(n * slot_len),
                        )
                    };
                }
            });
        }
        let pixel_tiles = npix.div_ceil(K::PIXELS);
        let row_tasks = shape.n * segments * tiles;
        // Split pixel sweeps only as far as needed to keep every thread busy.
        let splits = if self.workers.threads() == 1 {
            1
        } else {
            (4 * self.workers.threads())
                .div_ceil(row_tasks)
                .clamp(1, pixel_tiles)
        };
        self.workers.run(row_tasks * splits, |task, _| {
            let (row_task, split) = (task / splits, task % splits);
            let tile = row_task % tiles;
            let seg = (row_task / tiles) % segments;
            let n = row_task / (tiles * segments);
            let pixels = (pixel_tiles * split / splits * K::PIXELS)
                ..(pixel_tiles * (split + 1) / splits * K::PIXELS).min(npix);
            // SAFETY: slot n holds image n, padded above; the tile's channels
            // and pixels belong to this task alone.
            unsafe {
                let x = if pads {
                    slots.ptr().add(n * slot_len) as *const f32
                } else {
                    image(n).ptr()
                };
                self.sweep(x, out, n, k, seg, tile, pixels);
            }
        });
        Ok(())
    }
}
