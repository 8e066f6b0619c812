//! The IDX reader (`groupscale::data::idx`), plain and gzipped: `parse` on
//! the whole input, and `from_bytes` on the input split into an images file
//! and a labels file. Data sets it accepts are turned into network input
//! (`RawImages::to_input`) for a Fashion-MNIST-shaped model.
//!
//! Input layout: byte 0 picks where to split the rest (as a fraction of its
//! length); images are the first part, labels the second.

#![no_main]

use groupscale::data::idx;
use groupscale::loader::InputSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((shape, bytes)) = idx::parse(data, "fuzz") {
        let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        assert_eq!(len, Some(bytes.len()), "shape {shape:?} accepted with {} bytes", bytes.len());
    }
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let at = rest.len() * usize::from(cut) / 255;
    let (images, labels) = rest.split_at(at);
    let Ok(set) = idx::from_bytes("fuzz", images, labels) else {
        return;
    };
    // Checked here: with no images, h·w may be anything (and overflow).
    let need = set
        .height
        .checked_mul(set.width)
        .and_then(|p| p.checked_mul(set.len()));
    assert_eq!(need, Some(set.pixels.len()), "{}×{} images", set.height, set.width);
    let spec = InputSpec {
        channels: 1,
        height: 28,
        width: 28,
        mean: vec![0.5],
        std: vec![0.25],
        preprocess: None,
    };
    let mut out = Vec::new();
    let n = set.len().min(8);
    match set.to_input(&spec, 0..n, &mut out) {
        Ok(()) => assert_eq!(out.len(), n * spec.item_len()),
        Err(_) => assert!(set.height > 28 || set.width > 28),
    }
});
