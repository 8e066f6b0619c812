//! NVRTC compiles the kernel source the crate embeds: the path a GPU takes
//! when no PTX was built for it (no nvcc at build time, or nvcc too new for
//! compute_53). Needs no GPU, only libnvrtc: `scripts/test.sh` installs one
//! from NVIDIA's PyPI wheel and sets `GROUPSCALE_EXPECT_NVRTC=1`, so that
//! not finding it fails. When `GROUPSCALE_PTXAS` names a ptxas, it must
//! accept each PTX for its architecture.
#![cfg(feature = "cuda")]

use groupscale::backend::cuda::{nvrtc, KernelName};

#[test]
fn nvrtc_compiles_every_kernel_for_the_nano_and_hopper() {
    let compiler = match nvrtc::describe() {
        Ok(c) => c,
        Err(why) if std::env::var_os("GROUPSCALE_EXPECT_NVRTC").is_none() => {
            eprintln!("SKIPPED nvrtc_compiles_every_kernel: {why}");
            return;
        }
        Err(why) => panic!("GROUPSCALE_EXPECT_NVRTC is set, but: {why}"),
    };
    eprintln!("{compiler}");
    for (major, minor) in [(5, 3), (9, 0)] {
        let ptx =
            nvrtc::compile(major, minor).unwrap_or_else(|e| panic!("compute_{major}{minor}: {e}"));
        let target = format!(".target sm_{major}{minor}");
        assert!(
            ptx.lines().any(|l| l.trim() == target),
            "no `{target}` line"
        );
        for kernel in KernelName::ALL {
            let entry = format!(".entry {}(", kernel.name());
            assert!(ptx.contains(&entry), "compute_{major}{minor}: no {entry}");
        }
        if let Some(ptxas) = std::env::var_os("GROUPSCALE_PTXAS") {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("kernels.ptx");
            std::fs::write(&file, &ptx).unwrap();
            let out = std::process::Command::new(ptxas)
                .arg(format!("-arch=sm_{major}{minor}"))
                .arg(&file)
                .arg("-o")
                .arg(dir.path().join("kernels.cubin"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ptxas -arch=sm_{major}{minor} refused NVRTC's PTX:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_named_nvrtc_that_is_missing_is_an_error() {
    // In a child process: the library is looked up once per process.
    if std::env::var_os("GROUPSCALE_NVRTC_CHILD").is_some() {
        let why = nvrtc::describe().unwrap_err();
        assert!(why.contains("/nonexistent/libnvrtc.so.99"), "{why}");
        assert!(nvrtc::compile(5, 3).is_err());
        return;
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_named_nvrtc_that_is_missing_is_an_error"])
        .env("GROUPSCALE_NVRTC_CHILD", "1")
        .env("GROUPSCALE_NVRTC", "/nonexistent/libnvrtc.so.99")
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stdout)
    );
}
