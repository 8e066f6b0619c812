use std::path::PathBuf;

use anyhow::{bail, Context};
use groupscale::{Connectivity, Conv2d, Conv2dSpec, PreparedLayer, Shape4};

use crate::{choose_backend, npy, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// Input, [N, C, H, W] or [C, H, W], holding only the active input channels.
    #[arg(long)]
    input: PathBuf,
    /// Weights in the connectivity's layout; any shape with the right element count.
    #[arg(long)]
    weight: PathBuf,
    /// Bias, out-channels values.
    #[arg(long)]
    bias: Option<PathBuf>,
    #[arg(long)]
    in_channels: usize,
    #[arg(long)]
    out_channels: usize,
    /// KH,KW or K.
    #[arg(long, value_parser = parse_pair)]
    kernel: [usize; 2],
    #[arg(long)]
    groups: usize,
    /// Active groups k (1..=G).
    #[arg(long)]
    active: usize,
    #[arg(long)]
    connectivity: Connectivity,
    #[arg(long, value_parser = parse_pair, default_value = "1")]
    stride: [usize; 2],
    #[arg(long, value_parser = parse_pair, default_value = "0")]
    padding: [usize; 2],
    #[arg(long, value_parser = parse_pair, default_value = "1")]
    dilation: [usize; 2],
    /// Apply ReLU after the bias.
    #[arg(long)]
    relu: bool,
    #[arg(long)]
    backend: Option<String>,
    #[arg(long)]
    output: PathBuf,
}

fn parse_pair(s: &str) -> Result<[usize; 2], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let num = |p: &str| {
        p.parse::<usize>()
            .map_err(|_| format!("`{s}` is not N or N,M"))
    };
    match parts.as_slice() {
        [a] => Ok([num(a)?; 2]),
        [a, b] => Ok([num(a)?, num(b)?]),
        _ => Err(format!("`{s}` is not N or N,M")),
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let spec = Conv2dSpec {
        in_channels: args.in_channels,
        out_channels: args.out_channels,
        kernel: args.kernel,
        stride: args.stride,
        padding: args.padding,
        dilation: args.dilation,
        groups: args.groups,
        connectivity: args.connectivity,
        relu: args.relu,
    };
    let input = npy::read_f32(&args.input)?;
    let shape = match input.shape.as_slice() {
        &[n, c, h, w] => Shape4::new(n, c, h, w),
        &[c, h, w] => Shape4::new(1, c, h, w),
        other => bail!(
            "{}: input must be [N, C, H, W] or [C, H, W], not {other:?}",
            args.input.display()
        ),
    };
    let weights = npy::read_f32(&args.weight)?.data;
    let bias = args
        .bias
        .as_deref()
        .map(npy::read_f32)
        .transpose()?
        .map(|b| b.data);
    let layer: groupscale::Layer = Conv2d::new(spec, weights, bias).context("layer")?.into();
    // The shapes first: a layer that cannot run on this input is refused
    // before any backend (and its driver) is opened.
    layer.output_shape(shape, args.active)?;
    let backend = choose_backend(args.backend.as_deref(), None, None)?;
    let mut prepared = PreparedLayer::new(&backend, layer)?;
    let out_shape = prepared.output_shape(shape, args.active)?;
    let mut out = vec![0.0; out_shape.len()];
    prepared.run(&input.data, shape, args.active, &mut out)?;
    npy::write_f32(
        &args.output,
        &[out_shape.n, out_shape.c, out_shape.h, out_shape.w],
        &out,
    )?;
    eprintln!(
        "{} -> {} on {} ({}), k = {}",
        shape,
        out_shape,
        backend.kind(),
        backend.describe(),
        args.active
    );
    Ok(Outcome::Done)
}
