//! Image files (PNG, JPEG) as network input.

use std::path::Path;

use image::imageops::FilterType;

use super::{bad, pad_normalise};
use crate::error::Result;
use crate::loader::InputSpec;

/// Decodes `path`, converts it to the model's channel count (grey or RGB),
/// shrinks it to fit the input when larger (keeping its aspect ratio), and
/// appends the padded, normalised input to `out`.
///
/// Fashion-MNIST models expect a light garment on a black background, as in
/// the dataset's 28×28 images.
pub fn load_as_input(path: &Path, spec: &InputSpec, out: &mut Vec<f32>) -> Result<()> {
    let decoded = image::ImageReader::open(path)
        .map_err(|e| bad(format!("{}: {e}", path.display())))?
        .with_guessed_format()
        .map_err(|e| bad(format!("{}: {e}", path.display())))?
        .decode()
        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let (w, h) = (decoded.width() as usize, decoded.height() as usize);
    let fitted = if w > spec.width || h > spec.height {
        decoded.resize(spec.width as u32, spec.height as u32, FilterType::Triangle)
    } else {
        decoded
    };
    let (w, h) = (fitted.width() as usize, fitted.height() as usize);
    let planar: Vec<u8> = match spec.channels {
        1 => fitted.to_luma8().into_raw(),
        3 => {
            let rgb = fitted.to_rgb8().into_raw();
            (0..3)
                .flat_map(|c| rgb.iter().skip(c).step_by(3).copied().collect::<Vec<_>>())
                .collect()
        }
        n => {
            return Err(bad(format!(
                "the model reads {n}-channel images; only grey (1) and RGB (3) can be decoded"
            )))
        }
    };
    pad_normalise(&planar, h, w, spec, out);
    Ok(())
}
