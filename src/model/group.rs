//! How output groups read input channels: the one place that defines the
//! three connectivities, shared by convolutions and linear layers.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::error::{invalid, Error, Result};
use crate::model::limits::{self, MAX_CHANNELS, MAX_ELEMENTS};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    /// Output group j reads input group j only (classic grouped conv).
    /// Weights `[Cout, Cin/G, taps]` (PyTorch's layout).
    Isolated,
    /// Output group j reads input groups 0..=j, as incremental training with
    /// frozen earlier groups produces. Weights: the concatenation over j of
    /// `[Cout/G, (j+1)·Cin/G, taps]`.
    Cumulative,
    /// Every output group reads all input channels; the input is not split.
    /// Weights `[Cout, Cin, taps]`.
    Full,
}

impl Connectivity {
    pub const ALL: [Connectivity; 3] = [Self::Isolated, Self::Cumulative, Self::Full];

    /// The code the GPU kernels use (`shaders/common.wgsl`,
    /// `kernels/groupscale.cuh`).
    pub fn gpu_code(self) -> u32 {
        match self {
            Self::Isolated => 0,
            Self::Cumulative => 1,
            Self::Full => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Isolated => "isolated",
            Self::Cumulative => "cumulative",
            Self::Full => "full",
        }
    }
}

impl fmt::Display for Connectivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Connectivity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "isolated" => Ok(Self::Isolated),
            "cumulative" => Ok(Self::Cumulative),
            "full" => Ok(Self::Full),
            other => Err(invalid(format!(
                "unknown connectivity `{other}` (expected isolated, cumulative or full)"
            ))),
        }
    }
}

/// The group structure of a layer: `inputs` channels (or features) feed
/// `outputs` channels split into `groups`, each output reading `taps` values
/// per input channel (kh·kw for a convolution, 1 for a linear layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupLayout {
    pub inputs: usize,
    pub outputs: usize,
    pub groups: usize,
    pub taps: usize,
    pub connectivity: Connectivity,
}

impl GroupLayout {
    pub fn validate(&self) -> Result<()> {
        let Self {
            inputs,
            outputs,
            groups,
            taps,
            connectivity,
        } = *self;
        if groups == 0 {
            return Err(invalid("groups must be at least 1"));
        }
        if inputs == 0 || outputs == 0 || taps == 0 {
            return Err(invalid("channel counts and kernel size must be non-zero"));
        }
        if !outputs.is_multiple_of(groups) {
            return Err(invalid(format!(
                "groups G = {groups} does not divide the {outputs} output channels"
            )));
        }
        if connectivity != Connectivity::Full && !inputs.is_multiple_of(groups) {
            return Err(invalid(format!(
                "groups G = {groups} does not divide the {inputs} input channels \
                 ({connectivity} connectivity splits the input)"
            )));
        }
        limits::check_at_most("groups", groups, "MAX_CHANNELS", MAX_CHANNELS)?;
        // Every size derived below must fit in usize and in the 32-bit
        // offsets the kernels use.
        match self.weight_len_checked() {
            Some(n) if n <= MAX_ELEMENTS => Ok(()),
            Some(n) => Err(limits::over("weights", n, "MAX_ELEMENTS", MAX_ELEMENTS)),
            None => Err(limits::over(
                "weights",
                "more than usize::MAX",
                "MAX_ELEMENTS",
                MAX_ELEMENTS,
            )),
        }
    }

    pub fn check_active(&self, k: usize) -> Result<()> {
        if k == 0 || k > self.groups {
            return Err(Error::ActiveGroups {
                k,
                groups: self.groups,
            });
        }
        Ok(())
    }

    pub fn outputs_per_group(&self) -> usize {
        self.outputs / self.groups
    }

    /// Input channels per group (the whole input under `full`).
    pub fn inputs_per_group(&self) -> usize {
        match self.connectivity {
            Connectivity::Full => self.inputs,
            _ => self.inputs / self.groups,
        }
    }

    /// Input channels present when `k` groups are active.
    pub fn active_inputs(&self, k: usize) -> usize {
        match self.connectivity {
            Connectivity::Full => self.inputs,
            _ => k * self.inputs / self.groups,
        }
    }

    pub fn active_outputs(&self, k: usize) -> usize {
        k * self.outputs_per_group()
    }

    /// The input channels that output group `j` reads.
    pub fn group_inputs(&self, j: usize) -> Range<usize> {
        let per = self.inputs_per_group();
        match self.connectivity {
            Connectivity::Isolated => j * per..(j + 1) * per,
            Connectivity::Cumulative => 0..(j + 1) * per,
            Connectivity::Full => 0..self.inputs,
        }
    }

    /// Weights per output channel of group `j`: its input channels times taps.
    pub fn group_row_len(&self, j: usize) -> usize {
        self.group_inputs(j).len() * self.taps
    }

    /// Where group `j`'s weights `[Cout/G, row_len]` sit in the weight buffer.
    pub fn group_weights(&self, j: usize) -> Range<usize> {
        let og = self.outputs_per_group();
        let start = match self.connectivity {
            Connectivity::Isolated | Connectivity::Full => j * og * self.group_row_len(0),
            // Blocks grow by one input group each: sum_{i<j} og·(i+1)·cg·taps.
            Connectivity::Cumulative => {
                og * self.inputs_per_group() * self.taps * (j * (j + 1) / 2)
            }
        };
        start..start + og * self.group_row_len(j)
    }

    pub fn weight_len(&self) -> usize {
        self.group_weights(self.groups - 1).end
    }

    fn weight_len_checked(&self) -> Option<usize> {
        let og = self.outputs_per_group();
        let g = self.groups;
        let row = self.inputs_per_group().checked_mul(self.taps)?;
        match self.connectivity {
            Connectivity::Isolated | Connectivity::Full => og.checked_mul(g)?.checked_mul(row),
            Connectivity::Cumulative => og
                .checked_mul(row)?
                .checked_mul(g.checked_mul(g.checked_add(1)?)? / 2),
        }
    }

    /// Multiply-accumulates per output position with `k` active groups.
    pub fn macs_per_position(&self, k: usize) -> usize {
        (0..k)
            .map(|j| self.outputs_per_group() * self.group_row_len(j))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(c: Connectivity) -> GroupLayout {
        GroupLayout {
            inputs: 8,
            outputs: 12,
            groups: 4,
            taps: 9,
            connectivity: c,
        }
    }

    #[test]
    fn weight_blocks_tile_the_buffer_without_gaps() {
        for c in Connectivity::ALL {
            let l = layout(c);
            let mut next = 0;
            for j in 0..l.groups {
                let r = l.group_weights(j);
                assert_eq!(r.start, next, "{c}: group {j} starts after a gap");
                next = r.end;
            }
            assert_eq!(next, l.weight_len());
            assert_eq!(Some(next), l.weight_len_checked());
        }
    }

    #[test]
    fn weight_lengths_match_the_documented_layouts() {
        // isolated [Cout, Cin/G, 9]; cumulative sum_j [Cout/G, (j+1)Cin/G, 9]; full [Cout, Cin, 9]
        assert_eq!(layout(Connectivity::Isolated).weight_len(), 12 * 2 * 9);
        assert_eq!(
            layout(Connectivity::Cumulative).weight_len(),
            3 * 9 * (2 + 4 + 6 + 8)
        );
        assert_eq!(layout(Connectivity::Full).weight_len(), 12 * 8 * 9);
    }

    #[test]
    fn full_connectivity_allows_indivisible_inputs() {
        let mut l = layout(Connectivity::Full);
        l.inputs = 3;
        assert!(l.validate().is_ok());
        l.connectivity = Connectivity::Isolated;
        assert!(l.validate().is_err());
    }
}
