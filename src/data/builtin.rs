//! The first 1,000 images of the Fashion-MNIST test set, shipped in the
//! crate (data/fashion-mnist, MIT licence) so that evaluation needs no
//! download.

use super::{idx, RawImages};
use crate::error::Result;

const IMAGES: &[u8] = include_bytes!("../../data/fashion-mnist/t10k-images-1000-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../../data/fashion-mnist/t10k-labels-1000-idx1-ubyte.gz");

pub fn fashion_mnist_subset() -> Result<RawImages> {
    idx::from_bytes("builtin Fashion-MNIST test subset", IMAGES, LABELS)
}
