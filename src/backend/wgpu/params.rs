//! The uniform structs of the shaders, field for field (`shaders/*.wgsl`).
//! All fields are u32, so the WGSL and C layouts agree with no padding
//! beyond the explicit fields that round each struct to 16 bytes.

use bytemuck::{Pod, Zeroable};

use crate::backend::gpu::{ConvDims, DenseDims, PoolDims, SoftmaxDims};
use crate::model::group::Connectivity;

/// The convolution's output block per workgroup: `TILE_M` channels of one
/// group by `TILE_N` pixels (`shaders/conv.wgsl`; a test checks they agree).
pub const CONV_TILE_M: u32 = 64;
pub const CONV_TILE_N: u32 = 64;
/// Outputs of a linear layer per workgroup (`OUTPUTS` in `shaders/dense.wgsl`).
pub const LINEAR_OUTPUTS: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ConvParams {
    pub in_c: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub og: u32,
    pub cg: u32,
    pub connectivity: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub dh: u32,
    pub dw: u32,
    pub relu: u32,
    pub has_bias: u32,
    /// Workgroups across one group's output channels.
    pub m_tiles: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PoolParams {
    pub planes: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct DenseParams {
    pub batch: u32,
    pub in_len: u32,
    pub out_len: u32,
    pub og: u32,
    pub cg: u32,
    pub connectivity: u32,
    pub relu: u32,
    pub has_bias: u32,
    pub k: u32,
    pub classes: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SoftmaxParams {
    pub rows: u32,
    pub cols: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

const _: () = {
    assert!(std::mem::size_of::<ConvParams>() == 80);
    assert!(std::mem::size_of::<PoolParams>() == 48);
    assert!(std::mem::size_of::<DenseParams>() == 48);
    assert!(std::mem::size_of::<SoftmaxParams>() == 16);
};

impl From<ConvDims> for ConvParams {
    fn from(d: ConvDims) -> Self {
        // Under `full` every group reads every input channel and the groups'
        // weight rows follow one another, so the k active groups are one
        // product of k·og channels: tiles may then span groups, and a layer
        // with few channels per group (a first layer) fills its tiles.
        let og = if d.connectivity == Connectivity::Full.gpu_code() {
            d.out_c
        } else {
            d.og
        };
        Self {
            in_c: d.in_c,
            in_h: d.in_h,
            in_w: d.in_w,
            out_c: d.out_c,
            out_h: d.out_h,
            out_w: d.out_w,
            og,
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
            has_bias: d.has_bias,
            m_tiles: og.div_ceil(CONV_TILE_M),
        }
    }
}

impl From<PoolDims> for PoolParams {
    fn from(d: PoolDims) -> Self {
        Self {
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
        }
    }
}

impl From<DenseDims> for DenseParams {
    fn from(d: DenseDims) -> Self {
        Self {
            batch: d.batch,
            in_len: d.in_len,
            out_len: d.out_len,
            og: d.og,
            cg: d.cg,
            connectivity: d.connectivity,
            relu: d.relu,
            has_bias: d.has_bias,
            k: d.k,
            classes: d.classes,
            _pad0: 0,
            _pad1: 0,
        }
    }
}

impl From<SoftmaxDims> for SoftmaxParams {
    fn from(d: SoftmaxDims) -> Self {
        Self {
            rows: d.rows,
            cols: d.cols,
            _pad0: 0,
            _pad1: 0,
        }
    }
}
