//! A model prepared on one backend: weights converted and uploaded once,
//! activation buffers sized once, and an active group count that can change
//! between two calls for free.

use std::sync::Arc;

use crate::backend::{Backend, BackendKind, Chain};
use crate::error::{Error, Result};
use crate::exec::PreparedLayer;
use crate::loader::Model;
use crate::model::shape::Shape4;

/// Runs a [`Model`] on one backend.
///
/// ```no_run
/// # fn main() -> groupscale::Result<()> {
/// let model = groupscale::Model::load("models/groupalexnet-cumulative.safetensors")?;
/// let mut session = groupscale::Session::new(&model, groupscale::default_backend()?, 8)?;
/// let images = vec![0.0; 8 * model.input().item_len()];
/// session.set_active_groups(2)?; // O(1): no allocation, no upload
/// let logits = session.infer(&images, 8)?; // 8 × classes
/// # let _ = logits; Ok(()) }
/// ```
pub struct Session {
    backend: BackendKind,
    runner: Runner,
    groups: usize,
    k: usize,
    item: Shape4,
    classes: usize,
    capacity: usize,
    /// Ping-pong activation buffers; layer i writes `buffers[i % 2]`. A
    /// device chain writes only its logits, into `buffers[0]`.
    buffers: [Vec<f32>; 2],
}

enum Runner {
    /// Layer by layer through host buffers (CPU backends, wgpu).
    Layers(Vec<PreparedLayer>),
    /// All layers on the device, activations never leaving it (CUDA).
    Chain(Box<dyn Chain>),
}

impl Session {
    /// Prepares every layer on `backend` and reserves buffers for batches of
    /// up to `max_batch` images, with all groups active.
    pub fn new(model: &Model, backend: Arc<dyn Backend>, max_batch: usize) -> Result<Self> {
        let runner = match backend.prepare_chain(model.layers()) {
            Some(chain) => Runner::Chain(chain?),
            None => Runner::Layers(
                model
                    .layers()
                    .iter()
                    .map(|l| PreparedLayer::new(&backend, l.clone()))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let input = model.input();
        let mut session = Self {
            backend: backend.kind(),
            runner,
            groups: model.groups(),
            k: model.groups(),
            item: Shape4::new(1, input.channels, input.height, input.width),
            classes: model.classes().len(),
            capacity: 0,
            buffers: [Vec::new(), Vec::new()],
        };
        session.reserve(max_batch.max(1))?;
        Ok(session)
    }

    /// Makes room for batches of up to `batch` images. `infer` calls it for a
    /// batch larger than any before, so only that first call allocates.
    pub fn reserve(&mut self, batch: usize) -> Result<()> {
        if batch <= self.capacity {
            return Ok(());
        }
        let mut shape = Shape4 {
            n: batch,
            ..self.item
        };
        let mut need = [0usize; 2];
        match &mut self.runner {
            Runner::Layers(layers) => {
                for (i, layer) in layers.iter_mut().enumerate() {
                    layer.reserve(batch, shape.h, shape.w)?;
                    // The widest activation comes with all groups active.
                    shape = layer.output_shape(shape, self.groups)?;
                    need[i % 2] = need[i % 2].max(shape.len());
                }
            }
            Runner::Chain(chain) => {
                // The chain checks every layer's shapes against the limits.
                let out = chain.output_shape(shape, self.groups)?;
                chain.reserve(shape, self.groups)?;
                need[0] = out.len();
            }
        }
        for (buffer, need) in self.buffers.iter_mut().zip(need) {
            // Every size was checked against the limits above; memory can
            // still run out, which is an error here, not an abort.
            let more = need.saturating_sub(buffer.len());
            buffer.try_reserve_exact(more).map_err(|_| {
                Error::Shape(format!(
                    "cannot allocate {need} floats of activations for a batch of {batch}"
                ))
            })?;
            buffer.resize(need, 0.0);
        }
        self.capacity = batch;
        Ok(())
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    pub fn groups(&self) -> usize {
        self.groups
    }

    pub fn active_groups(&self) -> usize {
        self.k
    }

    /// Runs the first `k` groups from the next call on. Constant time: it
    /// allocates nothing and uploads nothing.
    pub fn set_active_groups(&mut self, k: usize) -> Result<()> {
        if k == 0 || k > self.groups {
            return Err(Error::ActiveGroups {
                k,
                groups: self.groups,
            });
        }
        self.k = k;
        Ok(())
    }

    /// Logits (`batch × classes`, row-major) for `batch` preprocessed images
    /// in NCHW order (see [`crate::loader::InputSpec`]).
    pub fn infer(&mut self, images: &[f32], batch: usize) -> Result<&[f32]> {
        let expected = batch.checked_mul(self.item.item_len());
        if batch == 0 || expected != Some(images.len()) {
            return Err(Error::ElementCount {
                what: "images",
                expected: expected.unwrap_or(usize::MAX),
                got: images.len(),
            });
        }
        self.reserve(batch)?;
        let k = self.k;
        let mut shape = Shape4 {
            n: batch,
            ..self.item
        };
        let [even, odd] = &mut self.buffers;
        let last = match &mut self.runner {
            Runner::Layers(layers) => {
                for (i, layer) in layers.iter_mut().enumerate() {
                    let out_shape = layer.output_shape(shape, k)?;
                    let (src, dst): (&[f32], &mut [f32]) = match i {
                        0 => (images, &mut even[..out_shape.len()]),
                        _ if i % 2 == 0 => (&odd[..shape.len()], &mut even[..out_shape.len()]),
                        _ => (&even[..shape.len()], &mut odd[..out_shape.len()]),
                    };
                    shape = layer.run(src, shape, k, dst)?;
                }
                (layers.len() - 1) % 2
            }
            Runner::Chain(chain) => {
                shape = chain.output_shape(shape, k)?;
                chain.run(
                    images,
                    Shape4 {
                        n: batch,
                        ..self.item
                    },
                    k,
                    &mut even[..shape.len()],
                )?;
                0
            }
        };
        Ok(&self.buffers[last][..batch * self.classes])
    }
}
