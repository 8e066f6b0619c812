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
    /// Winograd on every layer it applies to (3×3 or 5×5, stride 1, no
    /// dilation), with the tile the shape rule picks; direct on the others,
    /// or an error under `GROUPSCALE_STRICT`.
    Winograd,
    /// As `Winograd`, with 2×2 output tiles: F(2×2, 3×3) and F(2×2, 5×5).
    WinogradF2,
    /// As `Winograd`, with F(4×4, 3×3) tiles (3×3 layers only).
    WinogradF4,
}

/// What one layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvPath {
    Direct,
    WinogradF2,
    WinogradF4,
    /// F(2×2, 5×5).
    WinogradF2R5,
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
        use super::winograd::applies;
        let (three, five) = (applies(spec, 3), applies(spec, 5));
        let forced = match self {
            Self::Direct => return Ok(ConvPath::Direct),
            Self::Auto => {
                return Ok(if three && winograd_pays(spec) {
                    winograd_tile(spec)
                } else {
                    ConvPath::Direct
                })
            }
            Self::Winograd if three || five => Some(winograd_tile(spec)),
            Self::WinogradF2 if three => Some(ConvPath::WinogradF2),
            Self::WinogradF2 if five => Some(ConvPath::WinogradF2R5),
            Self::WinogradF4 if three => Some(ConvPath::WinogradF4),
            _ => None,
        };
        match forced {
            Some(path) => Ok(path),
            None if settings::strict() => Err(invalid(format!(
                "GROUPSCALE_CONV_ALGO={self} needs {} stride-1, undilated convolutions, \
                 and this layer is {}×{} at stride {:?}, dilation {:?} (GROUPSCALE_STRICT is set)",
                if self == Self::WinogradF4 {
                    "3×3,"
                } else {
                    "3×3 or 5×5,"
                },
                spec.kernel[0],
                spec.kernel[1],
                spec.stride,
                spec.dilation
            ))),
            None => Ok(ConvPath::Direct),
        }
    }
}

/// The rule for `auto` (docs/winograd.md): Winograd F(4×4) measured 1.3–1.5x
/// faster than direct on the preset 3×3 layers at batch 1 and 1.0–1.4x at
/// batch 32 (16 to 96 channels per group); with few channels per group the
/// transforms are not amortised, so such layers stay direct. 5×5 layers
/// always stay direct: F(2×2, 5×5) measured 1.5–1.6x slower than direct on
/// the preset 5×5 layer (16 input channels per group), batch 1 and 32.
fn winograd_pays(spec: &Conv2dSpec) -> bool {
    let layout = spec.layout();
    layout.inputs_per_group() >= 16 && layout.outputs_per_group() >= 16
}

/// The tile `winograd` uses: for 3×3 layers F(4×4), measured faster than
/// F(2×2) on every preset 3×3 layer (docs/winograd.md); for 5×5 layers
/// F(2×2, 5×5), the only 5×5 tiling.
fn winograd_tile(spec: &Conv2dSpec) -> ConvPath {
    if spec.kernel == [5, 5] {
        ConvPath::WinogradF2R5
    } else {
        ConvPath::WinogradF4
    }
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
