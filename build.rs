//! Build script. It compiles nothing yet: the CUDA kernels (`kernels/*.cu`,
//! compiled to PTX with nvcc when present, else embedded for NVRTC) and the
//! WGSL shaders (`shaders/*.wgsl`, embedded) arrive with their own issues.
//! Until then it only tells cargo to rebuild when those folders change.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-changed=shaders");
}
