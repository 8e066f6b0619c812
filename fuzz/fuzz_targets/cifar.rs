//! The CIFAR-10 binary reader (`groupscale::data::cifar::from_bytes`), and
//! the data sets it accepts turned into network input for a 3×32×32 model.
//!
//! A CIFAR-10 record is 3,073 bytes, so run this target with a -max_len of a
//! few records (scripts/fuzz.sh passes -max_len=12300).

#![no_main]

use groupscale::data::cifar;
use groupscale::loader::InputSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(set) = cifar::from_bytes("fuzz", data) else {
        return;
    };
    assert_eq!(set.len() * 3073, data.len());
    assert_eq!(set.pixels.len(), set.len() * set.item_len());
    assert!(set.labels.iter().all(|&l| usize::from(l) < cifar::CLASSES.len()));
    let spec = InputSpec {
        channels: 3,
        height: 32,
        width: 32,
        mean: vec![0.49, 0.48, 0.45],
        std: vec![0.25, 0.24, 0.26],
        preprocess: None,
    };
    let mut out = Vec::new();
    set.to_input(&spec, 0..set.len(), &mut out)
        .expect("CIFAR-10 images fit a 3×32×32 input");
    assert_eq!(out.len(), set.len() * spec.item_len());
});
