use crate::error::{invalid, Error, Result};
use crate::model::limits;
use crate::model::shape::Shape4;

/// Max-pooling over each channel plane, as PyTorch's `max_pool2d` (floor
/// mode, implicit −∞ padding). Channels are pooled independently, so it
/// applies unchanged to however many groups are active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaxPool2dSpec {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl MaxPool2dSpec {
    /// A `size`×`size` window moved by `size` (non-overlapping).
    pub fn square(size: usize) -> Self {
        Self {
            kernel: [size; 2],
            stride: [size; 2],
            padding: [0; 2],
        }
    }

    /// Checks the window against the [`limits`].
    pub fn validate(&self) -> Result<()> {
        if self.kernel.contains(&0) || self.stride.contains(&0) {
            return Err(invalid("max-pool kernel and stride must be at least 1"));
        }
        limits::check_window("max-pool kernel", self.kernel)?;
        limits::check_window("max-pool stride", self.stride)?;
        limits::check_window("max-pool padding", self.padding)?;
        // As in PyTorch: a window must always hold at least one real element.
        if (0..2).any(|a| 2 * self.padding[a] > self.kernel[a]) {
            return Err(invalid(
                "max-pool padding must be at most half the kernel size",
            ));
        }
        Ok(())
    }

    /// The output shape; checks the window, and that input and output stay
    /// within [`MAX_SIDE`](limits::MAX_SIDE) and
    /// [`MAX_ELEMENTS`](limits::MAX_ELEMENTS).
    pub fn output_shape(&self, input: Shape4) -> Result<Shape4> {
        self.validate()?;
        limits::check_shape("input", input)?;
        let dim = |a: usize, size: usize| {
            // Cannot overflow: size ≤ MAX_SIDE and padding ≤ MAX_WINDOW.
            let padded = size + 2 * self.padding[a];
            if padded < self.kernel[a] {
                return Err(Error::Shape(format!(
                    "input {input} is smaller than the max-pool window {:?}",
                    self.kernel
                )));
            }
            Ok((padded - self.kernel[a]) / self.stride[a] + 1)
        };
        let out = Shape4::new(input.n, input.c, dim(0, input.h)?, dim(1, input.w)?);
        limits::check_shape("output", out)?;
        Ok(out)
    }
}
