//! Labelled image sets for evaluation: Fashion-MNIST (IDX files), CIFAR-10
//! (binary batches) and the built-in Fashion-MNIST subset, turned into the
//! network's input by the model's [`InputSpec`].

pub mod builtin;
pub mod cifar;
pub mod idx;
pub mod image;

use std::path::Path;

use crate::error::{Error, Result};
use crate::loader::InputSpec;

pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::Data(msg.into())
}

/// 8-bit images (NCHW) with one label each.
#[derive(Clone, Debug, PartialEq)]
pub struct RawImages {
    pub name: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl RawImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn item_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The first `n` images (or all, when there are fewer).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.pixels.truncate(n * self.item_len());
    }

    /// The network input for images `range`: scaled to [0, 1], zero-padded
    /// (centred) to the model's size, then normalised, written into `out`.
    pub fn to_input(
        &self,
        spec: &InputSpec,
        range: std::ops::Range<usize>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        if self.channels != spec.channels {
            return Err(bad(format!(
                "{} has {} channel(s) per image, the model reads {}",
                self.name, self.channels, spec.channels
            )));
        }
        if self.height > spec.height || self.width > spec.width {
            return Err(bad(format!(
                "{} has {}×{} images, larger than the model's {}×{} input",
                self.name, self.height, self.width, spec.height, spec.width
            )));
        }
        out.clear();
        for i in range {
            let image = &self.pixels[i * self.item_len()..(i + 1) * self.item_len()];
            pad_normalise(image, self.height, self.width, spec, out);
        }
        Ok(())
    }
}

/// Appends one `spec`-sized input made from an 8-bit `h`×`w` image with
/// `spec.channels` planes.
pub fn pad_normalise(image: &[u8], h: usize, w: usize, spec: &InputSpec, out: &mut Vec<f32>) {
    let (top, left) = ((spec.height - h) / 2, (spec.width - w) / 2);
    for c in 0..spec.channels {
        let (mean, std) = spec.normalisation(c);
        let plane = &image[c * h * w..(c + 1) * h * w];
        for y in 0..spec.height {
            for x in 0..spec.width {
                let inside = (top..top + h).contains(&y) && (left..left + w).contains(&x);
                let v = if inside {
                    f32::from(plane[(y - top) * w + x - left]) / 255.0
                } else {
                    0.0
                };
                out.push((v - mean) / std);
            }
        }
    }
}

/// Where `--data` points: `builtin`, or a directory holding Fashion-MNIST
/// IDX files (`t10k-images-idx3-ubyte[.gz]`, ...) or CIFAR-10 binaries
/// (`test_batch.bin`). The test split is used.
pub fn load(source: &str) -> Result<RawImages> {
    if source == "builtin" {
        return builtin::fashion_mnist_subset();
    }
    let dir = Path::new(source);
    if !dir.is_dir() {
        return Err(bad(format!(
            "`{source}` is neither `builtin` nor a directory"
        )));
    }
    if let Some(found) = idx::find_test_set(dir) {
        return idx::load_pair(&found.0, &found.1);
    }
    let cifar = dir.join("test_batch.bin");
    if cifar.is_file() {
        return cifar::load_batches(&[cifar]);
    }
    Err(bad(format!(
        "{source} holds neither Fashion-MNIST IDX files (t10k-images-idx3-ubyte[.gz]) \
         nor CIFAR-10's test_batch.bin"
    )))
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
