//! The two shipped GroupAlexNet models (trained on Fashion-MNIST by
//! `train/train.py`), compiled into the crate so that the CLI runs with no
//! files at hand.

use super::Model;
use crate::error::{Error, Result};

const CUMULATIVE: &[u8] = include_bytes!("../../models/groupalexnet-cumulative.safetensors");
const ISOLATED: &[u8] = include_bytes!("../../models/groupalexnet-isolated.safetensors");

/// The shipped variants, the default (the more accurate) first.
pub const NAMES: [&str; 2] = ["cumulative", "isolated"];

/// The shipped model `variant` (`cumulative` or `isolated`).
pub fn model(variant: &str) -> Result<Model> {
    let bytes = match variant {
        "cumulative" => CUMULATIVE,
        "isolated" => ISOLATED,
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
