use std::fmt;

/// A dense NCHW tensor shape. Fully connected activations use `h = w = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shape4 {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape4 {
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self { n, c, h, w }
    }

    /// A batch of `n` feature vectors of length `features`.
    pub const fn flat(n: usize, features: usize) -> Self {
        Self::new(n, features, 1, 1)
    }

    /// Element count, or `None` when it overflows `usize`.
    pub fn checked_len(&self) -> Option<usize> {
        self.n
            .checked_mul(self.c)?
            .checked_mul(self.h)?
            .checked_mul(self.w)
    }

    /// Element count.
    ///
    /// # Panics
    /// When the count overflows `usize`; never for a shape a layer's
    /// `output_shape` accepted or returned (those stay within
    /// [`MAX_ELEMENTS`](crate::model::limits::MAX_ELEMENTS)). Use
    /// [`checked_len`](Self::checked_len) for untrusted shapes.
    pub fn len(&self) -> usize {
        self.checked_len()
            .expect("Shape4::len overflows usize: check untrusted shapes first")
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements per batch item (panics on overflow, as [`len`](Self::len)).
    pub fn item_len(&self) -> usize {
        self.c
            .checked_mul(self.h)
            .and_then(|v| v.checked_mul(self.w))
            .expect("Shape4::item_len overflows usize: check untrusted shapes first")
    }

    /// Elements per channel plane (panics on overflow, as [`len`](Self::len)).
    pub fn plane(&self) -> usize {
        self.h
            .checked_mul(self.w)
            .expect("Shape4::plane overflows usize: check untrusted shapes first")
    }
}

impl fmt::Display for Shape4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}, {}]", self.n, self.c, self.h, self.w)
    }
}

/// An owned NCHW tensor, for callers that prefer values to slices.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Shape4,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero tensor; panics as [`Shape4::len`] for a shape that overflows.
    pub fn zeros(shape: Shape4) -> Self {
        Self {
            shape,
            data: vec![0.0; shape.len()],
        }
    }

    pub fn new(shape: Shape4, data: Vec<f32>) -> crate::Result<Self> {
        if shape.checked_len() != Some(data.len()) {
            return Err(crate::Error::ElementCount {
                what: "tensor data",
                expected: shape.checked_len().unwrap_or(usize::MAX),
                got: data.len(),
            });
        }
        Ok(Self { shape, data })
    }
}
