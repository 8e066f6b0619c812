//! What the two GPU backends share: a layer's dimensions for one call (one
//! input shape, k groups active), computed once and checked to fit the
//! kernels' 32-bit indices. The CUDA argument structs
//! (`cuda/args.rs`) and the WGSL uniforms (`wgpu/params.rs`) are filled from
//! these, field for field, so neither converts a size on its own.

use crate::backend::gpu_index;
use crate::error::Result;
use crate::model::layer::Layer;
use crate::model::shape::Shape4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvDims {
    pub batch: u32,
    pub in_c: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_c: u32,
    pub out_h: u32,
    pub out_w: u32,
    /// Output channels per group.
    pub og: u32,
    /// Input channels per group (all of them under `full`).
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolDims {
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
}

/// A grouped linear layer, or the classifier head (`head` 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DenseDims {
    pub batch: u32,
    /// Active input features per item.
    pub in_len: u32,
    /// Active outputs per item (k·og, or the classes).
    pub out_len: u32,
    /// Outputs per group (linear), features per group (head).
    pub og: u32,
    /// Inputs per group (linear; 0 for the head).
    pub cg: u32,
    pub connectivity: u32,
    pub relu: u32,
    pub has_bias: u32,
    pub head: u32,
    pub k: u32,
    /// The classes (head; 0 for a linear layer).
    pub classes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SoftmaxDims {
    pub rows: u32,
    pub cols: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerDims {
    Conv(ConvDims),
    Pool(PoolDims),
    Dense(DenseDims),
    Softmax(SoftmaxDims),
}

/// One call's output shape and dimensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallDims {
    pub out: Shape4,
    pub layer: LayerDims,
}

/// `layer` on an input of `shape` with `k` groups active: every element
/// index a kernel forms, and every field, fits in a u32, or a typed error.
pub(crate) fn call_dims(layer: &Layer, shape: Shape4, k: usize) -> Result<CallDims> {
    let out = layer.output_shape(shape, k)?;
    gpu_index(shape.len(), "input elements")?;
    gpu_index(out.len(), "output elements")?;
    let pair = |v: [usize; 2], what: &str| -> Result<[u32; 2]> {
        Ok([gpu_index(v[0], what)?, gpu_index(v[1], what)?])
    };
    let layer = match layer {
        Layer::Conv2d(c) => {
            let s = c.spec();
            let layout = s.layout();
            let [kh, kw] = pair(s.kernel, "kernel")?;
            let [sh, sw] = pair(s.stride, "stride")?;
            let [ph, pw] = pair(s.padding, "padding")?;
            let [dh, dw] = pair(s.dilation, "dilation")?;
            LayerDims::Conv(ConvDims {
                batch: gpu_index(shape.n, "batch")?,
                in_c: gpu_index(shape.c, "channels")?,
                in_h: gpu_index(shape.h, "height")?,
                in_w: gpu_index(shape.w, "width")?,
                out_c: gpu_index(out.c, "channels")?,
                out_h: gpu_index(out.h, "height")?,
                out_w: gpu_index(out.w, "width")?,
                og: gpu_index(layout.outputs_per_group(), "channels")?,
                cg: gpu_index(layout.inputs_per_group(), "channels")?,
                connectivity: s.connectivity.gpu_code(),
                kh,
                kw,
                sh,
                sw,
                ph,
                pw,
                dh,
                dw,
                relu: s.relu.into(),
                has_bias: c.bias().is_some().into(),
            })
        }
        Layer::MaxPool2d(p) => {
            let [kh, kw] = pair(p.kernel, "kernel")?;
            let [sh, sw] = pair(p.stride, "stride")?;
            let [ph, pw] = pair(p.padding, "padding")?;
            LayerDims::Pool(PoolDims {
                planes: gpu_index(shape.n * shape.c, "planes")?,
                in_h: gpu_index(shape.h, "height")?,
                in_w: gpu_index(shape.w, "width")?,
                out_h: gpu_index(out.h, "height")?,
                out_w: gpu_index(out.w, "width")?,
                kh,
                kw,
                sh,
                sw,
                ph,
                pw,
            })
        }
        Layer::Linear(l) => {
            let s = l.spec();
            let layout = s.layout();
            LayerDims::Dense(DenseDims {
                batch: gpu_index(shape.n, "batch")?,
                in_len: gpu_index(shape.item_len(), "features")?,
                out_len: gpu_index(out.item_len(), "features")?,
                og: gpu_index(layout.outputs_per_group(), "features")?,
                cg: gpu_index(layout.inputs_per_group(), "features")?,
                connectivity: s.connectivity.gpu_code(),
                relu: s.relu.into(),
                has_bias: l.bias().is_some().into(),
                head: 0,
                k: gpu_index(k, "groups")?,
                classes: 0,
            })
        }
        Layer::Head(h) => {
            let s = h.spec();
            LayerDims::Dense(DenseDims {
                batch: gpu_index(shape.n, "batch")?,
                in_len: gpu_index(shape.item_len(), "features")?,
                out_len: gpu_index(s.classes, "classes")?,
                og: gpu_index(s.features_per_group(), "features")?,
                cg: 0,
                connectivity: 0,
                relu: 0,
                // The head always has its per-k biases b_k.
                has_bias: 1,
                head: 1,
                k: gpu_index(k, "groups")?,
                classes: gpu_index(s.classes, "classes")?,
            })
        }
        Layer::Softmax => LayerDims::Softmax(SoftmaxDims {
            rows: gpu_index(shape.n, "rows")?,
            cols: gpu_index(shape.item_len(), "columns")?,
        }),
    };
    Ok(CallDims { out, layer })
}

/// Where a device chain's layer reads from and writes to. Activations stay
/// on the device in two buffers used in turn: layer 0 reads the input,
/// layer i > 0 reads what layer i − 1 wrote, and layer i writes
/// `activations[i % 2]`. Both GPU chains follow these rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Input,
    Activations(usize),
}

pub(crate) fn source(layer: usize) -> Source {
    match layer {
        0 => Source::Input,
        i => Source::Activations((i - 1) % 2),
    }
}

pub(crate) fn destination(layer: usize) -> usize {
    layer % 2
}

/// The bytes the input and the two activation buffers need for a chain of
/// `layers` on `shape` at `k` (f32 activations), and the last output shape.
pub(crate) fn chain_bytes<'a>(
    layers: impl IntoIterator<Item = &'a Layer>,
    shape: Shape4,
    k: usize,
) -> Result<([usize; 3], Shape4)> {
    let bytes = |s: Shape4| {
        s.len()
            .checked_mul(4)
            .ok_or_else(|| crate::error::Error::Shape(format!("{s} is too large to hold")))
    };
    let mut needs = [bytes(shape)?, 0, 0];
    let mut current = shape;
    for (i, layer) in layers.into_iter().enumerate() {
        current = layer.output_shape(current, k)?;
        let slot = 1 + destination(i);
        needs[slot] = needs[slot].max(bytes(current)?);
    }
    Ok((needs, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_alternate_between_the_two_activation_buffers() {
        assert_eq!(source(0), Source::Input);
        assert_eq!((destination(0), source(1)), (0, Source::Activations(0)));
        assert_eq!((destination(1), source(2)), (1, Source::Activations(1)));
        assert_eq!((destination(2), source(3)), (0, Source::Activations(0)));
    }
}
