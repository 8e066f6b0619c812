//! Which algorithm computes a convolution on the CPU: chosen once per layer
//! when it is prepared, from the layer's shape, unless forced.

use std::fmt;
use std::str::FromStr;

use crate::error::{invalid, Error, Result};
use crate::model::conv::Conv2dSpec;
use crate::settings;

/// The convolution algorithm a [`CpuBackend`](super::CpuBackend) uses
/// (`GROUPSCALE_CONV_ALGO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Winograd where the measured shape rule favours it, direct elsewhere.
    #[default]
    Auto,
    /// Direct convolution everywhere.
    Direct,
    /// Winograd on every layer it applies to (3×3, stride 1, no dilation),
    /// with the tile the shape rule picks; direct on the others, or an error
    /// under `GROUPSCALE_STRICT`.
    Winograd,
    /// As `Winograd`, with F(2×2, 3×3) tiles.
    WinogradF2,
    /// As `Winograd`, with F(4×4, 3×3) tiles.
    WinogradF4,
}

/// What one layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvPath {
    Direct,
    WinogradF2,
    WinogradF4,
}

impl ConvAlgo {
    pub const ALL: [ConvAlgo; 5] = [
        Self::Auto,
        Self::Direct,
        Self::Winograd,
        Self::WinogradF2,
        Self::WinogradF4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Direct => "direct",
            Self::Winograd => "winograd",
            Self::WinogradF2 => "winograd-f2",
            Self::WinogradF4 => "winograd-f4",
        }
    }

    /// `GROUPSCALE_CONV_ALGO`, if set.
    pub fn from_env() -> Result<Option<Self>> {
        settings::CONV_ALGO.value().map(|v| v.parse()).transpose()
    }

    /// The path for one layer.
    pub(crate) fn path(self, spec: &Conv2dSpec) -> Result<ConvPath> {
        let applies = super::winograd::applies(spec);
        let forced = match self {
            Self::Direct => return Ok(ConvPath::Direct),
            Self::Auto => {
                return Ok(if applies && winograd_pays(spec) {
                    winograd_tile(spec)
                } else {
                    ConvPath::Direct
                })
            }
            Self::Winograd => winograd_tile(spec),
            Self::WinogradF2 => ConvPath::WinogradF2,
            Self::WinogradF4 => ConvPath::WinogradF4,
        };
        if applies {
            Ok(forced)
        } else if settings::strict() {
            Err(invalid(format!(
                "GROUPSCALE_CONV_ALGO={self} needs 3×3, stride-1, undilated convolutions, \
                 and this layer is {}×{} at stride {:?}, dilation {:?} (GROUPSCALE_STRICT is set)",
                spec.kernel[0], spec.kernel[1], spec.stride, spec.dilation
            )))
        } else {
            Ok(ConvPath::Direct)
        }
    }
}

/// The rule for `auto` (docs/winograd.md): Winograd F(4×4) measured 1.3–1.5x
/// faster than direct on the preset 3×3 layers at batch 1 and 1.0–1.4x at
/// batch 32 (16 to 96 channels per group); with few channels per group the
/// transforms are not amortised, so such layers stay direct.
fn winograd_pays(spec: &Conv2dSpec) -> bool {
    let layout = spec.layout();
    layout.inputs_per_group() >= 16 && layout.outputs_per_group() >= 16
}

/// The tile `winograd` uses: F(4×4) measured faster than F(2×2) on every
/// preset 3×3 layer (docs/winograd.md).
fn winograd_tile(_spec: &Conv2dSpec) -> ConvPath {
    ConvPath::WinogradF4
}

impl fmt::Display for ConvAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConvAlgo {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::Setting {
                name: settings::CONV_ALGO.name,
                value: s.into(),
                reason: format!("expected one of {}", settings::CONV_ALGO.values),
            })
    }
}
