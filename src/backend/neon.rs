//! The `neon` backend: the CPU backend held to its NEON kernels, for callers
//! that want to be sure NEON runs (`GROUPSCALE_BACKEND=neon`, `--backend neon`).

use std::sync::Arc;

use crate::backend::Backend;

pub fn probe() -> Result<Arc<dyn Backend>, String> {
    #[cfg(feature = "cpu")]
    {
        use crate::backend::cpu::{CpuBackend, CpuConfig, CpuIsa};
        CpuIsa::Neon.check()?;
        let config = CpuConfig {
            isa: Some(CpuIsa::Neon),
            ..CpuConfig::from_env().map_err(|e| e.to_string())?
        };
        CpuBackend::new(config)
            .map(|cpu| Arc::new(cpu) as Arc<dyn Backend>)
            .map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "cpu"))]
    Err("built without the `cpu` feature".into())
}
