//! A tiny grouped network (4×4 inputs, G = 2, three classes) and a matching
//! data set, for tests that need a whole model but not its cost.
#![allow(dead_code)]

use std::path::Path;

use groupscale::loader::{InputSpec, LayerEntry, ModelMeta};
use groupscale::{
    Connectivity, Conv2d, Conv2dSpec, Head, HeadSpec, Layer, Linear, LinearSpec, MaxPool2dSpec,
    Model,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const G: usize = 2;

fn values(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-0.5..0.5)).collect()
}

/// conv(full, 1→4, 3×3) → pool 2 → conv(cumulative, 4→4) → linear(isolated,
/// 4·2·2→6) → head(6→3), on 4×4 inputs.
pub fn tiny_model() -> Model {
    let mut rng = StdRng::seed_from_u64(7);
    let conv1 = Conv2dSpec::new(1, 4, 3, 1, G, Connectivity::Full).with_relu(true);
    let conv2 = Conv2dSpec::new(4, 4, 3, 1, G, Connectivity::Cumulative).with_relu(true);
    let fc = LinearSpec {
        in_features: 16,
        out_features: 6,
        groups: G,
        connectivity: Connectivity::Isolated,
        relu: true,
    };
    let head = HeadSpec {
        in_features: 6,
        classes: 3,
        groups: G,
    };
    let layers: Vec<Layer> = vec![
        Conv2d::new(
            conv1,
            values(&mut rng, conv1.layout().weight_len()),
            Some(values(&mut rng, 4)),
        )
        .unwrap()
        .into(),
        MaxPool2dSpec::square(2).into(),
        Conv2d::new(
            conv2,
            values(&mut rng, conv2.layout().weight_len()),
            Some(values(&mut rng, 4)),
        )
        .unwrap()
        .into(),
        Linear::new(
            fc,
            values(&mut rng, fc.layout().weight_len()),
            Some(values(&mut rng, 6)),
        )
        .unwrap()
        .into(),
        Head::new(
            head,
            values(&mut rng, head.weight_len()),
            values(&mut rng, head.bias_len()),
        )
        .unwrap()
        .into(),
    ];
    let entries = vec![
        LayerEntry::Conv2d {
            name: "conv1".into(),
            in_channels: 1,
            out_channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            dilation: 1,
            groups: G,
            connectivity: Connectivity::Full,
            relu: true,
        },
        LayerEntry::MaxPool2d {
            kernel: 2,
            stride: Some(2),
            padding: 0,
        },
        LayerEntry::Conv2d {
            name: "conv2".into(),
            in_channels: 4,
            out_channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            dilation: 1,
            groups: G,
            connectivity: Connectivity::Cumulative,
            relu: true,
        },
        LayerEntry::Linear {
            name: "fc".into(),
            in_features: 16,
            out_features: 6,
            groups: G,
            connectivity: Connectivity::Isolated,
            relu: true,
        },
        LayerEntry::Head {
            name: "head".into(),
            in_features: 6,
            classes: 3,
            groups: G,
        },
    ];
    let meta = ModelMeta {
        format: "groupscale-model".into(),
        version: 1,
        name: "tiny".into(),
        groups: G,
        input: InputSpec {
            channels: 1,
            height: 4,
            width: 4,
            mean: vec![0.5],
            std: vec![0.25],
            preprocess: None,
        },
        classes: vec!["a".into(), "b".into(), "c".into()],
        layers: entries,
        training: None,
    };
    Model::new(meta, layers).unwrap()
}

/// Writes the tiny model and `images` 4×4 labelled images (Fashion-MNIST's
/// IDX file names) into `dir`; returns the model's path.
pub fn write_tiny(dir: &Path, images: u32) -> std::path::PathBuf {
    let model = dir.join("tiny.safetensors");
    std::fs::write(&model, tiny_model().to_bytes().unwrap()).unwrap();
    let idx = |magic: u32, dims: &[u32], data: Vec<u8>| {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    };
    let pixels = (0..images * 16).map(|i| (i * 37 % 256) as u8).collect();
    let labels = (0..images).map(|i| (i % 3) as u8).collect();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx(0x803, &[images, 4, 4], pixels),
    )
    .unwrap();
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        idx(0x801, &[images], labels),
    )
    .unwrap();
    model
}
