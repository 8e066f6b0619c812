//! The shipped models compute what PyTorch computed for them: the fixture
//! written by `train/train.py` holds a few test images and the reference
//! logits at every k, and every backend must match them to 1e-4 relative
//! error (the largest difference over the largest logit).

use std::path::Path;
use std::sync::Arc;

use groupscale::check::selftest::targets;
use groupscale::{Backend, Model, ScalarBackend, Session};
use safetensors::SafeTensors;

const TOLERANCE: f64 = 1e-4;

fn floats(st: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let view = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    let data = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), data)
}

fn check_variant(variant: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let model = Model::load(dir.join(format!("groupalexnet-{variant}.safetensors"))).unwrap();
    let bytes = std::fs::read(dir.join(format!("groupalexnet-{variant}.fixture.safetensors")))
        .expect("fixture file");
    let fixture = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, input) = floats(&fixture, "input");
    let batch = shape[0];
    assert_eq!(shape[1..], [1, 32, 32]);

    let mut backends: Vec<(String, Arc<dyn Backend>)> =
        vec![("scalar".into(), Arc::new(ScalarBackend))];
    backends.extend(targets(None).into_iter().map(|t| (t.label, t.backend)));
    assert!(backends.len() >= 2, "only the oracle ran");
    for (label, backend) in backends {
        let mut session = Session::new(&model, backend, batch).unwrap();
        for k in 1..=model.groups() {
            let (_, want) = floats(&fixture, &format!("logits.{k}"));
            session.set_active_groups(k).unwrap();
            let got = session.infer(&input, batch).unwrap();
            let scale = want.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs()));
            let worst = got.iter().zip(&want).fold(0f64, |m, (&g, &w)| {
                m.max((f64::from(g) - f64::from(w)).abs())
            });
            let rel = worst / scale;
            eprintln!("{variant} on {label}, k = {k}: relative error {rel:.2e}");
            assert!(
                rel <= TOLERANCE,
                "{variant} on {label}, k = {k}: relative error {rel:.2e} > {TOLERANCE:.0e}"
            );
        }
    }
}

#[test]
fn cumulative_model_matches_pytorch_on_every_backend() {
    check_variant("cumulative");
}

#[test]
fn isolated_model_matches_pytorch_on_every_backend() {
    check_variant("isolated");
}
