//! CIFAR-10's binary version: records of one label byte and a 3×32×32
//! image (red, green, blue planes), 10,000 to a file.

use std::path::PathBuf;

use super::{bad, read, RawImages};
use crate::error::Result;

pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
const IMAGE: usize = 3 * 32 * 32;
const RECORD: usize = 1 + IMAGE;

pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<RawImages> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(bad(format!(
            "{name}: {} bytes is not a whole number of {RECORD}-byte CIFAR-10 records",
            bytes.len()
        )));
    }
    let n = bytes.len() / RECORD;
    let mut pixels = Vec::with_capacity(n * IMAGE);
    let mut labels = Vec::with_capacity(n);
    for record in bytes.chunks_exact(RECORD) {
        if record[0] >= 10 {
            return Err(bad(format!(
                "{name}: label {} is not a CIFAR-10 class",
                record[0]
            )));
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok(RawImages {
        name: name.to_string(),
        channels: 3,
        height: 32,
        width: 32,
        pixels,
        labels,
    })
}

/// Concatenates batch files (`data_batch_1.bin` ... or `test_batch.bin`).
pub fn load_batches(paths: &[PathBuf]) -> Result<RawImages> {
    let mut all: Option<RawImages> = None;
    for path in paths {
        let part = from_bytes(&path.display().to_string(), &read(path)?)?;
        match &mut all {
            None => all = Some(part),
            Some(a) => {
                a.pixels.extend(part.pixels);
                a.labels.extend(part.labels);
            }
        }
    }
    all.ok_or_else(|| bad("no CIFAR-10 batch files given"))
}
