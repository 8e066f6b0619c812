use crate::error::check_len;
use crate::error::{invalid, Error, Result};
use crate::model::limits::{self, MAX_CHANNELS, MAX_FEATURES};
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;

/// The dynamic classifier: logits = Σ_{j<k} W_j·h_j + b_k.
///
/// Each group j owns a block `W_j` of shape `[classes, in_features/G]` applied
/// to its own features `h_j`, and each active-group count k has its own bias
/// `b_k`, trained in the stage that added group k.
/// Weights: `[G, classes, in_features/G]`; bias: `[G, classes]` (row k−1 is `b_k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeadSpec {
    pub in_features: usize,
    pub classes: usize,
    pub groups: usize,
}

impl HeadSpec {
    /// Checks the sizes against the [`limits`], and
    /// that the groups divide the features.
    pub fn validate(&self) -> Result<()> {
        if self.groups == 0 || self.classes == 0 || self.in_features == 0 {
            return Err(invalid("head sizes must be non-zero"));
        }
        limits::check_at_most(
            "head input features",
            self.in_features,
            "MAX_FEATURES",
            MAX_FEATURES,
        )?;
        limits::check_at_most("classes", self.classes, "MAX_FEATURES", MAX_FEATURES)?;
        limits::check_at_most("head groups", self.groups, "MAX_CHANNELS", MAX_CHANNELS)?;
        if !self.in_features.is_multiple_of(self.groups) {
            return Err(invalid(format!(
                "groups G = {} does not divide the head's {} input features",
                self.groups, self.in_features
            )));
        }
        // The bias, G·classes, is no larger: G ≤ in_features.
        limits::elements("head weights", &[self.classes, self.in_features])?;
        Ok(())
    }

    pub fn features_per_group(&self) -> usize {
        self.in_features / self.groups
    }

    /// Saturating, so an unvalidated spec never wraps to a small length.
    pub fn weight_len(&self) -> usize {
        self.classes.saturating_mul(self.in_features)
    }

    pub fn bias_len(&self) -> usize {
        self.groups.saturating_mul(self.classes)
    }

    pub fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        self.validate()?;
        if k == 0 || k > self.groups {
            return Err(Error::ActiveGroups {
                k,
                groups: self.groups,
            });
        }
        limits::check_shape("input", input)?;
        let want = k * self.features_per_group();
        if input.item_len() != want {
            return Err(Error::Shape(format!(
                "input {input} has {} features per item, but the head with {k} groups reads {want}",
                input.item_len()
            )));
        }
        let out = Shape4::flat(input.n, self.classes);
        limits::check_shape("output", out)?;
        Ok(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    spec: HeadSpec,
    weights: WeightData,
    bias: Vec<f32>,
}

impl Head {
    pub fn new(spec: HeadSpec, weights: impl Into<WeightData>, bias: Vec<f32>) -> Result<Self> {
        spec.validate()?;
        let weights = weights.into();
        check_len("head weights", spec.weight_len(), weights.len())?;
        check_len("head bias", spec.bias_len(), bias.len())?;
        Ok(Self {
            spec,
            weights,
            bias,
        })
    }

    pub fn spec(&self) -> &HeadSpec {
        &self.spec
    }

    pub fn weights(&self) -> &WeightData {
        &self.weights
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
}
