//! The WGSL sources, assembled per weight precision. Each shader is the
//! precision prelude, `common.wgsl`, then its own file.

/// The compute entry points and the file each lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    Conv,
    MaxPool,
    Linear,
    Head,
    Softmax,
}

impl Entry {
    pub const ALL: [Entry; 5] = [
        Self::Conv,
        Self::MaxPool,
        Self::Linear,
        Self::Head,
        Self::Softmax,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Conv => "conv",
            Self::MaxPool => "max_pool",
            Self::Linear => "linear",
            Self::Head => "head",
            Self::Softmax => "softmax",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Self::Conv => include_str!("../../../shaders/conv.wgsl"),
            Self::MaxPool => include_str!("../../../shaders/pool.wgsl"),
            Self::Linear | Self::Head => include_str!("../../../shaders/dense.wgsl"),
            Self::Softmax => include_str!("../../../shaders/softmax.wgsl"),
        }
    }

    /// Whether the shader reads weights (and so has an f16 variant).
    pub fn has_weights(self) -> bool {
        matches!(self, Self::Conv | Self::Linear | Self::Head)
    }

    /// Bindings after the uniform: input, [weights, bias,] output.
    pub fn storage_bindings(self) -> u32 {
        if self.has_weights() {
            4
        } else {
            2
        }
    }
}

const COMMON: &str = include_str!("../../../shaders/common.wgsl");

/// The full source of `entry`'s shader with f16 or f32 weights.
pub fn source(entry: Entry, f16_weights: bool) -> String {
    let prelude = if f16_weights {
        "enable f16;\nalias W = f16;\n"
    } else {
        "alias W = f32;\n"
    };
    format!("{prelude}{COMMON}\n{}", entry.body())
}
