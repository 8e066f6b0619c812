//! `groupscale profile` and `groupscale run` on a fake Jetson Nano tree:
//! the sweep covers clocks, plots are written, and clocks are restored after
//! a normal exit, after an error and after SIGTERM. A tiny model on 4×4
//! images keeps inference cheap, also under qemu.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::fake_boards::{jetson_nano, Tree};

/// `groupscale ARGS` on the fake tree, with the tiny model and data in `dir`.
fn groupscale(tree: &Tree, state: &Path, args: &[&str]) -> Command {
    let model = common::tiny::write_tiny(state, 6);
    let data_flag = if args[0] == "run" {
        "--input"
    } else {
        "--data"
    };
    let mut cmd = common::groupscale_command();
    cmd.args(args)
        .arg("--model")
        .arg(model)
        .arg(data_flag)
        .arg(state)
        .arg("--sysfs-root")
        .arg(tree.root())
        .arg("--state-file")
        .arg(state.join("clocks.json"))
        .env_remove("GROUPSCALE_NVPMODEL")
        .env_remove("GROUPSCALE_BACKEND");
    cmd
}

fn check(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Profiles the fake board; returns the table.
fn profile(nano: &Tree, dir: &Path) -> serde_json::Value {
    let table = dir.join("profile.json");
    let plots = dir.join("plots");
    let out = groupscale(
        nano,
        dir,
        &[
            "profile",
            "--runs",
            "3",
            "--images",
            "20",
            "--quiet",
            "--output",
            table.to_str().unwrap(),
            "--plots",
            plots.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let text = check(&out);
    assert!(
        text.contains("dynamic range, groups + task mapping + DVFS"),
        "{text}"
    );
    // The fake Nano has INA3221 rails, so energy is measured and plotted.
    assert!(!text.contains("left out: power"), "{text}");
    for plot in [
        "accuracy_vs_latency.svg",
        "accuracy_vs_energy.svg",
        "dynamic_range.svg",
    ] {
        let svg = std::fs::read_to_string(plots.join(plot)).unwrap();
        assert!(svg.contains("<svg"), "{plot}");
        if plot.starts_with("accuracy") {
            assert!(svg.contains("Pareto frontier"), "{plot}");
        }
    }
    serde_json::from_str(&std::fs::read_to_string(table).unwrap()).unwrap()
}

#[test]
fn profile_sweeps_clocks_and_restores_them() {
    let nano = jetson_nano();
    let before = nano.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let table = profile(&nano, dir.path());
    nano.assert_unchanged(&before, "after profile");
    let points = table["points"].as_array().unwrap();
    let with_clocks = points
        .iter()
        .filter(|p| p["point"]["clocks"]["cpu_khz"].is_array())
        .count();
    assert!(with_clocks > 0, "no point with CPU clocks");
    assert!(points
        .iter()
        .any(|p| p["point"]["clocks"]["gpu_hz"].is_u64()));
    // Every k at every placement and setting.
    assert_eq!(points.len() % common::tiny::G, 0);
}

/// `groupscale run` on `table` with a generous budget for `frames` frames.
fn serve(nano: &Tree, dir: &Path, table: &Path, frames: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "run",
        "--profile",
        table.to_str().unwrap(),
        "--budget-ms",
        "1000",
        "--frames",
        frames,
    ];
    args.extend_from_slice(extra);
    groupscale(nano, dir, &args)
}

fn write_table(dir: &Path, table: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("edited.json");
    std::fs::write(&path, table.to_string()).unwrap();
    path
}

#[test]
fn run_restores_clocks_after_a_normal_exit_and_after_an_error() {
    let nano = jetson_nano();
    let before = nano.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut table = profile(&nano, dir.path());
    // Only points with clocks, so that serving must change them.
    table["points"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["point"]["clocks"]["cpu_khz"].is_array());
    let path = write_table(dir.path(), &table);
    let out = serve(&nano, dir.path(), &path, "40", &["--json"])
        .output()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_str(&check(&out)).unwrap();
    assert_eq!(summary["frames"], 40);
    assert_eq!(summary["budget_met"], 40);
    // A fixed budget: after the first frame's choice, frames allocate nothing.
    assert!(
        summary["steady_frames"].as_u64().unwrap() >= 30,
        "{summary}"
    );
    assert_eq!(summary["steady_allocations"], 0, "{summary}");
    nano.assert_unchanged(&before, "after run");

    // A frequency the board does not offer: one line, exit 2, nothing changed.
    for p in table["points"].as_array_mut().unwrap() {
        p["point"]["clocks"]["cpu_khz"][0][1] = 123.into();
    }
    let path = write_table(dir.path(), &table);
    let out = serve(&nano, dir.path(), &path, "40", &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    nano.assert_unchanged(&before, "after an error");
}

#[test]
fn run_restores_clocks_after_sigterm() {
    let nano = jetson_nano();
    let before = nano.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut table = profile(&nano, dir.path());
    // Only the lowest-clock points: the tree must change once serving starts.
    let lowest = table["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["point"]["clocks"]["cpu_khz"][0][1].as_u64())
        .min()
        .unwrap();
    table["points"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["point"]["clocks"]["cpu_khz"][0][1].as_u64() == Some(lowest));
    let path = write_table(dir.path(), &table);
    let max_before = nano.read("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq");
    let mut child = serve(&nano, dir.path(), &path, "100000000", &[])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while nano.read("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq") == max_before
        && nano.read("/sys/devices/system/cpu/cpufreq/policy0/scaling_governor") != "userspace"
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the clocks never changed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    nano.assert_unchanged(&before, "after SIGTERM");
}

#[test]
fn bad_budgets_and_tables_fail_cleanly() {
    let nano = jetson_nano();
    let dir = tempfile::tempdir().unwrap();
    let empty = write_table(
        dir.path(),
        &serde_json::json!({"model": "m", "groups": 4, "points": []}),
    );
    for (args, needle) in [
        (
            vec![
                "run",
                "--budget-ms=-3",
                "--profile",
                empty.to_str().unwrap(),
            ],
            "positive",
        ),
        (
            vec![
                "run",
                "--budget-ms",
                "5",
                "--profile",
                empty.to_str().unwrap(),
            ],
            "no points",
        ),
        (
            vec!["run", "--budget-ms", "5", "--profile", "/nonexistent.json"],
            "nonexistent",
        ),
        (vec!["run", "--profile", empty.to_str().unwrap()], "budget"),
    ] {
        let out = groupscale(&nano, dir.path(), &args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: `{needle}` not in {stderr}"
        );
    }
}
