//! The shipped GroupAlexNet models (Fashion-MNIST), compiled into the crate
//! so that the CLI runs with no files at hand: `nested` (G = 8, isolated
//! groups trained jointly on the loss at every k, the one whose accuracy
//! rises with k) and the two G = 4 models of the paper's incremental recipe,
//! `cumulative` and `isolated` (docs/model.md).

use super::Model;
use crate::error::{Error, Result};

const CUMULATIVE: &[u8] = include_bytes!("../../models/groupalexnet-cumulative.safetensors");
const ISOLATED: &[u8] = include_bytes!("../../models/groupalexnet-isolated.safetensors");
const NESTED: &[u8] = include_bytes!("../../models/groupalexnet-nested.safetensors");

/// The shipped variants, the default first: the one with a real trade-off.
pub const NAMES: [&str; 3] = ["nested", "cumulative", "isolated"];

/// The shipped model `variant` (one of [`NAMES`]).
pub fn model(variant: &str) -> Result<Model> {
    let bytes = match variant {
        "cumulative" => CUMULATIVE,
        "isolated" => ISOLATED,
        "nested" => NESTED,
        other => {
            return Err(Error::ModelFile(format!(
                "no built-in model `{other}` (expected one of {})",
                NAMES.join(", ")
            )))
        }
    };
    Model::from_bytes(bytes)
}

/// `builtin`, `builtin:VARIANT`, or a path to a model file.
pub fn open(spec: &str) -> Result<Model> {
    match spec.strip_prefix("builtin") {
        Some("") => model(NAMES[0]),
        Some(rest) if rest.starts_with(':') => model(&rest[1..]),
        _ => Model::load(spec),
    }
}
