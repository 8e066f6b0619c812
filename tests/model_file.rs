//! The model file format: a round trip through `to_bytes`, and a clear
//! `Error::ModelFile` (never a panic) for every kind of damage the issue
//! names: truncation, a corrupt header, a tensor of the wrong shape or
//! dtype, and a layer list that does not chain.

mod common;

use std::collections::HashMap;

use common::tiny::{tiny_model, G};
use groupscale::{Error, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::{Dtype, SafeTensors};

fn expect_model_error(bytes: &[u8], what: &str, needle: &str) {
    match Model::from_bytes(bytes) {
        Err(Error::ModelFile(msg)) => assert!(
            msg.contains(needle),
            "{what}: message `{msg}` does not mention `{needle}`"
        ),
        Err(other) => panic!("{what}: wrong error kind: {other}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

/// Rewrites a model file: `edit` changes the metadata JSON and the tensors.
fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut serde_json::Value, &mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(&header.metadata().as_ref().unwrap()["groupscale"]).unwrap();
    let mut tensors: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut meta, &mut tensors);
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let info = HashMap::from([("groupscale".to_string(), meta.to_string())]);
    safetensors::serialize(views, Some(info)).unwrap()
}

#[test]
fn round_trip_keeps_every_layer() {
    let model = tiny_model();
    let again = Model::from_bytes(&model.to_bytes().unwrap()).unwrap();
    assert_eq!(again.layers(), model.layers());
    assert_eq!(again.meta(), model.meta());
    assert_eq!(again.weight_bytes(G), model.weight_bytes(G));
    assert!(model.weight_bytes(1) < model.weight_bytes(2));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = tiny_model().to_bytes().unwrap();
    for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        match Model::from_bytes(&bytes[..len]) {
            Err(Error::ModelFile(_)) => {}
            Err(other) => panic!("truncated to {len}: wrong error kind: {other}"),
            Ok(_) => panic!("truncated to {len} bytes: accepted"),
        }
    }
}

#[test]
fn corrupt_headers_are_errors() {
    let bytes = tiny_model().to_bytes().unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // A header length pointing past the end.
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect_model_error(&huge, "huge header length", "safetensors");
    // Garbage in the JSON header.
    let mut garbled = bytes.clone();
    garbled[8..8 + header_len / 2].fill(b'#');
    expect_model_error(&garbled, "garbled header", "safetensors");
    // A valid file with a broken model description.
    let broken = rewrite(&bytes, |meta, _| {
        meta["layers"][0]["type"] = "deconv".into()
    });
    expect_model_error(&broken, "unknown layer type", "model description");
    let foreign = rewrite(&bytes, |meta, _| meta["format"] = "other".into());
    expect_model_error(&foreign, "foreign format", "format");
}

#[test]
fn random_byte_damage_never_panics() {
    let bytes = tiny_model().to_bytes().unwrap();
    let mut rng = StdRng::seed_from_u64(2019);
    for _ in 0..300 {
        let mut damaged = bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..damaged.len());
            damaged[at] = rng.random();
        }
        let _ = Model::from_bytes(&damaged);
    }
}

#[test]
fn wrong_shapes_and_dtypes_are_errors() {
    let bytes = tiny_model().to_bytes().unwrap();
    let reshaped = rewrite(&bytes, |_, tensors| {
        let t = tensors
            .iter_mut()
            .find(|t| t.0 == "conv2.weight.1")
            .unwrap();
        t.2 = vec![2, 2, 3, 3 * 2]; // same element count, wrong shape
    });
    expect_model_error(&reshaped, "reshaped tensor", "conv2.weight.1");
    let retyped = rewrite(&bytes, |_, tensors| {
        let t = tensors.iter_mut().find(|t| t.0 == "fc.weight.0").unwrap();
        t.1 = Dtype::I32;
    });
    expect_model_error(&retyped, "integer weights", "I32");
    let missing = rewrite(&bytes, |_, tensors| tensors.retain(|t| t.0 != "head.bias"));
    expect_model_error(&missing, "missing tensor", "head.bias");
    let stray = rewrite(&bytes, |_, tensors| {
        tensors.push(("extra".into(), Dtype::F32, vec![1], vec![0; 4]));
    });
    expect_model_error(&stray, "stray tensor", "extra");
}

#[test]
fn a_chain_that_does_not_connect_is_an_error() {
    let bytes = tiny_model().to_bytes().unwrap();
    // Without the pool, the linear layer gets 4×4 positions, not 2×2.
    let unpooled = rewrite(&bytes, |meta, _| {
        meta["layers"].as_array_mut().unwrap().remove(1);
    });
    expect_model_error(&unpooled, "missing pool", "does not chain");
    let no_head = rewrite(&bytes, |meta, tensors| {
        meta["layers"].as_array_mut().unwrap().pop();
        tensors.retain(|t| !t.0.starts_with("head."));
    });
    expect_model_error(&no_head, "no head", "head");
    let classes = rewrite(&bytes, |meta, _| {
        meta["classes"] = serde_json::json!(["a", "b"])
    });
    expect_model_error(&classes, "class names", "class names");
}

#[test]
fn missing_file_is_an_io_error() {
    match Model::load("/nonexistent/model.safetensors") {
        Err(Error::Io { .. }) => {}
        other => panic!("expected an I/O error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn shipped_models_load_and_fit_the_size_limit() {
    for variant in groupscale::loader::builtin::NAMES {
        let model = groupscale::loader::builtin::model(variant).unwrap();
        let groups = if variant == "nested" { 8 } else { 4 };
        assert_eq!(model.groups(), groups, "{variant}");
        assert_eq!(model.classes().len(), 10);
        let path = format!(
            "{}/models/groupalexnet-{variant}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 8 << 20, "{path} is {size} bytes, over 8 MiB");
    }
}
