//! Hard limits on every size a layer, a shape or a file may declare.
//!
//! Sizes come from callers, command lines and model files, so none of them
//! is trusted: the layer specs check them against these limits (in their
//! `validate()` and `output_shape()`) before any buffer is sized or any
//! kernel runs, with checked arithmetic throughout. A layer and an input
//! that pass those checks run on every backend without an index or offset
//! overflowing, so the unsafe kernels rely on these limits alone. Anything
//! past a limit is an [`Error::Shape`] that names the limit.
//!
//! The limits are far above any network this crate targets (CIFAR-10 and
//! Fashion-MNIST classifiers; ImageNet-sized layers fit easily) and low
//! enough that every derived size (padded planes, offset tables, element
//! indices) fits in 32 bits.

use crate::error::{Error, Result};
use crate::model::shape::Shape4;

/// Largest kernel side, stride, dilation or padding of a convolution or a
/// max-pool, per axis (2^16). A dilated kernel must also fit in the padded
/// input, so spans stay below [`MAX_SIDE`]` + 2·MAX_WINDOW`; keeping each
/// factor this small means `kernel·dilation`, `2·padding` and the
/// per-parameter `u32` fields of the GPU kernels never overflow.
pub const MAX_WINDOW: usize = 1 << 16;

/// Largest height or width of any activation, input or output (2^14 =
/// 16,384). A model declaring a larger input is refused before anything is
/// allocated for it; 16,384² pixels is far beyond any image a classifier
/// reads.
pub const MAX_SIDE: usize = 1 << 14;

/// Largest channel count of a convolution, and largest group count of any
/// layer (2^15 = 32,768). Keeps the CUDA grid's channel-tile rows
/// (`k·⌈Cout/G / 32⌉`) under CUDA's 65,535 and the wgpu grid's channel
/// dimension under WebGPU's guaranteed 65,535 workgroups.
pub const MAX_CHANNELS: usize = 1 << 15;

/// Largest feature count of a linear layer or the head, and largest class
/// count (2^24). Flattened convolution outputs can be wide (256·13·13 =
/// 43,264 in AlexNet); the weight count is bounded separately by
/// [`MAX_ELEMENTS`].
pub const MAX_FEATURES: usize = 1 << 24;

/// Largest element count of any tensor: an input, an output, a convolution's
/// zero-padded input and a layer's weights (2^31 − 1, `i32::MAX`). The GPU
/// kernels index elements with 32-bit integers (WGSL has no 64-bit ones), and
/// the CPU kernels' offset tables are `u32`; at 4 bytes per element this
/// also caps one activation buffer at 8 GiB.
pub const MAX_ELEMENTS: usize = i32::MAX as usize;

/// Largest input a model file may declare, per item: 2^26 elements
/// (256 MiB as f32; a 3×4096×4096 image fits). The input sizes every buffer
/// a session and the data loaders allocate for the model, so a file of a
/// few hundred bytes must not be able to ask for more.
pub const MAX_INPUT_ELEMENTS: usize = 1 << 26;

/// `Error::Shape` saying that `what` = `value` exceeds the limit `name`.
pub(crate) fn over(what: &str, value: impl std::fmt::Display, name: &str, limit: usize) -> Error {
    Error::Shape(format!(
        "{what} = {value} exceeds the limit {name} = {limit}"
    ))
}

/// Checks one window parameter (kernel side, stride, dilation, padding).
pub(crate) fn check_window(what: &str, values: [usize; 2]) -> Result<()> {
    match values.into_iter().find(|&v| v > MAX_WINDOW) {
        Some(v) => Err(over(what, v, "MAX_WINDOW", MAX_WINDOW)),
        None => Ok(()),
    }
}

/// Checks a count against a limit.
pub(crate) fn check_at_most(what: &str, value: usize, name: &str, limit: usize) -> Result<()> {
    if value > limit {
        return Err(over(what, value, name, limit));
    }
    Ok(())
}

/// `a·b·…`, or an `Error::Shape` when the product overflows or exceeds
/// [`MAX_ELEMENTS`].
pub(crate) fn elements(what: &str, factors: &[usize]) -> Result<usize> {
    let product = factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f));
    match product {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        Some(n) => Err(over(
            &format!("{what} elements"),
            n,
            "MAX_ELEMENTS",
            MAX_ELEMENTS,
        )),
        None => Err(over(
            &format!("{what} elements"),
            factors
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("·"),
            "MAX_ELEMENTS",
            MAX_ELEMENTS,
        )),
    }
}

/// Checks a tensor shape: sides within [`MAX_SIDE`], and at most
/// [`MAX_ELEMENTS`] elements per item and in all. Returns the element count;
/// after this, [`Shape4::len`], `item_len` and `plane` cannot overflow.
/// Allocates nothing unless it fails (it runs on every layer call).
pub(crate) fn check_shape(what: &str, shape: Shape4) -> Result<usize> {
    if shape.h > MAX_SIDE || shape.w > MAX_SIDE {
        return Err(over(
            &format!("{what} {shape}: height×width"),
            format!("{}×{}", shape.h, shape.w),
            "MAX_SIDE",
            MAX_SIDE,
        ));
    }
    let item = shape
        .c
        .checked_mul(shape.h)
        .and_then(|v| v.checked_mul(shape.w));
    match item.and_then(|item| Some((item, item.checked_mul(shape.n)?))) {
        Some((item, len)) if item <= MAX_ELEMENTS && len <= MAX_ELEMENTS => Ok(len),
        _ => elements(
            &format!("{what} {shape}:"),
            &[shape.n, shape.c, shape.h, shape.w],
        )
        .and_then(|_| {
            elements(
                &format!("{what} {shape}: per item,"),
                &[shape.c, shape.h, shape.w],
            )
        }),
    }
}
