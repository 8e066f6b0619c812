//! Launch planning: which kernel, what grid, and the argument struct, for one
//! layer at one input shape and active group count. Shared by the GPU and the
//! emulator, so the emulator tests exactly the grids a GPU gets.

use super::args::{Args, ConvArgs, DenseArgs, DevicePtr, PoolArgs, SoftmaxArgs};
use super::device::{KernelName, Launch};
use crate::backend::gpu_index;
use crate::error::{Error, Result};

use crate::model::layer::Layer;
use crate::model::shape::Shape4;

const THREADS: u32 = 256;
/// (item, output) pairs per dense block: one per 32-thread slice.
const DENSE_ROWS: usize = THREADS as usize / 32;
/// The largest grid.y and grid.z a launch may have.
const MAX_GRID_YZ: usize = 65_535;

/// How a layer's weights are stored and multiplied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    /// f32 weights, f32 arithmetic.
    F32,
    /// f16 weights widened to f32 at load.
    F16Weights,
    /// f16 weights and activations multiplied as half2 (convolutions; the
    /// dense layers fall back to `F16Weights`).
    Half2,
}

/// Conv tile width: 64×64 for wide layers, 32×32 otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    Wide,
    Narrow,
}

impl Tile {
    fn width(self) -> usize {
        match self {
            Tile::Wide => 64,
            Tile::Narrow => 32,
        }
    }

    /// 64×64 tiles when a group has more than 32 output channels and the
    /// grid still gives every multiprocessor two blocks; else 32×32.
    pub fn choose(og: usize, pixels: usize, k: usize, multiprocessors: u32) -> Tile {
        let wide_blocks = pixels.div_ceil(64) * og.div_ceil(64) * k;
        if og > 32 && wide_blocks >= 2 * multiprocessors as usize {
            Tile::Wide
        } else {
            Tile::Narrow
        }
    }
}

/// Device addresses of a layer's operands.
#[derive(Clone, Copy, Debug, Default)]
pub struct Operands {
    pub input: DevicePtr,
    pub output: DevicePtr,
    pub weights: DevicePtr,
    /// 0 when the layer has no bias.
    pub bias: DevicePtr,
}

fn flat_grid(items: usize, per_block: usize) -> Result<[u32; 3]> {
    Ok([gpu_index(items.div_ceil(per_block).max(1), "blocks")?, 1, 1])
}

/// Plans the launch for `layer` on an input of `shape` with `k` groups
/// active. `tile` overrides the conv tile choice (tests pin each one).
pub fn plan(
    layer: &Layer,
    shape: Shape4,
    k: usize,
    ops: Operands,
    arithmetic: Arithmetic,
    tile: Option<Tile>,
    multiprocessors: u32,
) -> Result<Launch> {
    let out = layer.output_shape(shape, k)?;
    // Every element index the kernels form must fit in 32 bits.
    gpu_index(shape.len(), "input elements")?;
    gpu_index(out.len(), "output elements")?;
    let block = [THREADS, 1, 1];
    let launch = match layer {
        Layer::Conv2d(c) => {
            let s = c.spec();
            let layout = s.layout();
            let og = layout.outputs_per_group();
            let pixels = out.n * out.h * out.w;
            let tile = tile.unwrap_or_else(|| Tile::choose(og, pixels, k, multiprocessors));
            let channel_tiles = og.div_ceil(tile.width());
            let rows = k * channel_tiles;
            if rows > MAX_GRID_YZ {
                return Err(Error::Shape(format!(
                    "{k} groups of {og} channels need {rows} rows of blocks, over CUDA's {MAX_GRID_YZ}"
                )));
            }
            let kernel = match (arithmetic, tile) {
                (Arithmetic::F32, Tile::Wide) => KernelName::ConvF32w64,
                (Arithmetic::F32, Tile::Narrow) => KernelName::ConvF32w32,
                (Arithmetic::F16Weights, Tile::Wide) => KernelName::ConvF16w64,
                (Arithmetic::F16Weights, Tile::Narrow) => KernelName::ConvF16w32,
                (Arithmetic::Half2, Tile::Wide) => KernelName::ConvHalf2x64,
                (Arithmetic::Half2, Tile::Narrow) => KernelName::ConvHalf2x32,
            };
            Launch {
                kernel,
                grid: [
                    gpu_index(pixels.div_ceil(tile.width()), "blocks")?,
                    rows as u32,
                    1,
                ],
                block,
                args: Args::Conv(ConvArgs {
                    input: ops.input,
                    weights: ops.weights,
                    bias: ops.bias,
                    output: ops.output,
                    batch: gpu_index(shape.n, "batch")?,
                    in_c: gpu_index(shape.c, "channels")?,
                    in_h: gpu_index(shape.h, "height")?,
                    in_w: gpu_index(shape.w, "width")?,
                    out_c: gpu_index(out.c, "channels")?,
                    out_h: gpu_index(out.h, "height")?,
                    out_w: gpu_index(out.w, "width")?,
                    og: gpu_index(og, "channels")?,
                    cg: gpu_index(layout.inputs_per_group(), "channels")?,
                    connectivity: s.connectivity.gpu_code(),
                    kh: gpu_index(s.kernel[0], "kernel")?,
                    kw: gpu_index(s.kernel[1], "kernel")?,
                    sh: gpu_index(s.stride[0], "stride")?,
                    sw: gpu_index(s.stride[1], "stride")?,
                    ph: gpu_index(s.padding[0], "padding")?,
                    pw: gpu_index(s.padding[1], "padding")?,
                    dh: gpu_index(s.dilation[0], "dilation")?,
                    dw: gpu_index(s.dilation[1], "dilation")?,
                    relu: s.relu.into(),
                    channel_tiles: channel_tiles as u32,
                }),
            }
        }
        Layer::MaxPool2d(p) => Launch {
            kernel: KernelName::MaxPool,
            grid: flat_grid(out.len(), THREADS as usize)?,
            block,
            args: Args::Pool(PoolArgs {
                input: ops.input,
                output: ops.output,
                planes: gpu_index(shape.n * shape.c, "planes")?,
                in_h: gpu_index(shape.h, "height")?,
                in_w: gpu_index(shape.w, "width")?,
                out_h: gpu_index(out.h, "height")?,
                out_w: gpu_index(out.w, "width")?,
                kh: gpu_index(p.kernel[0], "kernel")?,
                kw: gpu_index(p.kernel[1], "kernel")?,
                sh: gpu_index(p.stride[0], "stride")?,
                sw: gpu_index(p.stride[1], "stride")?,
                ph: gpu_index(p.padding[0], "padding")?,
                pw: gpu_index(p.padding[1], "padding")?,
                _pad: 0,
            }),
        },
        Layer::Linear(l) => {
            let s = l.spec();
            let layout = s.layout();
            Launch {
                kernel: dense_kernel(arithmetic),
                grid: flat_grid(out.len(), DENSE_ROWS)?,
                block,
                args: Args::Dense(DenseArgs {
                    input: ops.input,
                    weights: ops.weights,
                    bias: ops.bias,
                    output: ops.output,
                    batch: gpu_index(shape.n, "batch")?,
                    in_len: gpu_index(shape.item_len(), "features")?,
                    out_len: gpu_index(out.item_len(), "features")?,
                    og: gpu_index(layout.outputs_per_group(), "features")?,
                    cg: gpu_index(layout.inputs_per_group(), "features")?,
                    connectivity: s.connectivity.gpu_code(),
                    relu: s.relu.into(),
                    head: 0,
                    k: gpu_index(k, "groups")?,
                    classes: 0,
                }),
            }
        }
        Layer::Head(h) => {
            let s = h.spec();
            Launch {
                kernel: dense_kernel(arithmetic),
                grid: flat_grid(out.len(), DENSE_ROWS)?,
                block,
                args: Args::Dense(DenseArgs {
                    input: ops.input,
                    weights: ops.weights,
                    bias: ops.bias,
                    output: ops.output,
                    batch: gpu_index(shape.n, "batch")?,
                    in_len: gpu_index(shape.item_len(), "features")?,
                    out_len: gpu_index(s.classes, "classes")?,
                    og: gpu_index(s.features_per_group(), "features")?,
                    cg: 0,
                    connectivity: 0,
                    relu: 0,
                    head: 1,
                    k: gpu_index(k, "groups")?,
                    classes: gpu_index(s.classes, "classes")?,
                }),
            }
        }
        Layer::Softmax => Launch {
            kernel: KernelName::Softmax,
            grid: flat_grid(shape.n, THREADS as usize)?,
            block,
            args: Args::Softmax(SoftmaxArgs {
                input: ops.input,
                output: ops.output,
                rows: gpu_index(shape.n, "rows")?,
                cols: gpu_index(shape.item_len(), "columns")?,
            }),
        },
    };
    Ok(launch)
}

fn dense_kernel(arithmetic: Arithmetic) -> KernelName {
    match arithmetic {
        Arithmetic::F32 => KernelName::DenseF32w,
        Arithmetic::F16Weights | Arithmetic::Half2 => KernelName::DenseF16w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::alexnet_cifar;

    /// Blocks launched at k, for each preset layer: they must fall with k,
    /// and no block may belong to an inactive group.
    #[test]
    fn conv_grids_cover_only_the_active_groups() {
        for preset in alexnet_cifar() {
            let layer = Layer::Conv2d(preset.layer(1).unwrap());
            let og = preset.spec.layout().outputs_per_group();
            for tile in [Tile::Wide, Tile::Narrow] {
                let mut last = 0;
                for k in 1..=4 {
                    let launch = plan(
                        &layer,
                        preset.input_shape(1, k),
                        k,
                        Operands::default(),
                        Arithmetic::F32,
                        Some(tile),
                        1,
                    )
                    .unwrap();
                    assert_eq!(
                        launch.grid[1] as usize,
                        k * og.div_ceil(tile.width()),
                        "{} k={k}",
                        preset.name
                    );
                    let blocks = launch.grid.iter().product::<u32>();
                    assert!(blocks > last, "{} k={k}: {blocks} blocks", preset.name);
                    last = blocks;
                }
            }
        }
    }

    #[test]
    fn wide_tiles_only_where_they_fill_the_device() {
        assert_eq!(Tile::choose(16, 1024, 4, 1), Tile::Narrow);
        assert_eq!(Tile::choose(96, 64, 4, 1), Tile::Wide);
        assert_eq!(Tile::choose(96, 64, 1, 132), Tile::Narrow);
        assert_eq!(Tile::choose(96, 64 * 32, 4, 132), Tile::Narrow);
        assert_eq!(Tile::choose(96, 1024 * 32, 4, 132), Tile::Wide);
    }
}
