//! The kernels as the build left them: PTX when `build.rs` found nvcc, and
//! always the source (`kernels/*.cu` joined into one translation unit) for
//! NVRTC (`nvrtc`) to compile at run time for the device found.

/// `kernels/*.cu` with the header inlined.
pub const SOURCE: &str = include_str!(concat!(env!("OUT_DIR"), "/groupscale_kernels.cu"));

/// The PTX nvcc made at build time, and the architecture it targets.
pub fn prebuilt_ptx() -> Option<(&'static str, &'static str)> {
    #[cfg(groupscale_prebuilt_ptx)]
    {
        Some((
            include_str!(concat!(env!("OUT_DIR"), "/groupscale_kernels.ptx")),
            env!("GROUPSCALE_PTX_ARCH"),
        ))
    }
    #[cfg(not(groupscale_prebuilt_ptx))]
    {
        None
    }
}
