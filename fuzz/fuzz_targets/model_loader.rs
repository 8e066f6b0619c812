//! Model files (`groupscale::Model::from_bytes`), two ways:
//!
//! - raw: the input is a whole safetensors file;
//! - metadata: an input starting with `{` that parses as the model
//!   description (`loader::ModelMeta`) is also wrapped into a safetensors
//!   file, with every tensor the description names synthesised at the shape
//!   the loader documents (up to a size cap), so the fuzzer reaches the
//!   layer-building and chain checks instead of stopping at missing tensors.
//!
//! A model that loads must also serialise, load back equal (`to_bytes` ->
//! `from_bytes`), report its weight bytes for every k, and, when small, run a
//! frame on the scalar and the CPU backends at every k.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use groupscale::loader::{LayerEntry, ModelMeta};
use groupscale::{Backend, Connectivity, CpuBackend, CpuConfig, Model, ScalarBackend, Session};
use libfuzzer_sys::fuzz_target;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Elements synthesised per file at most (the raw inputs are bounded by
/// libFuzzer's -max_len anyway).
const MAX_ELEMENTS: usize = 1 << 16;
/// Multiply-accumulates per frame allowed before a loaded model is run.
const MAX_RUN_MACS: f64 = 2e6;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data) {
        check_loaded(&model);
    }
    if data.first() == Some(&b'{') {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(meta) = serde_json::from_str::<ModelMeta>(text) {
                if let Some(file) = synthesise(text, &meta) {
                    if let Ok(model) = Model::from_bytes(&file) {
                        check_loaded(&model);
                    }
                }
            }
        }
    }
});

/// The tensors `meta` describes, filled with a fixed pattern, in a
/// safetensors file whose metadata is `text` itself.
fn synthesise(text: &str, meta: &ModelMeta) -> Option<Vec<u8>> {
    let mut tensors: Vec<(String, Dtype, Vec<usize>)> = Vec::new();
    let mut names = HashSet::new();
    let mut budget = MAX_ELEMENTS;
    let mut add = |name: String, dtype: Dtype, shape: Vec<usize>| -> bool {
        let Some(n) = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
            return false;
        };
        if n > budget {
            return false;
        }
        if names.insert(name.clone()) {
            budget -= n;
            tensors.push((name, dtype, shape));
        }
        true
    };
    for entry in &meta.layers {
        // Harness arithmetic only (checked), so that any panic comes from
        // the crate's own code in `from_bytes`, not from here.
        match entry {
            LayerEntry::Conv2d {
                name,
                in_channels,
                out_channels,
                kernel,
                groups,
                connectivity,
                ..
            } => {
                if !grouped(
                    &mut add,
                    name,
                    *in_channels,
                    *out_channels,
                    *groups,
                    *connectivity,
                    &[*kernel, *kernel],
                ) {
                    break;
                }
            }
            LayerEntry::Linear {
                name,
                in_features,
                out_features,
                groups,
                connectivity,
                ..
            } => {
                if !grouped(
                    &mut add,
                    name,
                    *in_features,
                    *out_features,
                    *groups,
                    *connectivity,
                    &[],
                ) {
                    break;
                }
            }
            LayerEntry::Head {
                name,
                in_features,
                classes,
                groups,
            } => {
                if *groups == 0 || in_features % groups != 0 {
                    continue;
                }
                let dtype = weight_dtype(name);
                if !add(
                    format!("{name}.weight"),
                    dtype,
                    vec![*groups, *classes, in_features / groups],
                ) || !add(format!("{name}.bias"), Dtype::F32, vec![*groups, *classes])
                {
                    break;
                }
            }
            LayerEntry::MaxPool2d { .. } => {}
        }
    }
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, shape)| pattern(*dtype, shape.iter().product()))
        .collect();
    let views = tensors
        .iter()
        .zip(&buffers)
        .map(|((name, dtype, shape), data)| {
            TensorView::new(*dtype, shape.clone(), data).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let metadata = HashMap::from([("groupscale".to_string(), text.to_string())]);
    safetensors::serialize(views, Some(metadata)).ok()
}

/// The per-group weights and the bias of a grouped layer, as the loader
/// documents them; false once the size budget is spent.
fn grouped(
    add: &mut impl FnMut(String, Dtype, Vec<usize>) -> bool,
    name: &str,
    inputs: usize,
    outputs: usize,
    groups: usize,
    connectivity: Connectivity,
    taps_shape: &[usize],
) -> bool {
    if groups == 0 || inputs == 0 || outputs % groups != 0 {
        return true;
    }
    if connectivity != Connectivity::Full && inputs % groups != 0 {
        return true;
    }
    let per = match connectivity {
        Connectivity::Full => inputs,
        _ => inputs / groups,
    };
    let og = outputs / groups;
    let dtype = weight_dtype(name);
    for j in 0..groups {
        let rows = match connectivity {
            Connectivity::Isolated => per,
            Connectivity::Cumulative => match (j + 1).checked_mul(per) {
                Some(r) => r,
                None => return false,
            },
            Connectivity::Full => inputs,
        };
        let mut shape = vec![og, rows];
        shape.extend_from_slice(taps_shape);
        if !add(format!("{name}.weight.{j}"), dtype, shape) {
            return false;
        }
    }
    add(format!("{name}.bias"), Dtype::F32, vec![outputs])
}

/// f16 weights for odd-length names, f32 otherwise: both paths get used.
fn weight_dtype(name: &str) -> Dtype {
    if name.len() % 2 == 1 {
        Dtype::F16
    } else {
        Dtype::F32
    }
}

fn pattern(dtype: Dtype, n: usize) -> Vec<u8> {
    let value = |i: usize| ((i * 7 % 13) as f32 - 6.0) * 0.05;
    match dtype {
        Dtype::F16 => (0..n)
            .flat_map(|i| half::f16::from_f32(value(i)).to_le_bytes())
            .collect(),
        _ => (0..n).flat_map(|i| value(i).to_le_bytes()).collect(),
    }
}

fn check_loaded(model: &Model) {
    let bytes = model
        .to_bytes()
        .expect("a model that loaded must serialise");
    let again = Model::from_bytes(&bytes).expect("a serialised model must load back");
    // Compared through Debug: a NaN weight is a legal value that `==` would
    // call different from itself (Debug still tells any two others apart).
    assert_eq!(
        format!("{:?}", model.meta()),
        format!("{:?}", again.meta()),
        "metadata changed in a round trip"
    );
    assert_eq!(
        format!("{:?}", model.layers()),
        format!("{:?}", again.layers()),
        "layers changed in a round trip"
    );
    for k in 1..=model.groups().min(64) {
        let _ = model.weight_bytes(k);
    }
    run_small(model);
}

/// One frame at every k on the oracle and the CPU backend, when the model is
/// small enough to run quickly.
fn run_small(model: &Model) {
    let input = model.input();
    let Some(item) = input
        .channels
        .checked_mul(input.height)
        .and_then(|x| x.checked_mul(input.width))
    else {
        return;
    };
    if item > 1 << 14 || model.groups() > 16 {
        return;
    }
    let mut macs = 0.0;
    let mut shape = groupscale::Shape4::new(1, input.channels, input.height, input.width);
    let g = model.groups();
    for layer in model.layers() {
        if let groupscale::Layer::Conv2d(c) = layer {
            macs += c.spec().flops(1, shape.h, shape.w, g) / 2.0;
        } else if let Some((w, _)) = layer.parameters() {
            macs += w.len() as f64;
        }
        match layer.output_shape(shape, g) {
            Ok(s) => shape = s,
            Err(_) => return,
        }
        if shape.checked_len().is_none_or(|n| n > 1 << 16) {
            return;
        }
    }
    if macs > MAX_RUN_MACS {
        return;
    }
    let frame: Vec<f32> = (0..item).map(|i| ((i % 11) as f32 - 5.0) * 0.1).collect();
    for backend in backends() {
        let mut session = Session::new(model, backend.clone(), 1)
            .unwrap_or_else(|e| panic!("{}: a loaded model must prepare: {e}", backend.describe()));
        for k in 1..=g {
            session.set_active_groups(k).expect("k in 1..=G");
            let logits = session
                .infer(&frame, 1)
                .unwrap_or_else(|e| panic!("{}: k = {k}: a loaded model must run: {e}", backend.describe()));
            assert_eq!(logits.len(), model.classes().len());
        }
    }
}

fn backends() -> &'static [Arc<dyn Backend>] {
    static BACKENDS: std::sync::OnceLock<Vec<Arc<dyn Backend>>> = std::sync::OnceLock::new();
    BACKENDS.get_or_init(|| {
        let cpu = CpuBackend::new(CpuConfig {
            threads: Some(1),
            ..CpuConfig::default()
        })
        .expect("the CPU backend");
        vec![Arc::new(ScalarBackend), Arc::new(cpu)]
    })
}
