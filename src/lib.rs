//! # groupscale
//!
//! Grouped-convolution kernels for dynamic DNNs whose cost scales at run time
//! (Xun et al., "Incremental Training and Group Convolution Pruning for
//! Runtime DNN Performance Scaling on Heterogeneous Embedded Platforms",
//! MLCAD 2019). A layer's channels are split into G groups trained one after
//! another; running only the first k groups cuts time and energy roughly by
//! k/G, and k can change between two calls with no reload.
//!
//! ```
//! use groupscale::{Conv2d, Conv2dSpec, Connectivity, PreparedLayer, Shape4, Tensor};
//!
//! let spec = Conv2dSpec::new(8, 8, 3, 1, 4, Connectivity::Isolated).with_relu(true);
//! let conv = Conv2d::new(spec, vec![0.1; spec.layout().weight_len()], None)?;
//! let backend = groupscale::default_backend()?;
//! let mut layer = PreparedLayer::new(&backend, conv.into())?;
//! // Two of four groups active: the input holds 2·8/4 = 4 channels.
//! let x = Tensor::new(Shape4::new(1, 4, 6, 6), vec![1.0; 144])?;
//! let y = layer.forward(&x, 2)?;
//! assert_eq!(y.shape, Shape4::new(1, 4, 6, 6));
//! # Ok::<(), groupscale::Error>(())
//! ```
//!
//! ## The main path
//!
//! A whole model (a file from [`loader`], or a shipped one) prepared once
//! in a [`Session`], with k changed between two calls: no reload, no
//! allocation.
//!
//! ```
//! let model = groupscale::loader::builtin::model("cumulative")?;
//! let mut session = groupscale::Session::new(&model, groupscale::default_backend()?, 1)?;
//! let image = vec![0.0f32; model.input().item_len()];
//! session.set_active_groups(1)?; // the cheapest point
//! let cheap = session.infer(&image, 1)?.to_vec();
//! session.set_active_groups(model.groups())?; // every group, at once
//! let full = session.infer(&image, 1)?;
//! assert_eq!(cheap.len(), full.len()); // class probabilities either way
//! # Ok::<(), groupscale::Error>(())
//! ```
//!
//! Under a latency or energy budget, [`manager::Server`] picks k, the cores
//! and the clocks frame by frame from a profile table that
//! [`manager::profile()`] measures (`examples/manager_loop.rs`).
//!
//! ## Where things live
//!
//! [`model`] holds the semantics (group layouts, layers, shapes);
//! [`backend`](mod@backend) the backends (`scalar`, the oracle; `cpu`, one kernel table
//! per instruction set; `cuda`; `wgpu`), which [`dispatch`] detects and
//! picks; [`session`] runs a model on one; [`manager`] chooses operating
//! points; [`platform`] reads and sets clocks, always restoring them;
//! [`settings`] lists every environment variable the crate reads.

pub mod backend;
pub mod check;
pub mod data;
pub mod dispatch;
pub mod error;
pub mod eval;
pub mod exec;
pub mod loader;
pub mod manager;
pub mod model;
pub mod platform;
pub mod presets;
pub mod session;
pub mod settings;

#[cfg(feature = "cpu")]
pub use backend::cpu::{ConvAlgo, CpuBackend, CpuConfig, CpuIsa};
pub use backend::scalar::ScalarBackend;
pub use backend::{Arithmetic, Backend, BackendKind, Chain, Kernel};
pub use dispatch::{backend, default_backend, registry};
pub use error::{Error, Result};
pub use exec::PreparedLayer;
pub use loader::Model;
pub use model::conv::{Conv2d, Conv2dSpec};
pub use model::group::{Connectivity, GroupLayout};
pub use model::head::{Head, HeadSpec};
pub use model::layer::Layer;
pub use model::linear::{Linear, LinearSpec};
pub use model::pool::MaxPool2dSpec;
pub use model::shape::{Shape4, Tensor};
pub use model::weights::WeightData;
pub use session::Session;
