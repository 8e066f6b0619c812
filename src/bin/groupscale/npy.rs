//! .npy input and output (f32, C order) through the npyz crate.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{bail, Context};
use npyz::WriterBuilder;

pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn read_f32(path: &Path) -> anyhow::Result<Array> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    check_header(&bytes).with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    let descr = npy.dtype().descr();
    if descr != "'<f4'" {
        bail!(
            "{}: dtype {descr} is not little-endian float32 ('<f4')",
            path.display()
        );
    }
    if npy.order() != npyz::Order::C {
        bail!(
            "{}: Fortran-ordered arrays are not supported; save in C order",
            path.display()
        );
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    // `check_header` bounded the product by the file's size.
    let expected: usize = shape.iter().product();
    let data = npy
        .into_vec::<f32>()
        .with_context(|| format!("{}: truncated or unreadable data", path.display()))?;
    if data.len() != expected {
        bail!(
            "{}: header promises {expected} values, file holds {}",
            path.display(),
            data.len()
        );
    }
    Ok(Array { shape, data })
}

/// The largest element count a .npy header may declare: the model layer's
/// tensor limit (any input or weight array larger could not be used).
const MAX_VALUES: usize = groupscale::model::limits::MAX_ELEMENTS;

/// Brackets a header may open: `{` for the dict and `(` for the shape, with
/// room to spare.
const MAX_HEADER_BRACKETS: usize = 4;

/// Checks the header's own numbers before npyz trusts them: the header must
/// lie inside the file, and the shape must neither overflow nor promise more
/// values than the file has bytes of data (at least one byte per value,
/// whatever the dtype). npyz would otherwise multiply the dimensions
/// unchecked and size buffers from them.
fn check_header(bytes: &[u8]) -> anyhow::Result<()> {
    if bytes.len() < 10 || !bytes.starts_with(b"\x93NUMPY") {
        bail!("no .npy magic number");
    }
    let (len_at, width) = match bytes[6] {
        1 => (8, 2),
        2 | 3 => (8, 4),
        v => bail!("unsupported .npy format version {v}"),
    };
    let Some(len_bytes) = bytes.get(len_at..len_at + width) else {
        bail!("truncated header");
    };
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let data_at = len_at + width + header_len;
    let Some(header) = bytes.get(len_at + width..data_at) else {
        bail!(
            "the header claims {header_len} bytes, but the file holds {}",
            bytes.len()
        );
    };
    let header = String::from_utf8_lossy(header);
    // npyz parses the header with py_literal, a PEG parser that backtracks
    // exponentially on nested brackets: 12 unclosed braces took minutes
    // (found by fuzzing, fuzz/corpus/npy/nested-braces-*). The header numpy
    // writes for a plain array is one flat dict holding one shape tuple.
    let brackets = header
        .chars()
        .filter(|c| matches!(c, '{' | '[' | '('))
        .count();
    if brackets > MAX_HEADER_BRACKETS {
        bail!(
            "the header opens {brackets} brackets; a plain array's opens 2 \
             (at most {MAX_HEADER_BRACKETS} are read)"
        );
    }
    let shape = header
        .find("'shape'")
        .map(|at| &header[at + "'shape'".len()..])
        .and_then(|rest| {
            let open = rest.find('(')?;
            let close = rest[open..].find(')')? + open;
            Some(&rest[open + 1..close])
        })
        .ok_or_else(|| anyhow::anyhow!("the header has no shape"))?;
    let mut dims = Vec::new();
    for d in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let d = d.trim_end_matches('L');
        dims.push(
            d.parse::<usize>()
                .map_err(|_| anyhow::anyhow!("shape entry `{d}` is not a size"))?,
        );
    }
    // Zero dimensions aside, the product must exist: npyz forms partial
    // products (strides) of all of them.
    let nonzero = dims
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| anyhow::anyhow!("shape {dims:?} has more than {MAX_VALUES} values"))?;
    let values = if dims.contains(&0) { 0 } else { nonzero };
    let data = bytes.len() - data_at;
    if values > data {
        bail!("header promises {values} values (shape {dims:?}), but the file holds only {data} bytes of data");
    }
    Ok(())
}

pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(BufWriter::new(file))
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
    Ok(())
}
