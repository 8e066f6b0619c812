use crate::error::{check_len, invalid, Error, Result};
use crate::model::group::{Connectivity, GroupLayout};
use crate::model::limits::{self, MAX_CHANNELS, MAX_SIDE};
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
            // Saturating: a spec is only usable once `validate` has bounded
            // the kernel; until then a huge one must not wrap to a small one.
            taps: self.kernel[0].saturating_mul(self.kernel[1]),
            connectivity: self.connectivity,
        }
    }

    /// Checks every parameter against the [`limits`]
    /// and the group structure; a spec that passes runs on every backend.
    pub fn validate(&self) -> Result<()> {
        self.check_window()?;
        limits::check_at_most(
            "input channels",
            self.in_channels,
            "MAX_CHANNELS",
            MAX_CHANNELS,
        )?;
        limits::check_at_most(
            "output channels",
            self.out_channels,
            "MAX_CHANNELS",
            MAX_CHANNELS,
        )?;
        self.layout().validate()
    }

    /// Kernel, stride and dilation at least 1, and all four within
    /// [`limits::MAX_WINDOW`]: what both `validate` and `output_hw` rely on.
    fn check_window(&self) -> Result<()> {
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(invalid("kernel, stride and dilation must be at least 1"));
        }
        limits::check_window("kernel", self.kernel)?;
        limits::check_window("stride", self.stride)?;
        limits::check_window("dilation", self.dilation)?;
        limits::check_window("padding", self.padding)
    }

    /// The dilated kernel's extent along `axis`: d·(k−1) + 1.
    fn span(&self, axis: usize) -> Option<usize> {
        self.dilation[axis]
            .checked_mul(self.kernel[axis].checked_sub(1)?)?
            .checked_add(1)
    }

    /// The zero-padded input size along `axis` for an input of `size`.
    fn padded(&self, axis: usize, size: usize) -> Option<usize> {
        size.checked_add(self.padding[axis].checked_mul(2)?)
    }

    /// Output (height, width) for an input of `h`×`w`:
    /// floor((H + 2p − d·(kh−1) − 1)/s) + 1. Every step is checked; a spec
    /// past the limits or a side past [`MAX_SIDE`] is an `Error::Shape`.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        self.check_window()?;
        if h > MAX_SIDE || w > MAX_SIDE {
            return Err(limits::over(
                "input height×width",
                format!("{h}×{w}"),
                "MAX_SIDE",
                MAX_SIDE,
            ));
        }
        let dim = |axis: usize, size: usize| -> Result<usize> {
            // Both fit easily: each factor is at most MAX_WINDOW or MAX_SIDE.
            let too_big = || Error::Shape(format!("convolution sizes overflow: {self:?}"));
            let span = self.span(axis).ok_or_else(too_big)?;
            let padded = self.padded(axis, size).ok_or_else(too_big)?;
            if padded < span {
                return Err(Error::Shape(format!(
                    "input {h}×{w} padded by {:?} is smaller than the dilated kernel span {span}",
                    self.padding
                )));
            }
            Ok((padded - span) / self.stride[axis] + 1)
        };
        let (ho, wo) = (dim(0, h)?, dim(1, w)?);
        if ho > MAX_SIDE || wo > MAX_SIDE {
            return Err(limits::over(
                "output height×width",
                format!("{ho}×{wo}"),
                "MAX_SIDE",
                MAX_SIDE,
            ));
        }
        Ok((ho, wo))
    }

    /// Output shape for `input` with `k` active groups, checking that the
    /// input carries exactly the active input channels and that the input,
    /// its zero-padded copy (all input channels) and the output each stay
    /// within [`MAX_ELEMENTS`](limits::MAX_ELEMENTS).
    pub fn output_shape(&self, input: Shape4, k: usize) -> Result<Shape4> {
        self.validate()?;
        let layout = self.layout();
        layout.check_active(k)?;
        let want = layout.active_inputs(k);
        if input.c != want {
            return Err(Error::Shape(format!(
                "input {input} has {} channels, but {} groups of this {} layer read {want}",
                input.c, k, self.connectivity
            )));
        }
        limits::check_shape("input", input)?;
        let (ho, wo) = self.output_hw(input.h, input.w)?;
        // output_hw succeeded, so the padded sizes exist.
        let (hp, wp) = (
            self.padded(0, input.h).unwrap_or(usize::MAX),
            self.padded(1, input.w).unwrap_or(usize::MAX),
        );
        // Per image at least: a backend pads one image at a time, too.
        limits::elements(
            "zero-padded input",
            &[input.n.max(1), self.in_channels, hp, wp],
        )?;
        let out = Shape4::new(input.n, layout.active_outputs(k), ho, wo);
        limits::check_shape("output", out)?;
        Ok(out)
    }

    /// Floating-point operations (2 per multiply-accumulate) for `input` with
    /// `k` active groups; 0 for a spec or input that does not validate.
    pub fn flops(&self, n: usize, h: usize, w: usize, k: usize) -> f64 {
        if self.validate().is_err() || self.layout().check_active(k).is_err() {
            return 0.0;
        }
        let (ho, wo) = self.output_hw(h, w).unwrap_or((0, 0));
        2.0 * n as f64 * ho as f64 * wo as f64 * self.layout().macs_per_position(k) as f64
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
