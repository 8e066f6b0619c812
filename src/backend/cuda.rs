//! CUDA backend: not implemented yet. It reports itself unavailable, with the
//! reason, until its kernels land (issue 4).

use std::sync::Arc;

use crate::backend::Backend;

pub fn probe() -> Result<Arc<dyn Backend>, String> {
    if cfg!(feature = "cuda") {
        Err("not implemented yet: the CUDA kernels arrive with their own issue".into())
    } else {
        Err("built without the `cuda` feature".into())
    }
}
