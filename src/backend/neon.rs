//! NEON backend (ARM): not implemented yet. On ARM the `cpu` backend runs its
//! portable kernels until the hand-written NEON kernels land (issue 3).

use std::sync::Arc;

use crate::backend::Backend;

pub fn probe() -> Result<Arc<dyn Backend>, String> {
    if cfg!(any(target_arch = "aarch64", target_arch = "arm")) {
        Err("not implemented yet: the NEON kernels arrive with their own issue; `cpu` runs portable kernels".into())
    } else {
        Err("not an ARM CPU".into())
    }
}
