//! The model file's JSON description: what `train/train.py` writes into the
//! safetensors `__metadata__` under the key [`METADATA_KEY`], and what the
//! loader builds the network from.

use serde::{Deserialize, Serialize};

use crate::model::group::Connectivity;

/// The `__metadata__` key that holds the JSON [`ModelMeta`].
pub const METADATA_KEY: &str = "groupscale";
/// The value of [`ModelMeta::format`].
pub const FORMAT_NAME: &str = "groupscale-model";
/// The newest [`ModelMeta::version`] this loader reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub version: u32,
    pub name: String,
    /// G, shared by every grouped layer.
    pub groups: usize,
    pub input: InputSpec,
    /// Class names, in logit order.
    pub classes: Vec<String>,
    pub layers: Vec<LayerEntry>,
    /// How the weights were made (free-form; `train.py` records the log and
    /// the test accuracy per k).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

/// What one input item is and how raw pixels become the network's input:
/// `x = (pixel / 255 - mean[c]) / std[c]`, after zero-padding a smaller
/// image to `height`×`width` (centred).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// One value, or one per channel.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<String>,
}

impl InputSpec {
    /// Elements of one input item (saturating: a loaded model's input is
    /// within [`MAX_ELEMENTS`](crate::model::limits::MAX_ELEMENTS)).
    pub fn item_len(&self) -> usize {
        self.channels
            .saturating_mul(self.height)
            .saturating_mul(self.width)
    }

    /// Mean and standard deviation of channel `c`.
    pub fn normalisation(&self, c: usize) -> (f32, f32) {
        let pick = |v: &[f32]| if v.len() == 1 { v[0] } else { v[c] };
        (pick(&self.mean), pick(&self.std))
    }
}

fn one() -> usize {
    1
}

/// One layer of the chain. Grouped layers store their weights as one tensor
/// per group, `{name}.weight.{j}`; see docs/design.md for shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerEntry {
    Conv2d {
        name: String,
        in_channels: usize,
        out_channels: usize,
        /// Square kernel side.
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "one")]
        dilation: usize,
        groups: usize,
        connectivity: Connectivity,
        #[serde(default)]
        relu: bool,
    },
    MaxPool2d {
        kernel: usize,
        #[serde(default)]
        stride: Option<usize>,
        #[serde(default)]
        padding: usize,
    },
    Linear {
        name: String,
        in_features: usize,
        out_features: usize,
        groups: usize,
        connectivity: Connectivity,
        #[serde(default)]
        relu: bool,
    },
    Head {
        name: String,
        in_features: usize,
        classes: usize,
        groups: usize,
    },
}

impl LayerEntry {
    /// The tensor-name prefix, or a description for unnamed layers.
    pub fn label(&self) -> &str {
        match self {
            Self::Conv2d { name, .. } | Self::Linear { name, .. } | Self::Head { name, .. } => name,
            Self::MaxPool2d { .. } => "max_pool2d",
        }
    }
}
