//! Build script: readies the CUDA kernels (`kernels/*.cu`).
//!
//! - Always: joins the header and the kernels into one translation unit in
//!   OUT_DIR, which the crate embeds for NVRTC to compile at run time.
//! - When nvcc is found (`GROUPSCALE_NVCC`, PATH, `CUDA_HOME`/`CUDA_PATH`,
//!   /usr/local/cuda): also compiles it to PTX for `GROUPSCALE_CUDA_ARCH`
//!   (default compute_53, the Jetson Nano) and embeds that. An nvcc that
//!   fails (CUDA 13 has dropped compute_53) is a warning, not an error: the
//!   NVRTC path remains.
//! - With the `cuda-emulator` feature: compiles the kernels as C++ for the
//!   CPU emulator the tests use.
//!
//! The WGSL shaders (`shaders/`) are embedded by the crate itself.

use std::path::{Path, PathBuf};
use std::process::Command;

const KERNELS: [&str; 4] = ["conv.cu", "pool.cu", "dense.cu", "softmax.cu"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=kernels");
    println!("cargo::rerun-if-changed=shaders");
    for var in [
        "GROUPSCALE_NVCC",
        "GROUPSCALE_CUDA_ARCH",
        "CUDA_HOME",
        "CUDA_PATH",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rustc-check-cfg=cfg(groupscale_prebuilt_ptx)");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let unit = out.join("groupscale_kernels.cu");
    std::fs::write(&unit, translation_unit()).expect("writing the joined kernels to OUT_DIR");
    if let Some(nvcc) = find_nvcc() {
        compile_ptx(&nvcc, &unit, &out.join("groupscale_kernels.ptx"));
    }
    #[cfg(feature = "cuda-emulator")]
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("kernels/emulator/emulator.cpp")
        .flag_if_supported("-Wno-unknown-pragmas")
        .opt_level(2)
        .compile("groupscale_cuda_emulator");
}

/// The header followed by every kernel file, with the includes of the
/// header dropped (NVRTC gets one source and no include path).
fn translation_unit() -> String {
    let read = |name: &str| {
        std::fs::read_to_string(Path::new("kernels").join(name))
            .unwrap_or_else(|e| panic!("reading kernels/{name}: {e}"))
    };
    let mut unit = read("groupscale.cuh").replace("#pragma once", "");
    for name in KERNELS {
        unit.push_str(&format!("\n// ---- kernels/{name}\n"));
        for line in read(name).lines() {
            if line.trim() != "#include \"groupscale.cuh\"" {
                unit.push_str(line);
                unit.push('\n');
            }
        }
    }
    unit
}

fn find_nvcc() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("GROUPSCALE_NVCC") {
        return Some(explicit.into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nvcc"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let homes = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|h| PathBuf::from(h).join("bin/nvcc"));
    on_path
        .into_iter()
        .chain(homes)
        .chain([PathBuf::from("/usr/local/cuda/bin/nvcc")])
        .find(|p| p.is_file())
}

fn compile_ptx(nvcc: &Path, unit: &Path, ptx: &Path) {
    let arch = std::env::var("GROUPSCALE_CUDA_ARCH").unwrap_or_else(|_| "compute_53".into());
    let result = Command::new(nvcc)
        .args(["-ptx", &format!("-arch={arch}"), "-o"])
        .arg(ptx)
        .arg(unit)
        .output();
    match result {
        Ok(o) if o.status.success() => {
            println!("cargo::rustc-cfg=groupscale_prebuilt_ptx");
            println!("cargo::rustc-env=GROUPSCALE_PTX_ARCH={arch}");
        }
        Ok(o) => println!(
            "cargo::warning=nvcc could not build the kernels for {arch} ({}); the CUDA backend will compile them with NVRTC at run time",
            String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("no message")
        ),
        Err(e) => println!(
            "cargo::warning=running {}: {e}; the CUDA backend will compile the kernels with NVRTC at run time",
            nvcc.display()
        ),
    }
}
