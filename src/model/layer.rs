use crate::error::Result;
use crate::model::conv::Conv2d;
use crate::model::head::Head;
use crate::model::limits;
use crate::model::linear::Linear;
use crate::model::pool::MaxPool2dSpec;
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;

/// Every operation a backend runs. Each one is told how many groups are
/// active; the group-free operations (pooling, softmax) ignore it.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    Conv2d(Conv2d),
    MaxPool2d(MaxPool2dSpec),
    Linear(Linear),
    Head(Head),
    /// Softmax over each batch item's flattened values.
    Softmax,
}

impl Layer {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Conv2d(_) => "conv2d",
            Self::MaxPool2d(_) => "max_pool2d",
            Self::Linear(_) => "linear",
            Self::Head(_) => "head",
            Self::Softmax => "softmax",
        }
    }

    /// Groups the layer is split into (1 for the group-free operations).
    pub fn groups(&self) -> usize {
        match self {
            Self::Conv2d(c) => c.spec().groups,
            Self::Linear(l) => l.spec().groups,
            Self::Head(h) => h.spec().groups,
            Self::MaxPool2d(_) | Self::Softmax => 1,
        }
    }

    /// The weights and bias of a layer that has them.
    pub fn parameters(&self) -> Option<(&WeightData, Option<&[f32]>)> {
        match self {
            Self::Conv2d(c) => Some((c.weights(), c.bias())),
            Self::Linear(l) => Some((l.weights(), l.bias())),
            Self::Head(h) => Some((h.weights(), Some(h.bias()))),
            Self::MaxPool2d(_) | Self::Softmax => None,
        }
    }

    /// The largest input this layer takes for `batch` images of `h`×`w`, and
    /// its output, both with all groups active: what a backend reserves.
    /// `None` for pooling and softmax, whose input is whatever the previous
    /// layer gives.
    pub fn widest(&self, batch: usize, h: usize, w: usize) -> Result<Option<(Shape4, Shape4)>> {
        let input = match self {
            Self::Conv2d(c) => Shape4::new(batch, c.spec().in_channels, h, w),
            Self::Linear(l) => Shape4::flat(batch, l.spec().in_features),
            Self::Head(hd) => Shape4::flat(batch, hd.spec().in_features),
            Self::MaxPool2d(_) | Self::Softmax => return Ok(None),
        };
        Ok(Some((input, self.output_shape(input, self.groups())?)))
    }

    /// The output shape for `input` with `k` active groups; every check of a
    /// caller's input happens here, before any backend runs.
    pub fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        match self {
            Self::Conv2d(c) => c.spec().output_shape(input, k),
            Self::MaxPool2d(p) => p.output_shape(input),
            Self::Linear(l) => l.spec().output_shape(input, k),
            Self::Head(h) => h.spec().output_shape(input, k),
            Self::Softmax => {
                limits::check_shape("input", input)?;
                Ok(input)
            }
        }
    }
}

impl From<Conv2d> for Layer {
    fn from(c: Conv2d) -> Self {
        Self::Conv2d(c)
    }
}

impl From<Linear> for Layer {
    fn from(l: Linear) -> Self {
        Self::Linear(l)
    }
}

impl From<Head> for Layer {
    fn from(h: Head) -> Self {
        Self::Head(h)
    }
}

impl From<MaxPool2dSpec> for Layer {
    fn from(p: MaxPool2dSpec) -> Self {
        Self::MaxPool2d(p)
    }
}
