//! The IDX format of MNIST and Fashion-MNIST, plain or gzipped.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{bad, read, RawImages};
use crate::error::Result;

/// An IDX array of unsigned bytes: its dimensions and data.
pub fn parse(bytes: &[u8], what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = gunzip_if_needed(bytes, what)?;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!("{what}: not an IDX file")));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "{what}: IDX element type 0x{:02x}, only unsigned bytes (0x08) are read",
            bytes[2]
        )));
    }
    let dims = bytes[3] as usize;
    let header = 4 + 4 * dims;
    if dims == 0 || bytes.len() < header {
        return Err(bad(format!("{what}: truncated IDX header")));
    }
    let shape: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("{what}: IDX dimensions overflow")))?;
    if bytes.len() - header != len {
        return Err(bad(format!(
            "{what}: IDX data holds {} bytes, its dimensions {shape:?} need {len}",
            bytes.len() - header
        )));
    }
    Ok((shape, bytes[header..].to_vec()))
}

fn gunzip_if_needed(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("{what}: gzip: {e}")))?;
    Ok(out)
}

/// Images and labels from their two IDX files (in memory).
pub fn from_bytes(name: &str, images: &[u8], labels: &[u8]) -> Result<RawImages> {
    let (ishape, pixels) = parse(images, &format!("{name} images"))?;
    let (lshape, labels) = parse(labels, &format!("{name} labels"))?;
    let [n, h, w] = ishape[..] else {
        return Err(bad(format!(
            "{name}: images have dimensions {ishape:?}, expected [n, h, w]"
        )));
    };
    if lshape != [n] {
        return Err(bad(format!(
            "{name}: {n} images but labels of shape {lshape:?}"
        )));
    }
    Ok(RawImages {
        name: name.to_string(),
        channels: 1,
        height: h,
        width: w,
        pixels,
        labels,
    })
}

pub fn load_pair(images: &Path, labels: &Path) -> Result<RawImages> {
    from_bytes(
        &images.display().to_string(),
        &read(images)?,
        &read(labels)?,
    )
}

/// The test images and labels in `dir`, gzipped or not.
pub fn find_test_set(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    ["", ".gz"].iter().find_map(|ext| {
        let images = dir.join(format!("t10k-images-idx3-ubyte{ext}"));
        let labels = dir.join(format!("t10k-labels-idx1-ubyte{ext}"));
        (images.is_file() && labels.is_file()).then_some((images, labels))
    })
}
