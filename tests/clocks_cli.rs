//! `groupscale clocks` and `groupscale power` on fake board trees, as a user
//! runs them: restore after `set`, after SIGTERM, dry runs, one-line errors.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::fake_boards::{jetson_nano, odroid_xu3, odroid_xu3_legacy_kernel, Tree};

fn groupscale(tree: &Path, state: &Path, args: &[&str]) -> Command {
    let mut cmd = common::groupscale_command();
    cmd.args(args)
        .arg("--sysfs-root")
        .arg(tree)
        .arg("--state-file")
        .arg(state.join("clocks.json"))
        .env_remove("GROUPSCALE_NVPMODEL");
    cmd
}

fn run(tree: &Tree, state: &Path, args: &[&str]) -> Output {
    groupscale(tree.root(), state, args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_clean_failure(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {} stderr: {stderr}",
        stdout(out)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "`{needle}` not in {stderr}");
}

#[test]
fn show_lists_every_domain_and_says_what_is_absent() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let nvpmodel = nano.path("/usr/sbin/nvpmodel");
    let out = run(
        &nano,
        state.path(),
        &[
            "clocks",
            "show",
            "--nvpmodel-bin",
            nvpmodel.to_str().unwrap(),
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for needle in [
        "JetsonNano",
        "policy0 (CPUs 0-3)",
        "57000000.gpu",
        "nvpmodel: mode 0 (MAXN)",
        "MY_CUSTOM_3W",
    ] {
        assert!(text.contains(needle), "`{needle}` missing:\n{text}");
    }
    let json = run(&nano, state.path(), &["clocks", "show", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["cpufreq"][0]["max_khz"], 1479000);

    // A VM: no cpufreq, no devfreq; said plainly, exit 0.
    let empty = tempfile::tempdir().unwrap();
    let out = groupscale(empty.path(), state.path(), &["clocks", "show"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("cpufreq: absent"), "{}", stdout(&out));
}

#[test]
fn set_keeps_its_changes_until_restore() {
    let xu3 = odroid_xu3();
    let state = tempfile::tempdir().unwrap();
    let before = xu3.snapshot();
    let out = run(
        &xu3,
        state.path(),
        &[
            "clocks",
            "set",
            "--cpu-policy",
            "4",
            "--freq",
            "1000000",
            "--gpu-freq",
            "350000000",
            "--online",
            "0,4-7",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        xu3.read("/sys/devices/system/cpu/cpufreq/policy4/scaling_governor"),
        "userspace"
    );
    assert_eq!(
        xu3.read("/sys/class/devfreq/11800000.gpu/max_freq"),
        "350000000"
    );
    assert_eq!(xu3.read("/sys/devices/system/cpu/cpu1/online"), "0");
    let out = run(&xu3, state.path(), &["clocks", "restore"]);
    assert!(
        stdout(&out).contains("restored 6 change(s)"),
        "{}",
        stdout(&out)
    );
    xu3.assert_unchanged(&before, "clocks restore");
}

#[test]
fn the_jetson_memory_clock_is_pinned_and_restored() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let before = nano.snapshot();
    let out = run(
        &nano,
        state.path(),
        &["clocks", "set", "--emc-freq", "800000000"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        nano.read("/sys/kernel/debug/tegra_bwmgr/emc_max_rate"),
        "800000000"
    );
    assert_eq!(
        nano.read("/sys/kernel/debug/tegra_bwmgr/emc_min_rate"),
        "800000000"
    );
    run(&nano, state.path(), &["clocks", "restore"]);
    nano.assert_unchanged(&before, "EMC restored");
    // Not a Jetson: not supported, in one line.
    let xu3 = odroid_xu3();
    assert_clean_failure(
        &run(
            &xu3,
            state.path(),
            &["clocks", "set", "--emc-freq", "800000000"],
        ),
        "not supported on this platform",
    );
}

#[test]
fn the_legacy_mali_is_locked_in_mhz_and_restored() {
    let xu3 = odroid_xu3_legacy_kernel();
    let state = tempfile::tempdir().unwrap();
    let before = xu3.snapshot();
    let show = stdout(&run(&xu3, state.path(), &["clocks", "show"]));
    assert!(show.contains("Mali (legacy DVFS): 177 MHz"), "{show}");
    assert_clean_failure(
        &run(
            &xu3,
            state.path(),
            &["clocks", "set", "--gpu-freq", "400000000"],
        ),
        "available: 177 266",
    );
    let out = run(
        &xu3,
        state.path(),
        &["clocks", "set", "--gpu-freq", "400000000", "--nearest"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(xu3.read("/sys/devices/11800000.mali/dvfs_min_lock"), "420");
    assert_eq!(xu3.read("/sys/devices/11800000.mali/dvfs_max_lock"), "420");
    run(&xu3, state.path(), &["clocks", "restore"]);
    xu3.assert_unchanged(&before, "Mali locks restored");
}

#[test]
fn dry_run_prints_the_writes_and_makes_none() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let before = nano.snapshot();
    let out = run(
        &nano,
        state.path(),
        &[
            "clocks",
            "set",
            "--cpu-policy",
            "0",
            "--freq",
            "518400",
            "--dry-run",
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("dry run: write \"userspace\"") && text.contains("scaling_setspeed"),
        "{text}"
    );
    nano.assert_unchanged(&before, "a dry run");
    assert!(!state.path().join("clocks.json").exists());
}

#[test]
fn bad_requests_fail_in_one_line_and_change_nothing() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let before = nano.snapshot();
    assert_clean_failure(
        &run(
            &nano,
            state.path(),
            &["clocks", "set", "--cpu-policy", "0", "--freq", "900000"],
        ),
        "available: 102000",
    );
    assert_clean_failure(
        &run(
            &nano,
            state.path(),
            &["clocks", "set", "--cpu-policy", "3", "--freq", "102000"],
        ),
        "not supported on this platform",
    );
    // The GPU change succeeds, then the CPU list fails: all or nothing.
    assert_clean_failure(
        &run(
            &nano,
            state.path(),
            &["clocks", "set", "--gpu-freq", "76800000", "--online", "0,9"],
        ),
        "does not exist",
    );
    nano.assert_unchanged(&before, "failed requests");
    let odroid = odroid_xu3();
    assert_clean_failure(
        &run(
            &odroid,
            state.path(),
            &[
                "clocks",
                "set",
                "--nvpmodel",
                "1",
                "--nvpmodel-bin",
                "/nonexistent/nvpmodel",
            ],
        ),
        "not supported",
    );
}

#[test]
fn sigterm_during_a_hold_restores_the_clocks() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let before = nano.snapshot();
    let mut child = groupscale(
        nano.root(),
        state.path(),
        &[
            "clocks",
            "set",
            "--cpu-policy",
            "0",
            "--freq",
            "614400",
            "--gpu-freq",
            "230400000",
            "--hold-ms",
            "20000",
        ],
    )
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while nano.read("/sys/class/devfreq/57000000.gpu/max_freq") != "230400000" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the settings never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    nano.assert_unchanged(&before, "after SIGTERM");
    assert!(!state.path().join("clocks.json").exists());
}

#[test]
fn permission_denied_names_the_file_and_the_way_out() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // The state file's folder belongs to the user the command runs as, so
    // the refusal comes from the sysfs file, not from recording the change.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(state.path(), Some(65534), Some(65534)).unwrap();
    }
    // Root writes through any file mode, so as root the test gets a real
    // EACCES by running the command as `nobody` (the tree stays root's); as
    // another user, the file is made read-only.
    let mut cmd = groupscale(
        nano.root(),
        state.path(),
        &[
            "clocks",
            "set",
            "--cpu-policy",
            "0",
            "--governor",
            "performance",
        ],
    );
    if unsafe { libc::geteuid() } == 0 {
        // `nobody` may not reach the build folder (a checkout under /root),
        // so it runs a copy in the world-readable state folder.
        let copy = state.path().join("groupscale");
        std::fs::copy(env!("CARGO_BIN_EXE_groupscale"), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        cmd = common::command_for(&copy);
        cmd.args([
            "clocks",
            "set",
            "--cpu-policy",
            "0",
            "--governor",
            "performance",
            "--sysfs-root",
        ])
        .arg(nano.root())
        .arg("--state-file")
        .arg(state.path().join("clocks.json"));
        cmd.uid(65534).gid(65534);
    } else {
        let governor = nano.path("/sys/devices/system/cpu/cpufreq/policy0/scaling_governor");
        std::fs::set_permissions(governor, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let before = nano.snapshot();
    let out = cmd.output().unwrap();
    assert_clean_failure(&out, "permission denied writing");
    assert!(String::from_utf8_lossy(&out.stderr).contains("scaling_governor"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("root"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("could not restore"),
        "nothing to roll back"
    );
    nano.assert_unchanged(&before, "a refused write");
}

#[test]
fn an_unwritable_state_file_stops_before_any_change() {
    let nano = jetson_nano();
    let before = nano.snapshot();
    // A state "file" whose parent is a regular file cannot be created, even by root.
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let out = common::groupscale_command()
        .args([
            "clocks",
            "set",
            "--cpu-policy",
            "0",
            "--governor",
            "performance",
            "--sysfs-root",
        ])
        .arg(nano.root())
        .arg("--state-file")
        .arg(blocker.path().join("clocks.json"))
        .output()
        .unwrap();
    assert_clean_failure(&out, "cannot record clock changes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was changed"));
    nano.assert_unchanged(&before, "an unrecordable change is not made");
}

#[test]
fn power_measures_energy_and_disables_sensors_again() {
    let xu3 = odroid_xu3();
    let state = tempfile::tempdir().unwrap();
    let before = xu3.snapshot();
    let out = run(
        &xu3,
        state.path(),
        &[
            "power",
            "--interval-ms",
            "10",
            "--duration-ms",
            "600",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seconds = report["seconds"].as_f64().unwrap();
    // Sampling is held to the INA231's 263.8 ms update period.
    assert!(report["samples"].as_u64().unwrap() <= 4, "{report}");
    let expected = (3141.593 + 250.0 + 400.0 + 125.0) * seconds;
    assert!(
        (report["total_millijoules"].as_f64().unwrap() - expected).abs() < 1e-3 * expected,
        "{report}"
    );
    xu3.assert_unchanged(&before, "power disables what it enabled");
}
