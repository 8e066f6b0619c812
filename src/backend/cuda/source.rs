//! The kernels as the build left them: PTX when `build.rs` found nvcc, and
//! always the source (`kernels/*.cu` joined into one translation unit) for
//! NVRTC to compile at run time for the device found.

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

/// Compiles [`SOURCE`] with NVRTC for compute capability `major.minor`.
/// Checks that libnvrtc loads first: cudarc panics when it does not.
pub fn compile_with_nvrtc(major: i32, minor: i32) -> Result<String, String> {
    // SAFETY: only tries to load the library.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err("libnvrtc was not found (put CUDA's lib64 on LD_LIBRARY_PATH)".into());
    }
    let options = cudarc::nvrtc::CompileOptions {
        options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(SOURCE, options)
        .map(|ptx| ptx.to_src())
        .map_err(|e| e.to_string())
}
