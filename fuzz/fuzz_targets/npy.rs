//! The CLI's .npy reader (`src/bin/groupscale/npy.rs`, used by
//! `groupscale conv`). It is not part of the library, so the module is
//! compiled into this target as it is; it reads from a path, so each input
//! is written to a fixed per-process file first (under /dev/shm, or the
//! temporary directory where there is none).
//!
//! An array it accepts must have as many values as its shape promises, and
//! must survive `write_f32` -> `read_f32` bit for bit.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../src/bin/groupscale/npy.rs"]
mod npy;

fn paths() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let id = std::process::id();
        // A RAM file system where there is one: the target is I/O bound.
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() { shm } else { std::env::temp_dir() };
        (
            dir.join(format!("groupscale-fuzz-npy-{id}.npy")),
            dir.join(format!("groupscale-fuzz-npy-{id}-out.npy")),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (input, output) = paths();
    std::fs::write(input, data).expect("write the input file");
    let Ok(array) = npy::read_f32(input) else {
        return;
    };
    let expected = array
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d));
    assert_eq!(
        expected,
        Some(array.data.len()),
        "shape {:?} accepted with {} values",
        array.shape,
        array.data.len()
    );
    npy::write_f32(output, &array.shape, &array.data).expect("write back");
    let again = npy::read_f32(output).expect("read back what was written");
    assert_eq!(again.shape, array.shape);
    assert!(
        again
            .data
            .iter()
            .zip(&array.data)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "values changed in a round trip"
    );
});
