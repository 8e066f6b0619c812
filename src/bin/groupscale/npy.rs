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
