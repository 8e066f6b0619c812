//! CI must fail when a backend that should run on its machine did not.
//!
//! What should run is read from the machine's own description,
//! `/proc/cpuinfo`, independently of the crate's detection, so a detection
//! bug fails here. Under qemu-user that file describes the host, not the
//! emulated core, so the test script names the expected backends in
//! `GROUPSCALE_EXPECT_BACKENDS` instead (labels as `groupscale selftest`
//! prints them).

use groupscale::check::selftest::targets;

/// The CPU kernels this machine must run, from `/proc/cpuinfo`.
fn expected_from_cpuinfo() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has = |flag: &str| {
        cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags") || l.starts_with("Features"))
            .any(|l| l.split_whitespace().any(|w| w == flag))
    };
    let mut expected = vec!["cpu/portable".to_string()];
    if cfg!(target_arch = "x86_64") {
        if has("avx2") && has("fma") {
            expected.push("cpu/avx2".into());
        }
        if has("avx512f") {
            expected.push("cpu/avx512".into());
        }
    }
    // NEON is part of AArch64; 32-bit kernels need NEON and VFPv4.
    if cfg!(target_arch = "aarch64") || (cfg!(target_arch = "arm") && has("neon") && has("vfpv4")) {
        expected.push("cpu/neon".into());
    }
    // Mesa's software Vulkan driver (lavapipe) gives the wgpu backend an
    // adapter on any machine where it is installed; the test script installs it.
    if cfg!(feature = "wgpu") && lavapipe_installed() {
        expected.push("wgpu".into());
    }
    // A machine with an NVIDIA GPU and its kernel driver must run CUDA.
    if cfg!(feature = "cuda") && nvidia_gpu_present() {
        expected.push("cuda".into());
    }
    // The CUDA kernels run on any machine through the emulator, when built.
    if cfg!(feature = "cuda-emulator") {
        expected.push("cuda/emulator".into());
    }
    expected
}

/// The NVIDIA kernel driver's view of the machine, not the crate's: a GPU
/// device node or a GPU listed under `/proc/driver/nvidia`.
fn nvidia_gpu_present() -> bool {
    std::path::Path::new("/dev/nvidia0").exists()
        || std::fs::read_dir("/proc/driver/nvidia/gpus").is_ok_and(|mut gpus| gpus.next().is_some())
}

fn lavapipe_installed() -> bool {
    ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|dir| {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd"))
            })
        })
}

#[test]
fn every_expected_backend_runs_here() {
    let expected: Vec<String> = match std::env::var("GROUPSCALE_EXPECT_BACKENDS") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Err(_) => expected_from_cpuinfo(),
    };
    let running: Vec<String> = targets(None).into_iter().map(|t| t.label).collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|want| !running.contains(want))
        .collect();
    let reasons: Vec<String> = groupscale::registry()
        .probes()
        .iter()
        .filter_map(|p| {
            p.backend
                .as_ref()
                .err()
                .map(|why| format!("{}: {why}", p.kind))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "expected on this machine but not running: {missing:?}; running: {running:?}; unavailable: {reasons:?}"
    );
}
