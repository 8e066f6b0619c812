//! The crate's one error type. Every fallible public function returns it, so
//! callers can match on what went wrong instead of parsing messages.

use crate::backend::BackendKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer description that cannot be executed (G not dividing the
    /// channels, a zero-sized kernel, ...).
    #[error("invalid layer: {0}")]
    InvalidSpec(String),

    #[error("active groups k = {k} is out of range 1..={groups}")]
    ActiveGroups { k: usize, groups: usize },

    #[error("{what}: expected {expected} elements, got {got}")]
    ElementCount {
        what: &'static str,
        expected: usize,
        got: usize,
    },

    /// A shape that cannot run: an input that does not match what the layer
    /// reads with the requested number of active groups, or any size (layer
    /// parameter, tensor side or element count) past one of the limits in
    /// [`model::limits`](crate::model::limits), which the message names.
    #[error("shape: {0}")]
    Shape(String),

    #[error("backend `{backend}` is unavailable: {reason}")]
    BackendUnavailable {
        backend: BackendKind,
        reason: String,
    },

    #[error("unknown backend `{0}` (expected one of scalar, cpu, neon, cuda, wgpu)")]
    UnknownBackend(String),

    #[error("CPU instruction set `{isa}` is unavailable: {reason}")]
    IsaUnavailable { isa: String, reason: String },

    #[error("invalid setting {name}={value}: {reason}")]
    Setting {
        name: &'static str,
        value: String,
        reason: String,
    },

    /// No candidate for the default backend could run the calibration layer.
    #[error("choosing the default backend: {0}")]
    Calibration(String),

    #[error("thread pool: {0}")]
    ThreadPool(String),

    /// A model file that cannot be used: truncated, a corrupt header, a
    /// tensor of the wrong shape or dtype, or layers that do not chain.
    #[error("model file: {0}")]
    ModelFile(String),

    /// A profile table that cannot be used, or a budget it cannot serve.
    #[error("profile: {0}")]
    Profile(String),

    /// A budget that is not a positive number of ms or mJ.
    #[error("budget: {0}")]
    Budget(String),

    /// A dataset or image that cannot be read.
    #[error("data: {0}")]
    Data(String),

    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Platform(#[from] crate::platform::PlatformError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidSpec(msg.into())
}

/// `ElementCount` unless a buffer holds exactly the elements expected.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected != got {
        return Err(Error::ElementCount {
            what,
            expected,
            got,
        });
    }
    Ok(())
}
