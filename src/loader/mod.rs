//! Model files: a safetensors file whose metadata describes the layer chain,
//! so the network is built from the file alone.
//!
//! Tensor names and shapes (every shape is the crate's weight layout):
//!
//! | layer | tensor | shape | dtype |
//! |---|---|---|---|
//! | conv2d | `{name}.weight.{j}`, j < G | `[Cout/G, rows_j, kh, kw]` | f32 or f16 |
//! | conv2d | `{name}.bias` | `[Cout]` | f32 |
//! | linear | `{name}.weight.{j}` | `[Fout/G, rows_j]` | f32 or f16 |
//! | linear | `{name}.bias` | `[Fout]` | f32 |
//! | head | `{name}.weight` | `[G, classes, F/G]` | f32 or f16 |
//! | head | `{name}.bias` | `[G, classes]` (row k−1 is b_k) | f32 |
//!
//! `rows_j` is the number of input channels group j reads: `Cin/G` for
//! isolated, `(j+1)·Cin/G` for cumulative, `Cin` for full. Concatenating the
//! per-group tensors in order gives exactly [`GroupLayout`]'s flat layout.

pub mod builtin;
pub mod format;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use half::f16;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::model::conv::{Conv2d, Conv2dSpec};
use crate::model::group::GroupLayout;
use crate::model::head::{Head, HeadSpec};
use crate::model::layer::Layer;
use crate::model::limits::{self, MAX_CHANNELS, MAX_INPUT_ELEMENTS};
use crate::model::linear::{Linear, LinearSpec};
use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;
pub use format::{InputSpec, LayerEntry, ModelMeta};

fn bad(msg: impl Into<String>) -> Error {
    Error::ModelFile(msg.into())
}

/// A dynamic network: the layer chain with all G groups' weights, of which
/// any first k can run.
#[derive(Clone, Debug)]
pub struct Model {
    meta: ModelMeta,
    layers: Vec<Layer>,
}

impl Model {
    /// Reads and validates a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses a model file held in memory. Every problem (truncation, a
    /// corrupt header, a missing or misshapen tensor, a chain that does not
    /// connect) is an [`Error::ModelFile`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(format::METADATA_KEY))
            .ok_or_else(|| {
                bad(format!(
                    "no `{}` entry in the metadata: not a groupscale model",
                    format::METADATA_KEY
                ))
            })?;
        let meta: ModelMeta =
            serde_json::from_str(json).map_err(|e| bad(format!("model description: {e}")))?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        Self::build(meta, &tensors)
    }

    /// Builds a model from its description and layers, checking that they
    /// agree and chain (used by the loader and by tests that write files).
    pub fn new(meta: ModelMeta, layers: Vec<Layer>) -> Result<Self> {
        let model = Self { meta, layers };
        model.check()?;
        Ok(model)
    }

    fn build(meta: ModelMeta, tensors: &SafeTensors<'_>) -> Result<Self> {
        if meta.format != format::FORMAT_NAME {
            return Err(bad(format!(
                "format `{}`, expected `{}`",
                meta.format,
                format::FORMAT_NAME
            )));
        }
        if meta.version == 0 || meta.version > format::FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is not supported (this build reads up to {})",
                meta.version,
                format::FORMAT_VERSION
            )));
        }
        let mut reader = TensorReader {
            tensors,
            used: HashSet::new(),
        };
        let layers = meta
            .layers
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                build_layer(entry, &mut reader)
                    .map_err(|e| bad(format!("layer {i} ({}): {}", entry.label(), plain(e))))
            })
            .collect::<Result<Vec<_>>>()?;
        let unused: Vec<String> = tensors
            .names()
            .into_iter()
            .filter(|n| !reader.used.contains(*n))
            .map(str::to_string)
            .collect();
        if !unused.is_empty() {
            return Err(bad(format!(
                "tensors not used by any layer: {}",
                unused.join(", ")
            )));
        }
        Self::new(meta, layers)
    }

    /// Checks the description against the layers, and that the chain
    /// connects input to `classes` logits at every k.
    fn check(&self) -> Result<()> {
        let meta = &self.meta;
        let input = &meta.input;
        if meta.groups == 0 {
            return Err(bad("groups must be at least 1"));
        }
        // The declared input sizes every buffer a session allocates, so it
        // is held to the model limits before anything else looks at it.
        limits::check_at_most("groups", meta.groups, "MAX_CHANNELS", MAX_CHANNELS)
            .and_then(|()| {
                limits::check_at_most(
                    "input channels",
                    input.channels,
                    "MAX_CHANNELS",
                    MAX_CHANNELS,
                )
            })
            .and_then(|()| {
                limits::check_shape(
                    "input",
                    Shape4::new(1, input.channels, input.height, input.width),
                )
            })
            .and_then(|item| {
                limits::check_at_most(
                    "input elements per item",
                    item,
                    "MAX_INPUT_ELEMENTS",
                    MAX_INPUT_ELEMENTS,
                )
            })
            .map_err(|e| bad(plain(e)))?;
        if input.item_len() == 0 {
            return Err(bad("the input has no elements"));
        }
        for (what, v) in [("mean", &input.mean), ("std", &input.std)] {
            if v.len() != 1 && v.len() != input.channels {
                return Err(bad(format!(
                    "input {what} has {} values for {} channels",
                    v.len(),
                    input.channels
                )));
            }
        }
        if input.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad("input std must be positive"));
        }
        if meta.layers.len() != self.layers.len() {
            return Err(bad("layer description and layers differ in length"));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let g = layer.groups();
            if g != 1 && g != meta.groups {
                return Err(bad(format!(
                    "layer {i} ({}) has {g} groups, the model {}",
                    meta.layers[i].label(),
                    meta.groups
                )));
            }
        }
        if !matches!(self.layers.last(), Some(Layer::Head(_))) {
            return Err(bad("the last layer must be the classifier head"));
        }
        for k in 1..=meta.groups {
            let mut shape = Shape4::new(1, input.channels, input.height, input.width);
            for (i, layer) in self.layers.iter().enumerate() {
                shape = layer.output_shape(shape, k).map_err(|e| {
                    bad(format!(
                        "the layer list does not chain: layer {i} ({}) with k = {k}: {}",
                        meta.layers[i].label(),
                        plain(e)
                    ))
                })?;
            }
            if shape.item_len() != meta.classes.len() {
                return Err(bad(format!(
                    "the network gives {} logits, but {} class names are listed",
                    shape.item_len(),
                    meta.classes.len()
                )));
            }
        }
        Ok(())
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn groups(&self) -> usize {
        self.meta.groups
    }

    pub fn input(&self) -> &InputSpec {
        &self.meta.input
    }

    pub fn classes(&self) -> &[String] {
        &self.meta.classes
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Bytes of weights and biases that k active groups read. The file holds
    /// `weight_bytes(G)`; a static network as wide as k groups needs
    /// `weight_bytes(k)`.
    pub fn weight_bytes(&self, k: usize) -> usize {
        self.layers.iter().map(|l| layer_bytes(l, k)).sum()
    }

    /// The model as a safetensors file, in the layout [`Model::from_bytes`]
    /// reads.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (entry, layer) in self.meta.layers.iter().zip(&self.layers) {
            write_layer(entry, layer, &mut owned);
        }
        let views = owned
            .iter()
            .map(|(name, dtype, shape, data)| {
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                    .map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("serialising: {e}")))?;
        let json = serde_json::to_string(&self.meta).map_err(|e| bad(e.to_string()))?;
        let metadata = HashMap::from([(format::METADATA_KEY.to_string(), json)]);
        safetensors::serialize(views, Some(metadata)).map_err(|e| bad(format!("serialising: {e}")))
    }
}

/// The message of a nested error without its own "invalid layer:" prefix
/// repeated inside a model-file error.
fn plain(e: Error) -> String {
    match e {
        Error::ModelFile(m) | Error::InvalidSpec(m) | Error::Shape(m) => m,
        other => other.to_string(),
    }
}

fn layer_bytes(layer: &Layer, k: usize) -> usize {
    let elem = |w: &WeightData| if w.is_empty() { 0 } else { w.bytes() / w.len() };
    let grouped = |layout: GroupLayout, w: &WeightData, has_bias: bool| {
        let k = k.min(layout.groups);
        let weights = layout.group_weights(k - 1).end * elem(w);
        let bias = if has_bias {
            4 * layout.active_outputs(k)
        } else {
            0
        };
        weights + bias
    };
    match layer {
        Layer::Conv2d(c) => grouped(c.spec().layout(), c.weights(), c.bias().is_some()),
        Layer::Linear(l) => grouped(l.spec().layout(), l.weights(), l.bias().is_some()),
        Layer::Head(h) => {
            let spec = h.spec();
            let k = k.min(spec.groups);
            k * spec.classes * spec.features_per_group() * elem(h.weights()) + 4 * spec.classes
        }
        Layer::MaxPool2d(_) | Layer::Softmax => 0,
    }
}

/// Reads tensors by name, checking shape and dtype, and remembers which were
/// read so that stray tensors can be reported.
struct TensorReader<'a, 'data> {
    tensors: &'a SafeTensors<'data>,
    used: HashSet<String>,
}

impl TensorReader<'_, '_> {
    fn view(&mut self, name: &str, shape: &[usize]) -> Result<safetensors::tensor::TensorView<'_>> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| bad(format!("missing tensor `{name}`")))?;
        if view.shape() != shape {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        self.used.insert(name.to_string());
        Ok(view)
    }

    /// f32 or f16 weights, kept in the stored precision.
    fn weights(&mut self, name: &str, shape: &[usize]) -> Result<WeightData> {
        let view = self.view(name, shape)?;
        match view.dtype() {
            Dtype::F32 => Ok(WeightData::F32(f32s(view.data()))),
            Dtype::F16 => Ok(WeightData::F16(
                view.data()
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            )),
            other => Err(bad(format!(
                "tensor `{name}` is {other:?}; weights must be F32 or F16"
            ))),
        }
    }

    fn floats(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let view = self.view(name, shape)?;
        match view.dtype() {
            Dtype::F32 => Ok(f32s(view.data())),
            other => Err(bad(format!("tensor `{name}` is {other:?}, expected F32"))),
        }
    }

    /// The per-group tensors `{name}.weight.{j}`, concatenated into the
    /// layout's flat order. `taps` is the trailing shape of one input row.
    fn grouped(&mut self, name: &str, layout: GroupLayout, taps: &[usize]) -> Result<WeightData> {
        let mut parts = Vec::with_capacity(layout.groups);
        for j in 0..layout.groups {
            let mut shape = vec![layout.outputs_per_group(), layout.group_inputs(j).len()];
            shape.extend_from_slice(taps);
            parts.push(self.weights(&format!("{name}.weight.{j}"), &shape)?);
        }
        concat(name, parts)
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn concat(name: &str, parts: Vec<WeightData>) -> Result<WeightData> {
    if parts.iter().all(|p| matches!(p, WeightData::F32(_))) {
        Ok(WeightData::F32(
            parts
                .into_iter()
                .flat_map(|p| p.to_f32().into_owned())
                .collect(),
        ))
    } else if parts.iter().all(|p| matches!(p, WeightData::F16(_))) {
        Ok(WeightData::F16(
            parts
                .into_iter()
                .flat_map(|p| match p {
                    WeightData::F16(v) => v,
                    WeightData::F32(_) => unreachable!("checked above"),
                })
                .collect(),
        ))
    } else {
        Err(bad(format!("`{name}` mixes f32 and f16 group tensors")))
    }
}

fn build_layer(entry: &LayerEntry, reader: &mut TensorReader<'_, '_>) -> Result<Layer> {
    Ok(match *entry {
        LayerEntry::Conv2d {
            ref name,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            connectivity,
            relu,
        } => {
            let spec = Conv2dSpec::new(
                in_channels,
                out_channels,
                kernel,
                padding,
                groups,
                connectivity,
            )
            .with_stride(stride)
            .with_dilation(dilation)
            .with_relu(relu);
            spec.validate()?;
            let weights = reader.grouped(name, spec.layout(), &[kernel, kernel])?;
            let bias = reader.floats(&format!("{name}.bias"), &[out_channels])?;
            Conv2d::new(spec, weights, Some(bias))?.into()
        }
        LayerEntry::MaxPool2d {
            kernel,
            stride,
            padding,
        } => {
            let spec = MaxPool2dSpec {
                kernel: [kernel; 2],
                stride: [stride.unwrap_or(kernel); 2],
                padding: [padding; 2],
            };
            spec.validate()?;
            spec.into()
        }
        LayerEntry::Linear {
            ref name,
            in_features,
            out_features,
            groups,
            connectivity,
            relu,
        } => {
            let spec = LinearSpec {
                in_features,
                out_features,
                groups,
                connectivity,
                relu,
            };
            spec.validate()?;
            let weights = reader.grouped(name, spec.layout(), &[])?;
            let bias = reader.floats(&format!("{name}.bias"), &[out_features])?;
            Linear::new(spec, weights, Some(bias))?.into()
        }
        LayerEntry::Head {
            ref name,
            in_features,
            classes,
            groups,
        } => {
            let spec = HeadSpec {
                in_features,
                classes,
                groups,
            };
            spec.validate()?;
            let shape = [groups, classes, spec.features_per_group()];
            let weights = reader.weights(&format!("{name}.weight"), &shape)?;
            let bias = reader.floats(&format!("{name}.bias"), &[groups, classes])?;
            Head::new(spec, weights, bias)?.into()
        }
    })
}

/// The inverse of [`build_layer`]: the tensors one layer stores.
fn write_layer(
    entry: &LayerEntry,
    layer: &Layer,
    out: &mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
) {
    fn bytes(w: &WeightData, range: std::ops::Range<usize>) -> (Dtype, Vec<u8>) {
        match w {
            WeightData::F32(v) => (
                Dtype::F32,
                v[range].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            WeightData::F16(v) => (
                Dtype::F16,
                v[range].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        }
    }
    let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let name = entry.label().to_string();
    let mut grouped =
        |layout: GroupLayout, w: &WeightData, taps: &[usize], bias: Option<&[f32]>| {
            for j in 0..layout.groups {
                let (dtype, data) = bytes(w, layout.group_weights(j));
                let mut shape = vec![layout.outputs_per_group(), layout.group_inputs(j).len()];
                shape.extend_from_slice(taps);
                out.push((format!("{name}.weight.{j}"), dtype, shape, data));
            }
            // The format always has a bias; a layer without one stores zeros.
            let b = bias.map_or_else(|| vec![0.0; layout.outputs], <[f32]>::to_vec);
            out.push((
                format!("{name}.bias"),
                Dtype::F32,
                vec![b.len()],
                f32_bytes(&b),
            ));
        };
    match layer {
        Layer::Conv2d(c) => {
            let [kh, kw] = c.spec().kernel;
            grouped(c.spec().layout(), c.weights(), &[kh, kw], c.bias());
        }
        Layer::Linear(l) => grouped(l.spec().layout(), l.weights(), &[], l.bias()),
        Layer::Head(h) => {
            let s = h.spec();
            let (dtype, data) = bytes(h.weights(), 0..h.weights().len());
            out.push((
                format!("{name}.weight"),
                dtype,
                vec![s.groups, s.classes, s.features_per_group()],
                data,
            ));
            out.push((
                format!("{name}.bias"),
                Dtype::F32,
                vec![s.groups, s.classes],
                f32_bytes(h.bias()),
            ));
        }
        Layer::MaxPool2d(_) | Layer::Softmax => {}
    }
}
