//! Dataset readers: IDX (plain and gzipped), CIFAR-10 binaries written here
//! in that format, the built-in subset, and image files.

use std::io::Write;

use groupscale::data::{self, cifar, idx};
use groupscale::loader::InputSpec;
use groupscale::Error;

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn spec(channels: usize) -> InputSpec {
    InputSpec {
        channels,
        height: 4,
        width: 4,
        mean: vec![0.5],
        std: vec![0.5],
        preprocess: None,
    }
}

#[test]
fn builtin_subset_has_1000_labelled_images_of_every_class() {
    let set = data::load("builtin").unwrap();
    assert_eq!(set.len(), 1000);
    assert_eq!((set.channels, set.height, set.width), (1, 28, 28));
    for class in 0..10u8 {
        assert!(set.labels.contains(&class), "class {class} missing");
    }
}

#[test]
fn idx_pairs_are_read_plain_or_gzipped_and_padded_centred() {
    let pixels: Vec<u8> = (0..2 * 2 * 2).map(|i| i as u8 * 30).collect();
    let images = idx_bytes(&[2, 2, 2], &pixels);
    let labels = idx_bytes(&[2], &[3, 7]);
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&images).unwrap();
    std::fs::write(
        dir.path().join("t10k-images-idx3-ubyte.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), &labels).unwrap();
    let set = data::load(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(set.labels, [3, 7]);
    let mut input = Vec::new();
    set.to_input(&spec(1), 1..2, &mut input).unwrap();
    // Image 1 (pixels 120, 150 / 180, 210) sits at rows 1..3, cols 1..3.
    let background = (0.0 - 0.5) / 0.5;
    assert_eq!(input.len(), 16);
    assert_eq!(input[0], background);
    assert!((input[5] - (120.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    assert!((input[10] - (210.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    assert_eq!(input[15], background);
}

#[test]
fn damaged_idx_files_are_errors() {
    let good = idx_bytes(&[2, 2, 2], &[0; 8]);
    let labels = idx_bytes(&[2], &[0, 1]);
    for (what, images) in [
        ("truncated", good[..good.len() - 1].to_vec()),
        ("bad magic", [&[1u8, 0, 8, 3][..], &good[4..]].concat()),
        (
            "float elements",
            [&[0u8, 0, 0x0d, 3][..], &good[4..]].concat(),
        ),
        ("header only", good[..6].to_vec()),
    ] {
        assert!(
            matches!(idx::from_bytes("x", &images, &labels), Err(Error::Data(_))),
            "{what} accepted"
        );
    }
    let short_labels = idx_bytes(&[3], &[0, 1, 2]);
    assert!(idx::from_bytes("x", &good, &short_labels).is_err());
}

#[test]
fn cifar_batches_written_in_that_format_are_read() {
    let mut bytes = Vec::new();
    for label in [4u8, 9] {
        bytes.push(label);
        bytes.extend((0..3 * 32 * 32).map(|i| (i % 251) as u8));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("test_batch.bin"), &bytes).unwrap();
    let set = data::load(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(set.labels, [4, 9]);
    assert_eq!((set.channels, set.height, set.width), (3, 32, 32));
    assert_eq!(&set.pixels[..3], &[0, 1, 2]);
    // A Fashion-MNIST model reads one channel: a clear error, not a panic.
    let mut input = Vec::new();
    assert!(matches!(
        set.to_input(&spec(1), 0..1, &mut input),
        Err(Error::Data(_))
    ));
    // Two batch files concatenate.
    let second = dir.path().join("data_batch_1.bin");
    std::fs::write(&second, &bytes).unwrap();
    let both = cifar::load_batches(&[dir.path().join("test_batch.bin"), second]).unwrap();
    assert_eq!(both.len(), 4);
    // Damaged files.
    assert!(cifar::from_bytes("x", &bytes[..100]).is_err());
    let mut bad_label = bytes.clone();
    bad_label[0] = 10;
    assert!(cifar::from_bytes("x", &bad_label).is_err());
}

#[test]
fn sources_that_are_not_datasets_are_errors() {
    assert!(matches!(data::load("/nonexistent"), Err(Error::Data(_))));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        data::load(empty.path().to_str().unwrap()),
        Err(Error::Data(_))
    ));
}

#[test]
fn png_images_are_decoded_padded_and_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    image::GrayImage::from_fn(2, 2, |x, y| image::Luma([(x + 2 * y) as u8 * 80]))
        .save(&path)
        .unwrap();
    let mut input = Vec::new();
    data::image::load_as_input(&path, &spec(1), &mut input).unwrap();
    assert_eq!(input.len(), 16);
    assert!((input[5] - (0.0 - 0.5) / 0.5).abs() < 1e-6);
    assert!((input[10] - (240.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"not an image").unwrap();
    assert!(matches!(
        data::image::load_as_input(&garbage, &spec(1), &mut input),
        Err(Error::Data(_))
    ));
}
