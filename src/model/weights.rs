use std::borrow::Cow;

use half::f16;

/// Weights as stored: f32, or f16 to halve the footprint. Kernels compute in
/// f32; backends convert f16 once, when a layer is prepared.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightData {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

impl WeightData {
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F16(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_f32(&self) -> Cow<'_, [f32]> {
        match self {
            Self::F32(v) => Cow::Borrowed(v),
            Self::F16(v) => Cow::Owned(v.iter().map(|x| x.to_f32()).collect()),
        }
    }

    /// Size in bytes as stored.
    pub fn bytes(&self) -> usize {
        match self {
            Self::F32(v) => 4 * v.len(),
            Self::F16(v) => 2 * v.len(),
        }
    }
}

impl From<Vec<f32>> for WeightData {
    fn from(v: Vec<f32>) -> Self {
        Self::F32(v)
    }
}

impl From<Vec<f16>> for WeightData {
    fn from(v: Vec<f16>) -> Self {
        Self::F16(v)
    }
}
