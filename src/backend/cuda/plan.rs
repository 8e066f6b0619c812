//! Launch planning: which kernel, what grid, and the argument struct, for one
//! layer at one input shape and active group count. Shared by the GPU and the
//! emulator, so the emulator tests exactly the grids a GPU gets.

use super::args::{Args, ConvArgs, DenseArgs, DevicePtr, PoolArgs, SoftmaxArgs};
use super::device::{KernelName, Launch};
use crate::backend::gpu::{call_dims, CallDims, LayerDims};
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
    // Every size, and every element index the kernels form, fits in 32 bits.
    let CallDims { out, layer: dims } = call_dims(layer, shape, k)?;
    let block = [THREADS, 1, 1];
    let launch = match dims {
        LayerDims::Conv(d) => {
            let og = d.og as usize;
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
                    batch: d.batch,
                    in_c: d.in_c,
                    in_h: d.in_h,
                    in_w: d.in_w,
                    out_c: d.out_c,
                    out_h: d.out_h,
                    out_w: d.out_w,
                    og: d.og,
                    cg: d.cg,
                    connectivity: d.connectivity,
                    kh: d.kh,
                    kw: d.kw,
                    sh: d.sh,
                    sw: d.sw,
                    ph: d.ph,
                    pw: d.pw,
                    dh: d.dh,
                    dw: d.dw,
                    relu: d.relu,
                    channel_tiles: channel_tiles as u32,
                }),
            }
        }
        LayerDims::Pool(d) => Launch {
            kernel: KernelName::MaxPool,
            grid: flat_grid(out.len(), THREADS as usize)?,
            block,
            args: Args::Pool(PoolArgs {
                input: ops.input,
                output: ops.output,
                planes: d.planes,
                in_h: d.in_h,
                in_w: d.in_w,
                out_h: d.out_h,
                out_w: d.out_w,
                kh: d.kh,
                kw: d.kw,
                sh: d.sh,
                sw: d.sw,
                ph: d.ph,
                pw: d.pw,
                _pad: 0,
            }),
        },
        LayerDims::Dense(d) => Launch {
            kernel: dense_kernel(arithmetic),
            grid: flat_grid(out.len(), DENSE_ROWS)?,
            block,
            args: Args::Dense(DenseArgs {
                input: ops.input,
                weights: ops.weights,
                bias: ops.bias,
                output: ops.output,
                batch: d.batch,
                in_len: d.in_len,
                out_len: d.out_len,
                og: d.og,
                cg: d.cg,
                connectivity: d.connectivity,
                relu: d.relu,
                head: d.head,
                k: d.k,
                classes: d.classes,
            }),
        },
        LayerDims::Softmax(d) => Launch {
            kernel: KernelName::Softmax,
            grid: flat_grid(shape.n, THREADS as usize)?,
            block,
            args: Args::Softmax(SoftmaxArgs {
                input: ops.input,
                output: ops.output,
                rows: d.rows,
                cols: d.cols,
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
