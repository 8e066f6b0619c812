//! Caller mistakes come back as typed errors, never panics; hostile numbers
//! (from arguments, model files, data files and core lists) are refused with
//! one line and exit status 2, never a signal, an abort or a panic.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use groupscale::model::limits::{MAX_ELEMENTS, MAX_SIDE, MAX_WINDOW};
use groupscale::{
    Backend, BackendKind, Connectivity, Conv2d, Conv2dSpec, CpuBackend, CpuConfig, Error, Head,
    HeadSpec, Linear, LinearSpec, MaxPool2dSpec, Model, PreparedLayer, ScalarBackend, Shape4,
    Tensor,
};

fn cpu() -> Arc<dyn Backend> {
    Arc::new(CpuBackend::new(CpuConfig::default()).unwrap())
}

fn conv(spec: Conv2dSpec) -> Conv2d {
    Conv2d::new(spec, vec![0.5; spec.layout().weight_len()], None).unwrap()
}

#[test]
fn groups_must_divide_the_channels() {
    let spec = Conv2dSpec::new(6, 8, 3, 1, 4, Connectivity::Isolated);
    assert!(matches!(
        Conv2d::new(spec, vec![0.0; 10], None),
        Err(Error::InvalidSpec(_))
    ));
    let spec = Conv2dSpec::new(8, 6, 3, 1, 4, Connectivity::Full);
    assert!(matches!(spec.validate(), Err(Error::InvalidSpec(_))));
    let spec = LinearSpec {
        in_features: 10,
        out_features: 8,
        groups: 4,
        connectivity: Connectivity::Cumulative,
        relu: false,
    };
    assert!(Linear::new(spec, vec![0.0; 1], None).is_err());
    assert!(Head::new(
        HeadSpec {
            in_features: 10,
            classes: 3,
            groups: 4
        },
        vec![0.0; 30],
        vec![0.0; 12]
    )
    .is_err());
}

#[test]
fn zero_sizes_are_rejected() {
    for spec in [
        Conv2dSpec::new(8, 8, 0, 0, 2, Connectivity::Isolated),
        Conv2dSpec::new(8, 8, 3, 0, 0, Connectivity::Isolated),
        Conv2dSpec::new(8, 8, 3, 0, 2, Connectivity::Isolated).with_stride(0),
        Conv2dSpec::new(0, 8, 3, 0, 2, Connectivity::Isolated),
    ] {
        assert!(spec.validate().is_err(), "{spec:?}");
    }
    assert!(MaxPool2dSpec {
        kernel: [2, 2],
        stride: [0, 1],
        padding: [0, 0]
    }
    .validate()
    .is_err());
    assert!(MaxPool2dSpec {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [2, 0]
    }
    .validate()
    .is_err());
}

#[test]
fn wrong_element_counts_are_rejected() {
    let spec = Conv2dSpec::new(8, 8, 3, 1, 2, Connectivity::Isolated);
    let err = Conv2d::new(spec, vec![0.0; 10], None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ElementCount {
                expected: 288,
                got: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(Conv2d::new(spec, vec![0.0; 288], Some(vec![0.0; 7])).is_err());
}

#[test]
fn active_groups_out_of_range_are_rejected() {
    let spec = Conv2dSpec::new(8, 8, 3, 1, 2, Connectivity::Isolated);
    let mut layer = PreparedLayer::new(&cpu(), conv(spec).into()).unwrap();
    for k in [0, 3] {
        let x = Tensor::zeros(Shape4::new(1, 4, 5, 5));
        assert!(
            matches!(layer.forward(&x, k), Err(Error::ActiveGroups { k: kk, groups: 2 }) if kk == k)
        );
    }
}

#[test]
fn inputs_that_do_not_fit_are_rejected() {
    let spec = Conv2dSpec::new(8, 8, 3, 1, 2, Connectivity::Isolated);
    let mut layer = PreparedLayer::new(&cpu(), conv(spec).into()).unwrap();
    // 8 channels given, k = 1 reads 4.
    assert!(matches!(
        layer.forward(&Tensor::zeros(Shape4::new(1, 8, 5, 5)), 1),
        Err(Error::Shape(_))
    ));
    // Slice lengths that disagree with the shape.
    let shape = Shape4::new(1, 4, 5, 5);
    let mut out = vec![0.0; 100];
    assert!(matches!(
        layer.run(&[0.0; 99], shape, 1, &mut out),
        Err(Error::ElementCount { what: "input", .. })
    ));
    assert!(matches!(
        layer.run(&[0.0; 100], shape, 1, &mut out[..99]),
        Err(Error::ElementCount { what: "output", .. })
    ));
    // A dilated kernel wider than the padded input.
    let wide = Conv2dSpec::new(8, 8, 5, 0, 2, Connectivity::Isolated).with_dilation(3);
    let mut layer = PreparedLayer::new(&cpu(), conv(wide).into()).unwrap();
    assert!(matches!(
        layer.forward(&Tensor::zeros(Shape4::new(1, 4, 6, 6)), 1),
        Err(Error::Shape(_))
    ));
    assert!(Tensor::new(Shape4::new(1, 2, 3, 4), vec![0.0; 5]).is_err());
}

#[test]
fn unavailable_backends_say_why() {
    // Without an NVIDIA driver, CUDA must say so rather than panic (cudarc
    // panics when libcuda is missing unless asked first). wgpu's no-adapter
    // case is in wgpu_shaders.rs.
    let kind = BackendKind::Cuda;
    let driver_installed = [
        "/proc/driver/nvidia/version",
        "/dev/nvidiactl",
        "/dev/nvhost-ctrl-gpu", // Jetson (Tegra) GPUs
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    match groupscale::backend(kind) {
        Err(Error::BackendUnavailable { backend, reason }) => {
            assert_eq!(backend, kind);
            assert!(!reason.is_empty());
            if !driver_installed && cfg!(feature = "cuda") {
                assert!(reason.contains("libcuda"), "{reason}");
            }
        }
        Ok(b) => assert!(
            driver_installed,
            "CUDA claims a GPU with no driver: {}",
            b.describe()
        ),
        Err(e) => panic!("unexpected error {e}"),
    }
    assert!(matches!(
        "tpu".parse::<BackendKind>(),
        Err(Error::UnknownBackend(_))
    ));
}

#[test]
fn impossible_cpu_settings_are_errors() {
    assert!(CpuBackend::new(CpuConfig {
        threads: Some(0),
        ..CpuConfig::default()
    })
    .is_err());
    assert!(CpuBackend::new(CpuConfig {
        cores: Some(vec![]),
        ..CpuConfig::default()
    })
    .is_err());
    assert!(CpuBackend::new(CpuConfig {
        cores: Some(vec![1 << 20]),
        ..CpuConfig::default()
    })
    .is_err());
}

// ---------------------------------------------------------------------------
// Hostile numbers.

/// The dilation and padding of the reported crashes (6148914691236517206
/// and 9223372036854775807 on 64-bit targets): 3·d wraps to 2, and 2·p
/// wraps to −2, whatever the width of usize.
const HUGE_DILATION: usize = usize::MAX / 3 + 1;
const HUGE_PADDING: usize = usize::MAX / 2;

fn scalar() -> Arc<dyn Backend> {
    Arc::new(ScalarBackend)
}

fn expect_shape_error<T: std::fmt::Debug>(result: groupscale::Result<T>, needle: &str, what: &str) {
    match result {
        Err(Error::Shape(msg)) => assert!(msg.contains(needle), "{what}: `{msg}` lacks `{needle}`"),
        other => panic!("{what}: expected a shape error naming {needle}, got {other:?}"),
    }
}

#[test]
fn overflowing_window_sizes_are_shape_errors_on_every_cpu_backend() {
    let base = Conv2dSpec::new(4, 4, 4, 0, 1, Connectivity::Isolated);
    let input = Shape4::new(1, 4, 8, 8);
    for spec in [
        base.with_dilation(HUGE_DILATION),
        Conv2dSpec {
            padding: [HUGE_PADDING; 2],
            ..base
        },
        Conv2dSpec {
            padding: [0, HUGE_PADDING],
            ..base
        },
        base.with_stride(usize::MAX),
        Conv2dSpec {
            kernel: [usize::MAX, 1],
            ..base
        },
    ] {
        let what = format!("{spec:?}");
        expect_shape_error(spec.validate(), "MAX_WINDOW", &what);
        expect_shape_error(spec.output_hw(8, 8), "MAX_WINDOW", &what);
        expect_shape_error(spec.output_shape(input, 1), "MAX_WINDOW", &what);
        expect_shape_error(Conv2d::new(spec, vec![0.5; 256], None), "MAX_WINDOW", &what);
        assert_eq!(spec.flops(1, 8, 8, 1), 0.0);
    }
    let pool = MaxPool2dSpec {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [HUGE_PADDING, 0],
    };
    expect_shape_error(pool.output_shape(input), "MAX_WINDOW", "max-pool padding");

    // At the limits a layer validates; inputs it cannot take are refused
    // with the limit's name by every backend, before any kernel runs.
    for backend in [scalar(), cpu()] {
        let kind = backend.kind();
        let dilated = conv(base.with_dilation(MAX_WINDOW));
        let mut layer = PreparedLayer::new(&backend, dilated.into()).unwrap();
        expect_shape_error(
            layer.forward(&Tensor::zeros(input), 1),
            "span",
            &format!("{kind}: dilated"),
        );
        expect_shape_error(layer.reserve(1, 8, 8), "span", &format!("{kind}: reserve"));

        let padded = conv(Conv2dSpec {
            padding: [MAX_WINDOW; 2],
            stride: [MAX_WINDOW; 2],
            ..base
        });
        let mut layer = PreparedLayer::new(&backend, padded.into()).unwrap();
        // A 1×1 image padded to (2^17+1)² per channel: past MAX_ELEMENTS,
        // though the output is only 3×3.
        expect_shape_error(
            layer.forward(&Tensor::zeros(Shape4::new(1, 4, 1, 1)), 1),
            "MAX_ELEMENTS",
            &format!("{kind}: padded"),
        );
        expect_shape_error(
            layer.reserve(1, 1, 1),
            "MAX_ELEMENTS",
            &format!("{kind}: reserve"),
        );

        // Sides and element counts past the limits, without allocating them.
        let mut layer = PreparedLayer::new(&backend, conv(base).into()).unwrap();
        let mut out = [0.0f32; 4];
        for (shape, needle) in [
            (Shape4::new(1, 4, MAX_SIDE + 1, 8), "MAX_SIDE"),
            (Shape4::new(usize::MAX / 2, 4, 8, 8), "MAX_ELEMENTS"),
            (Shape4::new(MAX_ELEMENTS / 64, 4, 8, 8), "MAX_ELEMENTS"),
        ] {
            expect_shape_error(
                layer.run(&[0.0; 4], shape, 1, &mut out),
                needle,
                &format!("{kind}: {shape}"),
            );
        }
        // The kernels check again when called directly, bypassing PreparedLayer.
        let mut kernel = backend.prepare(&conv(base).into()).unwrap();
        assert!(
            kernel.run(&[0.0; 4], input, 1, &mut out).is_err(),
            "{kind}: a kernel ran on slices shorter than the shape"
        );
    }
}

#[test]
fn oversized_linear_and_head_layers_are_refused() {
    let linear = LinearSpec {
        in_features: usize::MAX,
        out_features: 4,
        groups: 1,
        connectivity: Connectivity::Full,
        relu: false,
    };
    expect_shape_error(linear.validate(), "MAX_FEATURES", "linear");
    let linear = LinearSpec {
        in_features: 1 << 20,
        out_features: 1 << 20,
        ..linear
    };
    expect_shape_error(linear.validate(), "MAX_ELEMENTS", "linear weights");
    let head = HeadSpec {
        in_features: 1 << 20,
        classes: 1 << 20,
        groups: 1,
    };
    expect_shape_error(head.validate(), "MAX_ELEMENTS", "head weights");
    expect_shape_error(
        head.output_shape(Shape4::flat(1, 1 << 20), 1),
        "MAX_ELEMENTS",
        "head output_shape",
    );
}

/// A groupscale model file: the JSON description and F32 tensors (name,
/// shape, values), built by hand so that it may say what `Model::new`
/// refuses to.
fn model_file(meta: serde_json::Value, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<_> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            (
                name.to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap(),
            )
        })
        .collect();
    let info = std::collections::HashMap::from([("groupscale".to_string(), meta.to_string())]);
    safetensors::serialize(views, Some(info)).unwrap()
}

fn meta(input_hw: usize, layers: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "format": "groupscale-model",
        "version": 1,
        "name": "evil",
        "groups": 1,
        "input": {"channels": 1, "height": input_hw, "width": input_hw, "mean": [0.0], "std": [1.0]},
        "classes": ["a"],
        "layers": layers,
    })
}

/// A 1 KB model whose only convolution has the reported dilation.
fn dilated_model() -> Vec<u8> {
    model_file(
        meta(
            8,
            serde_json::json!([
                {"type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 1, "kernel": 4,
                 "dilation": HUGE_DILATION, "groups": 1, "connectivity": "full"},
                {"type": "max_pool2d", "kernel": 6},
                {"type": "head", "name": "h", "in_features": 1, "classes": 1, "groups": 1}
            ]),
        ),
        &[
            ("c.weight.0", vec![1, 1, 4, 4], vec![0.1; 16]),
            ("c.bias", vec![1], vec![0.0]),
            ("h.weight", vec![1, 1, 1], vec![1.0]),
            ("h.bias", vec![1, 1], vec![0.0]),
        ],
    )
}

/// A 700-byte model declaring a 46340×46340 input (just under 2^31
/// elements), pooled to one value: evaluating it asked for 8.6 TB.
fn wide_input_model() -> Vec<u8> {
    model_file(
        meta(
            46_340,
            serde_json::json!([
                {"type": "max_pool2d", "kernel": 46_340},
                {"type": "head", "name": "h", "in_features": 1, "classes": 1, "groups": 1}
            ]),
        ),
        &[
            ("h.weight", vec![1, 1, 1], vec![1.0]),
            ("h.bias", vec![1, 1], vec![0.0]),
        ],
    )
}

fn expect_model_error(bytes: &[u8], needle: &str) {
    match Model::from_bytes(bytes) {
        Err(Error::ModelFile(msg)) => assert!(msg.contains(needle), "`{msg}` lacks `{needle}`"),
        Err(other) => panic!("wrong error kind: {other}"),
        Ok(_) => panic!("a model that needs {needle} was accepted"),
    }
}

#[test]
fn model_files_with_hostile_sizes_are_model_file_errors() {
    expect_model_error(&dilated_model(), "MAX_WINDOW");
    let wide = wide_input_model();
    assert!(wide.len() < 1024, "{} bytes", wide.len());
    expect_model_error(&wide, "MAX_SIDE");
}

fn command(args: &[&str], envs: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = common::groupscale_command();
    cmd.args(args)
        .env_remove("GROUPSCALE_BACKEND")
        .env_remove("GROUPSCALE_STRICT")
        .env_remove("GROUPSCALE_CORES")
        .env_remove("GROUPSCALE_THREADS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

fn groupscale(args: &[&str], envs: &[(&str, &str)]) -> Output {
    command(args, envs).output().expect("the binary runs")
}

/// Whether [`groupscale_small`] can cap the address space: on Linux, when
/// the binary is started directly (qemu-user needs its own address space).
fn can_cap_memory() -> bool {
    cfg!(target_os = "linux") && std::env::var_os("GROUPSCALE_TEST_RUNNER").is_none()
}

/// Runs the CLI with its address space capped at 768 MiB where it can, as
/// on a small board: a reader that sizes buffers from a header, or
/// decompresses without bound, then dies of an allocation failure (or
/// reports running out of memory) instead of taking the test machine's
/// memory; a fixed one refuses the file long before.
fn groupscale_small(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = command(args, envs);
    if can_cap_memory() {
        #[cfg(target_os = "linux")]
        use std::os::unix::process::CommandExt;
        #[cfg(target_os = "linux")]
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 768 << 20,
                    rlim_max: 768 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.output().expect("the binary runs")
}

/// Exit status 2, no signal, and exactly one line on stderr naming the problem.
fn assert_clean_failure(out: &Output, needles: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "killed by a signal; stderr: {stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A little-endian f32 .npy file whose header says `shape` (as written),
/// followed by `values` values.
fn npy_bytes(version: u8, shape: &str, values: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let prefix = if version == 1 { 10 } else { 12 };
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version, 0]);
    if version == 1 {
        out.extend((header.len() as u16).to_le_bytes());
    } else {
        out.extend((header.len() as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend((0..values).flat_map(|i| (i as f32 * 0.01).to_le_bytes()));
    out
}

fn conv_args<'a>(dir: &'a Path, input: &'a str, extra: &[&'a str]) -> Vec<String> {
    let path = |name: &str| dir.join(name).display().to_string();
    let mut args: Vec<String> = [
        "conv",
        "--input",
        &path(input),
        "--weight",
        &path("w.npy"),
        "--in-channels",
        "4",
        "--out-channels",
        "4",
        "--kernel",
        "4",
        "--groups",
        "1",
        "--active",
        "1",
        "--connectivity",
        "isolated",
        "--output",
        &path("out.npy"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn conv_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.npy"), npy_bytes(1, "(1, 4, 8, 8)", 256)).unwrap();
    std::fs::write(dir.path().join("w.npy"), npy_bytes(1, "(4, 4, 4, 4)", 256)).unwrap();
    dir
}

fn run_args(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    groupscale(&args, &[])
}

fn run_args_small(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    groupscale_small(&args, &[])
}

#[test]
fn the_cli_refuses_overflowing_dilation_and_padding() {
    let dir = conv_dir();
    let dilation = HUGE_DILATION.to_string();
    let padding = HUGE_PADDING.to_string();
    for backend in ["cpu", "scalar"] {
        for (flag, value) in [("--dilation", &dilation), ("--padding", &padding)] {
            let out = run_args_small(&conv_args(
                dir.path(),
                "x.npy",
                &[flag, value, "--backend", backend],
            ));
            assert_clean_failure(&out, &["MAX_WINDOW", value]);
            assert!(
                !dir.path().join("out.npy").exists(),
                "{backend} wrote a result"
            );
        }
        // Within the limits but too large for the input: still one line.
        let out = run_args_small(&conv_args(
            dir.path(),
            "x.npy",
            &["--padding", "65536", "--backend", backend],
        ));
        assert_clean_failure(&out, &["MAX_SIDE"]);
    }
    // The same layer with sane numbers runs.
    let out = run_args(&conv_args(
        dir.path(),
        "x.npy",
        &["--dilation", "2", "--padding", "3"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_cli_refuses_npy_headers_that_promise_more_than_the_file_holds() {
    let dir = conv_dir();
    for (name, bytes, needle) in [
        // 2^64 values: the product overflows (on 32-bit targets each entry
        // is already larger than a size).
        (
            "overflow.npy",
            npy_bytes(1, "(4294967296, 4294967296, 1, 1)", 4),
            if usize::BITS == 32 {
                "is not a size"
            } else {
                "values"
            },
        ),
        // Truncated: 256 values promised, 10 present.
        (
            "short.npy",
            npy_bytes(1, "(1, 4, 8, 8)", 10),
            "holds only 40 bytes",
        ),
        // A header length of 4 GiB in a 128-byte file (npyz allocated it).
        (
            "long_header.npy",
            {
                let mut b = npy_bytes(2, "(1, 4, 8, 8)", 0);
                b[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
                b
            },
            "header claims",
        ),
        // Nested braces: npyz's header parser backtracks exponentially on
        // them (12 took minutes; found by fuzzing).
        // (fuzz/corpus/npy/nested-braces-10.npy, built here so the test
        // needs no file outside the package).
        ("nested.npy", nested_braces_npy(), "brackets"),
    ] {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = run_args_small(&conv_args(dir.path(), name, &["--backend", "scalar"]));
        assert_clean_failure(&out, &[name, needle]);
    }
}

#[test]
fn the_cli_refuses_model_files_with_hostile_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, needle) in [
        ("dilated.safetensors", dilated_model(), "MAX_WINDOW"),
        ("wide.safetensors", wide_input_model(), "MAX_SIDE"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for command in ["eval", "classify"] {
            let mut args = vec![command, "--model", path.to_str().unwrap()];
            if command == "eval" {
                args.extend(["--backend", "cpu"]);
            } else {
                args.push("no-such-image.png");
            }
            assert_clean_failure(&groupscale_small(&args, &[]), &["model file", needle]);
        }
    }
}

/// Cores here: `/sys/devices/system/cpu/online`, else available_parallelism.
fn online_cores() -> Vec<usize> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let listed = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|t| groupscale::platform::sysfs::parse_cpu_list(t.trim()));
    listed.unwrap_or_else(|| (0..n).collect())
}

/// The first core in this process's affinity mask (a cpuset may leave out
/// online cores).
fn allowed_core() -> usize {
    #[cfg(target_os = "linux")]
    // SAFETY: cpu_set_t is plain data, filled by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            if let Some(core) = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set))
            {
                return core;
            }
        }
    }
    online_cores()[0]
}

#[test]
fn core_lists_are_capped_and_must_name_online_cores() {
    let online = online_cores();
    let absent = (online.iter().max().unwrap() + 1)
        .max(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let listed = groupscale::platform::sysfs::format_cpu_list(&online);
    let bench = [
        "bench",
        "--backend",
        "cpu",
        "--k",
        "1",
        "--runs",
        "1",
        "--layers",
        "L1",
    ];
    let with = |cores: &str| {
        let mut args = bench.to_vec();
        args.extend(["--cores", cores]);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    assert_clean_failure(
        &run_args_small(&with("0-100000000000")),
        &["--cores", "more than 4096 cores"],
    );
    let absent_text = absent.to_string();
    assert_clean_failure(
        &run_args(&with(&absent_text)),
        &[
            &format!("core {absent} is not online"),
            &format!("online cores: {listed}"),
        ],
    );
    // The environment variable goes through the same checks.
    let out = groupscale_small(&bench, &[("GROUPSCALE_CORES", "0-100000000000")]);
    assert_clean_failure(&out, &["GROUPSCALE_CORES", "more than 4096 cores"]);
    let out = groupscale(&bench, &[("GROUPSCALE_CORES", &absent_text)]);
    assert_clean_failure(
        &out,
        &[
            &format!("core {absent} is not online"),
            &format!("online cores: {listed}"),
        ],
    );
    // The library says the same.
    match CpuBackend::new(CpuConfig {
        cores: Some(vec![absent]),
        ..CpuConfig::default()
    }) {
        Err(Error::ThreadPool(msg)) => assert!(msg.contains(&listed), "{msg}"),
        Err(other) => panic!("wrong error kind: {other}"),
        Ok(b) => panic!("pinned to a core that is not online: {}", b.describe()),
    }
    // A core this process may run on still works.
    let out = run_args(&with(&allowed_core().to_string()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A gzip stream (fixed-Huffman DEFLATE, built bit by bit so that it costs
/// nothing to make) of `prefix` followed by `zeros` zero bytes. Past 16 MiB
/// the trailer's CRC is left wrong: a reader must give up long before it.
fn gzip_bomb(prefix: &[u8], zeros: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        /// `len` bits of `v`, least significant first.
        fn put(&mut self, v: u64, len: u32) {
            self.acc |= v << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            let reversed = code.reverse_bits() >> (32 - len);
            self.put(u64::from(reversed), len);
        }
        fn literal(&mut self, byte: u8) {
            if byte < 144 {
                self.code(0x30 + u32::from(byte), 8);
            } else {
                self.code(0x190 + u32::from(byte) - 144, 9);
            }
        }
    }
    let mut bits = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    bits.put(0b011, 3); // the last block, fixed Huffman codes
    prefix.iter().for_each(|&b| bits.literal(b));
    if zeros > 0 {
        bits.literal(0);
    }
    let mut left = zeros.saturating_sub(1);
    while left >= 258 {
        bits.code(0b1100_0101, 8); // length 258
        bits.code(0, 5); // distance 1
        left -= 258;
    }
    (0..left).for_each(|_| bits.literal(0));
    bits.code(0, 7); // end of block
    bits.put(0, 7);
    let mut crc = flate2::Crc::new();
    if zeros <= 16 << 20 {
        crc.update(prefix);
        crc.update(&vec![0; zeros]);
    }
    bits.out.extend(crc.sum().to_le_bytes());
    bits.out
        .extend(((prefix.len() + zeros) as u32).to_le_bytes());
    bits.out
}

fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    out
}

#[test]
fn idx_files_are_read_no_further_than_their_headers_promise() {
    use groupscale::data::idx;
    // The bomb decodes: a small one is the IDX file it claims to be.
    let honest = gzip_bomb(&idx_header(&[2, 4, 4]), 32);
    assert_eq!(idx::parse(&honest, "t").unwrap().0, vec![2, 4, 4]);
    for (what, bytes, needle) in [
        (
            "truncated header",
            gzip_bomb(&[0, 0, 8, 3, 0, 0], 0),
            "truncated",
        ),
        (
            "promising more than the cap",
            // Just over the 2^30-byte cap, yet no overflow on 32-bit targets.
            gzip_bomb(&idx_header(&[1 << 15, (1 << 15) + 1]), 64),
            "limit",
        ),
        (
            "overflowing dimensions",
            gzip_bomb(&idx_header(&[u32::MAX; 3]), 64),
            "overflow",
        ),
        (
            "truncated data",
            gzip_bomb(&idx_header(&[2, 4, 4]), 20),
            "holds 20 bytes",
        ),
        // 16 bytes promised, 64 MiB present: read no further than 17.
        (
            "longer than promised",
            gzip_bomb(&idx_header(&[1, 4, 4]), 64 << 20),
            "more than 16",
        ),
    ] {
        match idx::parse(&bytes, what) {
            Err(Error::Data(msg)) => assert!(msg.contains(needle), "{what}: `{msg}`"),
            other => panic!("{what}: {:?}", other.map(|(shape, _)| shape)),
        }
    }
}

#[test]
fn gzip_bombs_fail_cleanly_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny::write_tiny(dir.path(), 4);
    let data = dir.path().join("bomb");
    std::fs::create_dir(&data).unwrap();
    // Images: a header promising 4 images of 4×4, then 1 GiB of zeros.
    std::fs::write(
        data.join("t10k-images-idx3-ubyte.gz"),
        gzip_bomb(&idx_header(&[4, 4, 4]), 1 << 30),
    )
    .unwrap();
    std::fs::write(
        data.join("t10k-labels-idx1-ubyte.gz"),
        gzip_bomb(&idx_header(&[4]), 4),
    )
    .unwrap();
    let out = groupscale_small(
        &[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--backend",
            "scalar",
        ],
        &[],
    );
    assert_clean_failure(&out, &["t10k-images", "more than 64"]);
}

/// The npy file the fuzzer found: a version-1 header whose dictionary nests
/// ten braces, and one 8-byte payload.
fn nested_braces_npy() -> Vec<u8> {
    let header = b"{'an_order': {{{{{{{{{{ False, 'shape': (2,), }      \n";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 8]);
    bytes
}
