use crate::error::{check_len, invalid, Error, Result};
use crate::model::group::{Connectivity, GroupLayout};
use crate::model::shape::Shape4;
use crate::model::weights::WeightData;

/// A grouped 2-D convolution whose first `k` groups can run on their own.
///
/// With `k` active groups the input holds only the active input channels
/// (`k·Cin/G`, or all `Cin` under `full`) and the output has `k·Cout/G`
/// channels; bias entries past the active outputs are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    /// (kh, kw)
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub connectivity: Connectivity,
    /// Fused ReLU after the bias.
    pub relu: bool,
}

impl Conv2dSpec {
    /// A stride-1, dilation-1 convolution with symmetric `padding` and no ReLU.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        padding: usize,
        groups: usize,
        connectivity: Connectivity,
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel: [kernel; 2],
            stride: [1; 2],
            padding: [padding; 2],
            dilation: [1; 2],
            groups,
            connectivity,
            relu: false,
        }
    }

    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = [stride; 2];
        self
    }

    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.dilation = [dilation; 2];
        self
    }

    pub fn with_relu(mut self, relu: bool) -> Self {
        self.relu = relu;
        self
    }

    pub fn layout(&self) -> GroupLayout {
        GroupLayout {
            inputs: self.in_channels,
            outputs: self.out_channels,
            groups: self.groups,
            taps: self.kernel[0] * self.kernel[1],
            connectivity: self.connectivity,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(invalid("kernel, stride and dilation must be at least 1"));
        }
        self.layout().validate()
    }

    /// Output (height, width) for an input of `h`×`w`:
    /// floor((H + 2p − d·(kh−1) − 1)/s) + 1.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let dim = |axis: usize, size: usize| -> Result<usize> {
            let span = self.dilation[axis] * (self.kernel[axis] - 1) + 1;
            let padded = size + 2 * self.padding[axis];
            if padded < span {
                return Err(Error::Shape(format!(
                    "input {h}×{w} padded by {:?} is smaller than the dilated kernel span {span}",
                    self.padding
                )));
            }
            Ok((padded - span) / self.stride[axis] + 1)
        };
        Ok((dim(0, h)?, dim(1, w)?))
    }

    /// Output shape for `input` with `k` active groups, checking that the
    /// input carries exactly the active input channels.
    pub fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        let layout = self.layout();
        layout.check_active(k)?;
        let want = layout.active_inputs(k);
        if input.c != want {
            return Err(Error::Shape(format!(
                "input {input} has {} channels, but {} groups of this {} layer read {want}",
                input.c, k, self.connectivity
            )));
        }
        let (ho, wo) = self.output_hw(input.h, input.w)?;
        Ok(Shape4::new(input.n, layout.active_outputs(k), ho, wo))
    }

    /// Floating-point operations (2 per multiply-accumulate) for `input` with
    /// `k` active groups.
    pub fn flops(&self, n: usize, h: usize, w: usize, k: usize) -> f64 {
        let (ho, wo) = self.output_hw(h, w).unwrap_or((0, 0));
        2.0 * (n * ho * wo) as f64 * self.layout().macs_per_position(k) as f64
    }
}

/// A convolution with its weights, validated on construction.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    spec: Conv2dSpec,
    weights: WeightData,
    bias: Option<Vec<f32>>,
}

impl Conv2d {
    pub fn new(
        spec: Conv2dSpec,
        weights: impl Into<WeightData>,
        bias: Option<Vec<f32>>,
    ) -> Result<Self> {
        spec.validate()?;
        let weights = weights.into();
        check_len(
            "convolution weights",
            spec.layout().weight_len(),
            weights.len(),
        )?;
        if let Some(b) = &bias {
            check_len("convolution bias", spec.out_channels, b.len())?;
        }
        Ok(Self {
            spec,
            weights,
            bias,
        })
    }

    pub fn spec(&self) -> &Conv2dSpec {
        &self.spec
    }

    pub fn weights(&self) -> &WeightData {
        &self.weights
    }

    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }
}
