use crate::error::check_len;
use crate::error::{Error, Result};
use crate::model::group::{Connectivity, GroupLayout};
use crate::model::limits::{self, MAX_FEATURES};
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;

/// A grouped fully connected layer, with the same three connectivities as
/// [`Conv2dSpec`](crate::Conv2dSpec) (one tap per input feature).
///
/// The input is read flattened per batch item, so a convolution's NCHW output
/// feeds it directly: group j's features are channel group j's planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinearSpec {
    pub in_features: usize,
    pub out_features: usize,
    pub groups: usize,
    pub connectivity: Connectivity,
    pub relu: bool,
}

impl LinearSpec {
    pub fn layout(&self) -> GroupLayout {
        GroupLayout {
            inputs: self.in_features,
            outputs: self.out_features,
            groups: self.groups,
            taps: 1,
            connectivity: self.connectivity,
        }
    }

    /// Checks the sizes against the [`limits`] and the
    /// group structure.
    pub fn validate(&self) -> Result<()> {
        limits::check_at_most(
            "input features",
            self.in_features,
            "MAX_FEATURES",
            MAX_FEATURES,
        )?;
        limits::check_at_most(
            "output features",
            self.out_features,
            "MAX_FEATURES",
            MAX_FEATURES,
        )?;
        self.layout().validate()
    }

    pub fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        self.validate()?;
        let layout = self.layout();
        layout.check_active(k)?;
        limits::check_shape("input", input)?;
        let want = layout.active_inputs(k);
        if input.item_len() != want {
            return Err(Error::Shape(format!(
                "input {input} has {} features per item, but {k} groups of this {} linear layer read {want}",
                input.item_len(),
                self.connectivity
            )));
        }
        let out = Shape4::flat(input.n, layout.active_outputs(k));
        limits::check_shape("output", out)?;
        Ok(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    spec: LinearSpec,
    weights: WeightData,
    bias: Option<Vec<f32>>,
}

impl Linear {
    pub fn new(
        spec: LinearSpec,
        weights: impl Into<WeightData>,
        bias: Option<Vec<f32>>,
    ) -> Result<Self> {
        spec.validate()?;
        let weights = weights.into();
        check_len("linear weights", spec.layout().weight_len(), weights.len())?;
        if let Some(b) = &bias {
            check_len("linear bias", spec.out_features, b.len())?;
        }
        Ok(Self {
            spec,
            weights,
            bias,
        })
    }

    pub fn spec(&self) -> &LinearSpec {
        &self.spec
    }

    pub fn weights(&self) -> &WeightData {
        &self.weights
    }

    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }
}
