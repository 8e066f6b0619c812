//! The oracle: plain loops that follow the semantics literally, in f32, and
//! are never optimised. Every other backend is tested against it.

mod conv;
mod dense;
pub(crate) mod pool;

use crate::backend::{check_run, Backend, BackendKind, Kernel};
use crate::error::Result;
use crate::model::layer::Layer;
use crate::model::shape::Shape4;

#[derive(Clone, Copy, Debug, Default)]
pub struct ScalarBackend;

impl Backend for ScalarBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Scalar
    }

    fn describe(&self) -> String {
        "scalar: reference loops, 1 thread".into()
    }

    fn prepare(&self, layer: &Layer) -> Result<Box<dyn Kernel>> {
        Ok(Box::new(ScalarKernel {
            layer: OwnedLayer::from(layer),
        }))
    }
}

/// A layer with its weights as f32, converted once.
enum OwnedLayer {
    Conv(crate::Conv2dSpec, Vec<f32>, Option<Vec<f32>>),
    Pool(crate::MaxPool2dSpec),
    Linear(crate::LinearSpec, Vec<f32>, Option<Vec<f32>>),
    Head(crate::HeadSpec, Vec<f32>, Vec<f32>),
    Softmax,
}

impl From<&Layer> for OwnedLayer {
    fn from(layer: &Layer) -> Self {
        match layer {
            Layer::Conv2d(c) => Self::Conv(
                *c.spec(),
                c.weights().to_f32().into_owned(),
                c.bias().map(<[f32]>::to_vec),
            ),
            Layer::MaxPool2d(p) => Self::Pool(*p),
            Layer::Linear(l) => Self::Linear(
                *l.spec(),
                l.weights().to_f32().into_owned(),
                l.bias().map(<[f32]>::to_vec),
            ),
            Layer::Head(h) => Self::Head(
                *h.spec(),
                h.weights().to_f32().into_owned(),
                h.bias().to_vec(),
            ),
            Layer::Softmax => Self::Softmax,
        }
    }
}

struct ScalarKernel {
    layer: OwnedLayer,
}

impl Kernel for ScalarKernel {
    fn reserve(&mut self, _batch: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    fn run(&mut self, input: &[f32], shape: Shape4, k: usize, output: &mut [f32]) -> Result<()> {
        // PreparedLayer checked these already; a direct caller gets an error
        // here rather than a panic inside the loops.
        let out = match &self.layer {
            OwnedLayer::Conv(spec, ..) => spec.output_shape(shape, k)?,
            OwnedLayer::Pool(spec) => spec.output_shape(shape)?,
            OwnedLayer::Linear(spec, ..) => spec.output_shape(shape, k)?,
            OwnedLayer::Head(spec, ..) => spec.output_shape(shape, k)?,
            OwnedLayer::Softmax => Layer::Softmax.output_shape(shape, k)?,
        };
        check_run(shape, out, input, output)?;
        if out.is_empty() {
            return Ok(());
        }
        match &self.layer {
            OwnedLayer::Conv(spec, w, b) => {
                conv::conv2d(spec, w, b.as_deref(), input, shape, k, output)
            }
            OwnedLayer::Pool(spec) => pool::max_pool2d(spec, input, shape, output),
            OwnedLayer::Linear(spec, w, b) => {
                dense::linear(spec, w, b.as_deref(), input, shape.n, k, output)
            }
            OwnedLayer::Head(spec, w, b) => dense::head(spec, w, b, input, shape.n, k, output),
            OwnedLayer::Softmax => pool::softmax(input, shape.n, shape.item_len(), output),
        }
        Ok(())
    }
}
