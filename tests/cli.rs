//! The `groupscale` binary as a user meets it: real .npy files in and out,
//! one-line errors with exit status 2.

mod common;

use std::path::Path;
use std::process::Output;

use npyz::WriterBuilder;

fn groupscale(args: &[&str]) -> Output {
    common::groupscale_command()
        .args(args)
        .env_remove("GROUPSCALE_BACKEND")
        .env_remove("GROUPSCALE_STRICT")
        .output()
        .expect("the binary runs")
}

fn write_npy(path: &Path, shape: &[u64], data: &[f32]) {
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::fs::File::create(path).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    (npy.shape().to_vec(), npy.into_vec().unwrap())
}

/// Exit status 2 and exactly one line on stderr naming the problem.
fn assert_clean_failure(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "more than one line: {stderr}"
    );
    assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

struct ConvFiles {
    dir: tempfile::TempDir,
}

impl ConvFiles {
    /// Input [1, 2, 5, 5] for k = 1 of an isolated 4→4 layer with G = 2.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let x: Vec<f32> = (0..50).map(|i| i as f32 / 10.0 - 2.0).collect();
        write_npy(&dir.path().join("x.npy"), &[1, 2, 5, 5], &x);
        let w: Vec<f32> = (0..72).map(|i| (i % 7) as f32 / 7.0 - 0.4).collect();
        write_npy(&dir.path().join("w.npy"), &[4, 2, 3, 3], &w);
        write_npy(&dir.path().join("b.npy"), &[4], &[0.1, -0.2, 0.3, 0.0]);
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "conv",
            "--input",
            &self.path("x.npy"),
            "--weight",
            &self.path("w.npy"),
            "--bias",
            &self.path("b.npy"),
            "--in-channels",
            "4",
            "--out-channels",
            "4",
            "--kernel",
            "3,3",
            "--groups",
            "2",
            "--active",
            "1",
            "--connectivity",
            "isolated",
            "--padding",
            "1",
            "--relu",
            "--output",
            &self.path("y.npy"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn run(&self, extra: &[&str]) -> Output {
        let args = self.args(extra);
        groupscale(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

#[test]
fn conv_writes_the_same_result_on_every_backend() {
    let files = ConvFiles::new();
    let mut results = Vec::new();
    for backend in ["scalar", "cpu"] {
        let out = files.run(&["--backend", backend]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (shape, y) = read_npy(&files.dir.path().join("y.npy"));
        assert_eq!(shape, vec![1, 2, 5, 5]);
        assert!(y.iter().all(|v| *v >= 0.0), "ReLU applied");
        results.push(y);
    }
    for (a, b) in results[0].iter().zip(&results[1]) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn bad_conv_arguments_fail_cleanly() {
    let files = ConvFiles::new();
    assert_clean_failure(&files.run(&["--groups", "3"]), "does not divide");
    assert_clean_failure(&files.run(&["--active", "0"]), "out of range");
    assert_clean_failure(&files.run(&["--active", "3"]), "out of range");
    assert_clean_failure(
        &files.run(&["--out-channels", "8"]),
        "expected 144 elements, got 72",
    );
    assert_clean_failure(&files.run(&["--backend", "cuda"]), "unavailable");
    assert_clean_failure(&files.run(&["--backend", "tpu"]), "unknown backend");
    assert_clean_failure(&files.run(&["--kernel", "3,x"]), "--kernel");

    let missing = groupscale(
        &files
            .args(&[])
            .iter()
            .map(|a| a.replace("x.npy", "nope.npy"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_clean_failure(&missing, "cannot read");

    // Truncated file, and a float64 file.
    let x = std::fs::read(files.dir.path().join("x.npy")).unwrap();
    std::fs::write(files.dir.path().join("x.npy"), &x[..x.len() - 8]).unwrap();
    assert_clean_failure(&files.run(&[]), "x.npy");
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[1, 2, 5, 5])
        .writer(std::fs::File::create(files.dir.path().join("x.npy")).unwrap())
        .begin_nd()
        .unwrap();
    w.extend((0..50).map(|i| i as f64)).unwrap();
    w.finish().unwrap();
    assert_clean_failure(&files.run(&[]), "float32");
}

#[test]
fn selftest_passes_and_reports_skips() {
    let out = groupscale(&["selftest", "--random", "8"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("cpu/"), "{stdout}");
    // Every backend gets a line: its results where it ran, or why not. CUDA
    // runs on a machine with a GPU (or the emulator), and is skipped
    // elsewhere; either way it must say which.
    for backend in ["cuda", "wgpu"] {
        let line = stdout
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.starts_with(backend))
            })
            .unwrap_or_else(|| panic!("no line for {backend}: {stdout}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let skipped = words.get(1) == Some(&"skipped:") && words.len() > 2;
        let ran =
            words.len() == 4 && words[2] == "0" && words[1].parse::<usize>().is_ok_and(|n| n > 0);
        assert!(
            skipped || ran,
            "{backend} neither ran cleanly nor said why it was skipped: {line}"
        );
    }
}

#[test]
fn forced_backends_are_strict_when_asked() {
    // A backend that cannot run here: NEON on x86; on ARM, CUDA (the ARM
    // suites build without it). Not CUDA on x86, where the emulator or a
    // GPU may provide it.
    let missing = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "cuda"
    };
    assert_clean_failure(
        &groupscale(&["selftest", "--backend", missing]),
        "unavailable",
    );
    let out = common::groupscale_command()
        .arg("info")
        .env("GROUPSCALE_BACKEND", missing)
        .env("GROUPSCALE_STRICT", "1")
        .output()
        .unwrap();
    assert_clean_failure(&out, missing);
    let relaxed = common::groupscale_command()
        .arg("info")
        .env("GROUPSCALE_BACKEND", missing)
        .env_remove("GROUPSCALE_STRICT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&relaxed.stdout);
    assert!(
        relaxed.status.success() && stdout.contains("fell back"),
        "{stdout}"
    );
}

#[test]
fn bench_prints_every_layer_and_k() {
    let out = groupscale(&["bench", "--json", "--time-ms", "5", "--threads", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "5 layers × 4 k");
    assert!(rows.iter().all(|r| r["gflops"].as_f64().unwrap() > 0.0));
    assert_clean_failure(&groupscale(&["bench", "--batch", "0"]), "batch");
    assert_clean_failure(
        &groupscale(&["bench", "--backend", "scalar", "--threads", "2"]),
        "cpu backend",
    );
}

#[test]
fn cpu_isa_overrides_are_honoured_or_refused() {
    let run = |isa: &str, strict: bool| {
        let mut cmd = common::groupscale_command();
        cmd.args([
            "bench",
            "--backend",
            "cpu",
            "--layers",
            "L5",
            "--time-ms",
            "1",
        ])
        .env("GROUPSCALE_CPU_ISA", isa)
        .env_remove("GROUPSCALE_BACKEND");
        if strict {
            cmd.env("GROUPSCALE_STRICT", "1");
        } else {
            cmd.env_remove("GROUPSCALE_STRICT");
        }
        cmd.output().unwrap()
    };
    // A malformed value is never what the user meant: refused, strict or not.
    assert_clean_failure(&run("sse9", false), "GROUPSCALE_CPU_ISA");
    // The portable kernels run everywhere, and the report says which ran.
    let out = run("portable", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("portable kernels"));
}

#[test]
fn conv_algorithm_overrides_are_honoured_or_refused() {
    let run = |algo: &str, layers: &str, strict: bool| {
        let mut cmd = common::groupscale_command();
        cmd.args([
            "bench",
            "--backend",
            "cpu",
            "--layers",
            layers,
            "--k",
            "1",
            "--time-ms",
            "1",
        ])
        .env("GROUPSCALE_CONV_ALGO", algo)
        .env_remove("GROUPSCALE_BACKEND");
        if strict {
            cmd.env("GROUPSCALE_STRICT", "1");
        } else {
            cmd.env_remove("GROUPSCALE_STRICT");
        }
        cmd.output().unwrap()
    };
    assert_clean_failure(&run("fft", "L5", false), "GROUPSCALE_CONV_ALGO");
    // Forced F(4×4) on a 5×5 layer: direct instead, or refused when strict.
    let out = run("winograd-f4", "L1", false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("winograd-f4 convolutions"));
    assert_clean_failure(&run("winograd-f4", "L1", true), "3×3");
    // F(2×2, 5×5) computes it, strict or not.
    for algo in ["winograd", "winograd-f2"] {
        let out = run(algo, "L1", true);
        assert!(
            out.status.success(),
            "{algo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for algo in ["direct", "winograd-f2", "winograd-f4", "auto"] {
        let out = run(algo, "L5", true);
        assert!(
            out.status.success(),
            "{algo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn eval_prints_every_k_and_the_memory_comparison() {
    let out = groupscale(&[
        "eval",
        "--limit",
        "12",
        "--batch",
        "6",
        "--latency-runs",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"], 12);
    let rows = report["backends"][0]["rows"].as_array().unwrap();
    // The default model is the nested one, G = 8.
    assert_eq!(report["groups"], 8);
    assert_eq!(rows.len(), 8);
    let bytes: Vec<u64> = rows
        .iter()
        .map(|r| r["weight_bytes"].as_u64().unwrap())
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert_eq!(report["dynamic_weight_bytes"].as_u64(), Some(bytes[7]));
    assert_eq!(
        report["static_models_weight_bytes"].as_u64(),
        Some(bytes.iter().sum())
    );
    let table = groupscale(&[
        "eval",
        "--model",
        "builtin:isolated",
        "--limit",
        "4",
        "--latency-runs",
        "1",
    ]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("groupalexnet-isolated"), "{text}");
    assert!(text.contains("static models"), "{text}");
}

/// `--latency-batch` times whole batches (for throughput comparisons with
/// peers), and refuses a batch larger than the data with one clear line.
#[test]
fn eval_times_a_latency_batch() {
    let out = groupscale(&[
        "eval",
        "--backend",
        "cpu",
        "--limit",
        "8",
        "--latency-batch",
        "8",
        "--latency-runs",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("median of 2 batch-8 runs"), "{text}");
    assert_clean_failure(
        &groupscale(&[
            "eval",
            "--backend",
            "cpu",
            "--limit",
            "8",
            "--latency-batch",
            "9",
        ]),
        "a latency batch of 9 needs at least that many images",
    );
}

#[test]
fn classify_names_a_class_for_each_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trouser.png");
    // A bright vertical bar on black, 28×28 like Fashion-MNIST.
    image::GrayImage::from_fn(28, 28, |x, _| {
        image::Luma([if (10..18).contains(&x) { 220 } else { 0 }])
    })
    .save(&path)
    .unwrap();
    let out = groupscale(&["classify", "--groups", "2", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(path.to_str().unwrap()) && text.contains('%'),
        "{text}"
    );
}

#[test]
fn bad_model_and_data_arguments_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x10\0\0\0\0\0\0\0{not json").unwrap();
    assert_clean_failure(
        &groupscale(&["eval", "--model", junk.to_str().unwrap()]),
        "model file",
    );
    assert_clean_failure(
        &groupscale(&["eval", "--model", "builtin:huge"]),
        "no built-in model",
    );
    assert_clean_failure(&groupscale(&["eval", "--data", "/nonexistent"]), "neither");
    assert_clean_failure(
        &groupscale(&["classify", "--groups", "9", "x.png"]),
        "k = 9",
    );
    assert_clean_failure(
        &groupscale(&["classify", junk.to_str().unwrap()]),
        "junk.safetensors",
    );
}

/// A first run in a container (no XDG_RUNTIME_DIR) prints no `error:` line:
/// Mesa's Vulkan driver complains without that variable, so the binary
/// points it at a private directory before probing; and `--backend cpu`
/// probes no GPU driver at all.
#[test]
fn a_first_run_without_xdg_runtime_dir_prints_no_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["info"][..],
        &[
            "bench",
            "--backend",
            "cpu",
            "--k",
            "1",
            "--runs",
            "1",
            "--layers",
            "L1",
        ][..],
    ] {
        let out = common::groupscale_command()
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(
            !stderr.lines().any(|l| l.to_lowercase().contains("error")),
            "{args:?} printed: {stderr}"
        );
    }
}
