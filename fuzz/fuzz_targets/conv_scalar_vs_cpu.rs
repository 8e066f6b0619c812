//! Structure-aware differential target: a random grouped convolution, run
//! on the scalar oracle and on the CPU backend's direct convolution (every
//! instruction set this machine supports, one and two worker threads).
//!
//! - Every call returns `Ok` or a typed `groupscale::Error`; a panic is a bug.
//!   Sizes are small, but now and then one field (a channel count, the
//!   groups, a kernel, stride, padding or dilation side, the batch, the input
//!   size or k) is replaced by an arbitrary, possibly huge, value, to
//!   exercise validation and shape arithmetic; such layers are validated and
//!   their shapes computed, and they run whenever their buffers are small.
//! - Where both backends return `Ok`, every output element must agree within
//!   `4 · ε · depth · Σ|w·x| + |b|` (plus `2 · depth` of the smallest
//!   subnormal, for products that underflow): the error bound of two
//!   summation orders of the same dot product, where depth is the longest
//!   reduction (`Cin/G · kh · kw` for isolated, `Cin · kh · kw` for full).
//!   The test suite's `groupscale::check::tolerance` (src/check/mod.rs,
//!   `2 · ε · depth · (1 + |expected|)`) assumes values of order 1 and so
//!   would flag cancellation here, where values are scaled by 2^-100..2^40;
//!   the bound above is the one it approximates for such inputs.

#![no_main]

use std::sync::{Arc, OnceLock};

use groupscale::{
    Backend, Connectivity, Conv2d, Conv2dSpec, ConvAlgo, CpuBackend, CpuConfig, CpuIsa, Error,
    Layer, PreparedLayer, ScalarBackend, Shape4, Tensor, WeightData,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Input + output elements allowed to be allocated.
const MAX_ELEMENTS: usize = 1 << 16;
/// Weights allowed to be allocated.
const MAX_WEIGHTS: usize = 1 << 16;
/// Multiply-accumulates per run.
const MAX_MACS: usize = 1_000_000;

#[derive(Arbitrary, Debug)]
enum Field {
    InChannels,
    OutChannels,
    Groups,
    KernelH,
    KernelW,
    StrideH,
    StrideW,
    PadH,
    PadW,
    DilationH,
    DilationW,
    Batch,
    Height,
    Width,
    K,
}

#[derive(Arbitrary, Debug)]
struct Case {
    groups: u8,
    in_per_group: u8,
    out_per_group: u8,
    /// Under `full`, the input channel count need not divide by G.
    full_inputs: u8,
    connectivity: u8,
    kernel: [u8; 2],
    stride: [u8; 2],
    padding: [u8; 2],
    dilation: [u8; 2],
    relu: bool,
    bias: bool,
    f16_weights: bool,
    batch: u8,
    hw: [u8; 2],
    /// Active groups, 0..=G+1 (0 and G+1 must be refused).
    k: u8,
    /// One field set to an arbitrary value.
    huge: Option<(Field, u64)>,
    /// Off-by-some input channels, weights or buffer lengths (typed errors).
    channel_delta: i8,
    weight_delta: i8,
    buffer_delta: i8,
    /// Which CPU backend (instruction set × threads).
    cpu: u8,
    /// Values are `v · 2^e` with `v` from `values` (cycled).
    input_exp: i8,
    weight_exp: i8,
    values: Vec<i8>,
}

struct Built {
    spec: Conv2dSpec,
    batch: usize,
    hw: [usize; 2],
    k: usize,
}

fn build(c: &Case) -> Built {
    let g = 1 + usize::from(c.groups % 4);
    let connectivity = Connectivity::ALL[usize::from(c.connectivity % 3)];
    let inputs = match connectivity {
        Connectivity::Full => 1 + usize::from(c.full_inputs % 9),
        _ => g * (1 + usize::from(c.in_per_group % 4)),
    };
    let outputs = g * (1 + usize::from(c.out_per_group % 4));
    let mut spec = Conv2dSpec {
        in_channels: inputs,
        out_channels: outputs,
        // 0 is allowed for kernel, stride and dilation: it must be refused.
        kernel: c.kernel.map(|v| usize::from(v % 6)),
        stride: c.stride.map(|v| usize::from(v % 4)),
        padding: c.padding.map(|v| usize::from(v % 4)),
        dilation: c.dilation.map(|v| usize::from(v % 4)),
        groups: g,
        connectivity,
        relu: c.relu,
    };
    let mut batch = usize::from(c.batch % 3);
    let mut hw = c.hw.map(|v| usize::from(v % 13));
    let mut k = usize::from(c.k) % (g + 2);
    if let Some((field, value)) = &c.huge {
        let v = *value as usize;
        match field {
            Field::InChannels => spec.in_channels = v,
            Field::OutChannels => spec.out_channels = v,
            Field::Groups => spec.groups = v,
            Field::KernelH => spec.kernel[0] = v,
            Field::KernelW => spec.kernel[1] = v,
            Field::StrideH => spec.stride[0] = v,
            Field::StrideW => spec.stride[1] = v,
            Field::PadH => spec.padding[0] = v,
            Field::PadW => spec.padding[1] = v,
            Field::DilationH => spec.dilation[0] = v,
            Field::DilationW => spec.dilation[1] = v,
            Field::Batch => batch = v,
            Field::Height => hw[0] = v,
            Field::Width => hw[1] = v,
            Field::K => k = v,
        }
    }
    Built {
        spec,
        batch,
        hw,
        k,
    }
}

fn backends() -> &'static (Arc<dyn Backend>, Vec<Arc<dyn Backend>>) {
    static BACKENDS: OnceLock<(Arc<dyn Backend>, Vec<Arc<dyn Backend>>)> = OnceLock::new();
    BACKENDS.get_or_init(|| {
        let mut cpus: Vec<Arc<dyn Backend>> = Vec::new();
        for isa in CpuIsa::supported() {
            for threads in [1, 2] {
                // Direct convolution, whose error bound is the one above;
                // the Winograd paths have their own (`check::winograd`),
                // tested in tests/winograd.rs.
                let config = CpuConfig {
                    isa: Some(isa),
                    threads: Some(threads),
                    cores: None,
                    conv: Some(ConvAlgo::Direct),
                };
                cpus.push(Arc::new(CpuBackend::new(config).expect("a supported ISA")));
            }
        }
        (Arc::new(ScalarBackend), cpus)
    })
}

/// `v · 2^e` for the i-th value (cycling through `values`).
fn value(values: &[i8], i: usize, exp: i32) -> f32 {
    let v = if values.is_empty() {
        ((i * 7 % 13) as f32) - 6.0
    } else {
        f32::from(values[i % values.len()])
    };
    // powi on f64 then narrowed: exact for these exponents (or 0/subnormal).
    (f64::from(v) * 2f64.powi(exp)) as f32
}

/// The input row or column that output position `o`, tap `t` reads along
/// `axis`, if inside the input (in i128: no overflow for any spec).
fn tap(o: usize, t: usize, spec: Conv2dSpec, axis: usize, size: usize) -> Option<usize> {
    let i = o as i128 * spec.stride[axis] as i128 + t as i128 * spec.dilation[axis] as i128
        - spec.padding[axis] as i128;
    (0..size as i128).contains(&i).then_some(i as usize)
}

/// Channels the input holds with `k` active groups (checked harness
/// arithmetic, so that any overflow panic is the crate's).
fn active_inputs(spec: &Conv2dSpec, k: usize) -> Option<usize> {
    match spec.connectivity {
        Connectivity::Full => Some(spec.in_channels),
        _ => k.checked_mul(spec.in_channels.checked_div(spec.groups)?),
    }
}

fuzz_target!(|case: Case| {
    let Built {
        spec,
        batch,
        hw,
        k,
    } = build(&case);

    // Validation and shape arithmetic run on every spec, huge ones included.
    let valid = spec.validate();
    let in_c = active_inputs(&spec, k)
        .and_then(|c| c.checked_add_signed(isize::from(case.channel_delta % 2)))
        .unwrap_or(0);
    let in_shape = Shape4::new(batch, in_c, hw[0], hw[1]);
    let out_shape = spec.output_shape(in_shape, k);
    if valid.is_err() {
        return;
    }
    let _ = spec.output_hw(hw[0], hw[1]);
    // flops() is a cost estimate for real sizes: its products are unchecked.
    if spec.groups <= 64 && (1..=spec.groups).contains(&k) && batch.max(hw[0]).max(hw[1]) < 1 << 16 {
        let _ = spec.flops(batch, hw[0], hw[1], k);
    }

    // Weights, only when small.
    let layout = spec.layout();
    let weight_len = layout.weight_len();
    if weight_len > MAX_WEIGHTS || spec.out_channels > MAX_WEIGHTS {
        return;
    }
    let exp_w = i32::from(case.weight_exp).clamp(-100, if case.f16_weights { 7 } else { 40 });
    let exp_x = i32::from(case.input_exp).clamp(-100, 40);
    let off = usize::from(case.weight_delta.unsigned_abs() % 2);
    let n_weights = if case.weight_delta < 0 {
        weight_len.saturating_sub(off)
    } else {
        weight_len + off
    };
    let w32: Vec<f32> = (0..n_weights)
        .map(|i| value(&case.values, i + 3, exp_w))
        .collect();
    let weights = if case.f16_weights {
        WeightData::F16(w32.iter().map(|&x| half::f16::from_f32(x)).collect())
    } else {
        WeightData::F32(w32)
    };
    let bias = case.bias.then(|| {
        (0..spec.out_channels)
            .map(|i| value(&case.values, i + 1, exp_x + exp_w))
            .collect::<Vec<f32>>()
    });
    let conv = match Conv2d::new(spec, weights, bias) {
        Ok(conv) => conv,
        Err(e) => {
            assert!(
                n_weights != weight_len,
                "Conv2d::new refused a validated spec with the right weights: {e}"
            );
            assert!(matches!(e, Error::ElementCount { .. }), "{e:?}");
            return;
        }
    };
    assert_eq!(n_weights, weight_len, "Conv2d::new took {n_weights} weights for {weight_len}");
    let layer: Layer = conv.clone().into();

    let (scalar, cpus) = backends();
    let cpu = &cpus[usize::from(case.cpu) % cpus.len()];
    let prepared_scalar = PreparedLayer::new(scalar, layer.clone());
    let prepared_cpu = PreparedLayer::new(cpu, layer);
    let (Ok(mut oracle), Ok(mut fast)) = (prepared_scalar, prepared_cpu) else {
        return;
    };

    // Only inputs small enough to allocate, and runs cheap enough to make.
    let Ok(out_shape) = out_shape else {
        // A shape the layer refuses: both prepared layers must refuse it too
        // (without allocating the input: lengths are checked after shapes).
        let empty: [f32; 0] = [];
        assert!(oracle.run(&empty, in_shape, k, &mut []).is_err());
        assert!(fast.run(&empty, in_shape, k, &mut []).is_err());
        return;
    };
    let (Some(in_len), Some(out_len)) = (in_shape.checked_len(), out_shape.checked_len()) else {
        return;
    };
    if in_len + out_len > MAX_ELEMENTS {
        return;
    }
    let depth = (0..k).map(|j| layout.group_row_len(j)).max().unwrap_or(0);
    if out_len.saturating_mul(depth) > MAX_MACS {
        return;
    }
    let x: Vec<f32> = (0..in_len).map(|i| value(&case.values, i, exp_x)).collect();

    // Buffers of the wrong length are refused, not read past.
    if case.buffer_delta != 0 && in_len > 0 {
        let mut out = vec![0.0; out_len + 1];
        assert!(matches!(
            oracle.run(&x[1..], in_shape, k, &mut out[..out_len]),
            Err(Error::ElementCount { .. })
        ));
        assert!(matches!(
            fast.run(&x, in_shape, k, &mut out),
            Err(Error::ElementCount { .. })
        ));
    }

    let input = Tensor::new(in_shape, x).expect("sized above");
    let want = oracle.forward(&input, k);
    let got = fast.forward(&input, k);
    let (want, got) = match (want, got) {
        (Ok(w), Ok(g)) => (w, g),
        (Err(_), Err(_)) => return,
        (w, g) => panic!(
            "oracle and {} disagree on success: oracle {:?}, cpu {:?}",
            cpu.describe(),
            w.map(|t| t.shape),
            g.map(|t| t.shape)
        ),
    };
    assert_eq!(want.shape, out_shape);
    assert_eq!(got.shape, out_shape);

    // Σ|w·x| + |b| per output element, in f64, and the allowed difference.
    let w = conv.weights().to_f32();
    let (ho, wo) = (out_shape.h, out_shape.w);
    let og = layout.outputs_per_group();
    let out_c = out_shape.c;
    let tiny = f64::from(f32::from_bits(1));
    for n in 0..out_shape.n {
        for co in 0..out_c {
            let j = co / og;
            let reads = layout.group_inputs(j);
            let row = layout.group_row_len(j);
            let w_row = &w[layout.group_weights(j)][(co % og) * row..(co % og + 1) * row];
            let b = conv.bias().map_or(0.0, |b| f64::from(b[co]).abs());
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut abs = 0.0f64;
                    for (cg, ci) in reads.clone().enumerate() {
                        for ky in 0..spec.kernel[0] {
                            let Some(iy) = tap(oy, ky, spec, 0, in_shape.h) else {
                                continue;
                            };
                            for kx in 0..spec.kernel[1] {
                                let Some(ix) = tap(ox, kx, spec, 1, in_shape.w) else {
                                    continue;
                                };
                                let xv = input.data[((n * in_shape.c + ci) * in_shape.h
                                    + iy)
                                    * in_shape.w
                                    + ix];
                                let wv = w_row[(cg * spec.kernel[0] + ky) * spec.kernel[1] + kx];
                                abs += (f64::from(wv) * f64::from(xv)).abs();
                            }
                        }
                    }
                    let i = ((n * out_c + co) * ho + oy) * wo + ox;
                    let (e, g) = (want.data[i], got.data[i]);
                    let allowed = 4.0 * f64::from(f32::EPSILON) * depth.max(1) as f64 * (abs + b)
                        + 2.0 * depth.max(1) as f64 * tiny;
                    let diff = (f64::from(e) - f64::from(g)).abs();
                    assert!(
                        e.to_bits() == g.to_bits() || diff <= allowed,
                        "{}: element {i} (n {n}, c {co}, y {oy}, x {ox}): oracle {e:e}, cpu {g:e}, \
                         difference {diff:e} > allowed {allowed:e} (depth {depth}, Σ|w·x| {abs:e})\n\
                         spec {spec:?}, input {in_shape}, k {k}",
                        cpu.describe()
                    );
                }
            }
        }
    }
});
