//! The IDX format of MNIST and Fashion-MNIST, plain or gzipped.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{bad, read, RawImages};
use crate::error::Result;

/// Largest IDX data a gzipped file may decompress to: 1 GiB (Fashion-MNIST's
/// largest file holds 47 MB). A plain file is bounded by its own size; a
/// gzip stream is read only as far as its IDX header promises, and a header
/// promising more than this is refused before anything is decompressed.
pub const MAX_GUNZIPPED_BYTES: usize = 1 << 30;

/// An IDX array of unsigned bytes: its dimensions and data.
pub fn parse(bytes: &[u8], what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return parse_gz(bytes, what);
    }
    let (shape, len, header) = parse_header(bytes, what)?;
    if bytes.len() - header != len {
        return Err(bad(format!(
            "{what}: IDX data holds {} bytes, its dimensions {shape:?} need {len}",
            bytes.len() - header
        )));
    }
    Ok((shape, bytes[header..].to_vec()))
}

/// The dimensions, the data length they promise and the header length, from
/// the start of an IDX file (`bytes` may hold more than the header).
fn parse_header(bytes: &[u8], what: &str) -> Result<(Vec<usize>, usize, usize)> {
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
        .ok_or_else(|| bad(format!("{what}: IDX dimensions {shape:?} overflow")))?;
    Ok((shape, len, header))
}

/// A gzipped IDX file, decompressed no further than its header promises
/// (plus one byte, to tell trailing data from the end).
fn parse_gz(bytes: &[u8], what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let gzip = |e: std::io::Error| bad(format!("{what}: gzip: {e}"));
    let mut stream = flate2::read::GzDecoder::new(bytes);
    let mut header = Vec::new();
    // The fixed part, then the dimensions it announces (at most 255).
    (&mut stream)
        .take(4)
        .read_to_end(&mut header)
        .map_err(gzip)?;
    if header.len() == 4 && header[0] == 0 && header[1] == 0 {
        (&mut stream)
            .take(4 * u64::from(header[3]))
            .read_to_end(&mut header)
            .map_err(gzip)?;
    }
    let (shape, len, _) = parse_header(&header, what)?;
    if len > MAX_GUNZIPPED_BYTES {
        return Err(bad(format!(
            "{what}: IDX dimensions {shape:?} promise {len} bytes, over the \
             {MAX_GUNZIPPED_BYTES}-byte limit for a gzipped IDX file"
        )));
    }
    let mut data = Vec::new();
    stream
        .take(len as u64 + 1)
        .read_to_end(&mut data)
        .map_err(gzip)?;
    if data.len() != len {
        let holds = if data.len() > len {
            format!("more than {len}")
        } else {
            data.len().to_string()
        };
        return Err(bad(format!(
            "{what}: IDX data holds {holds} bytes, its dimensions {shape:?} need {len}"
        )));
    }
    Ok((shape, data))
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
