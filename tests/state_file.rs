//! The clock state file is data, never a capability: what a planted or
//! careless state file can make `groupscale` (often run as root) do.
//! Each test here failed on the design before the state-file hardening.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::fake_boards::{jetson_nano, odroid_xu3, Tree};
use groupscale::manager::{ClockControl, Clocks};
use groupscale::platform::{
    cpufreq, restore_state_file, ClockGuard, GuardOptions, PlatformError, Snap, Sysfs, Tools,
};

const POLICY0: &str = "/sys/devices/system/cpu/cpufreq/policy0";

fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn options(state: &Path) -> GuardOptions {
    GuardOptions {
        state_file: Some(state.join("clocks.json")),
        ..GuardOptions::none()
    }
}

/// Writes a state file as an attacker or an older version would.
fn plant(state: &Path, json: &str) -> PathBuf {
    let path = state.join("clocks.json");
    std::fs::write(&path, json).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn file_entry(path: &str, previous: &str) -> String {
    let previous = serde_json::to_string(previous).unwrap();
    format!(
        r#"{{"version": 2, "changes": [{{"kind": "file", "path": "{path}", "previous": {previous}}}]}}"#
    )
}

fn cli(tree: &Tree, state: &Path, args: &[&str]) -> Output {
    common::groupscale_command()
        .args(args)
        .arg("--sysfs-root")
        .arg(tree.root())
        .arg("--state-file")
        .arg(state.join("clocks.json"))
        .env_remove("GROUPSCALE_NVPMODEL")
        .env_remove("GROUPSCALE_JETSON_CLOCKS")
        .output()
        .unwrap()
}

fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in {stderr}");
    }
}

/// A file outside the tree that a restore must never write.
fn victim() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("victim");
    std::fs::write(&path, "untouched").unwrap();
    (dir, path)
}

#[test]
fn entries_outside_the_sysfs_root_are_refused_and_nothing_is_written() {
    let nano = jetson_nano();
    let (_keep, victim) = victim();
    let escape_by_dots = format!(
        "/sys/{}{}",
        "../".repeat(nano.root().components().count() + 4),
        victim.display().to_string().trim_start_matches('/')
    );
    let cases = [
        // A path the invocation's root is not applied to, as before.
        (victim.display().to_string(), "not under /sys"),
        (escape_by_dots, "without `.` or `..`"),
        // A file under /sys that groupscale never writes (root's uevent
        // helper runs whatever program it names).
        ("/sys/kernel/uevent_helper".into(), "not a clock"),
    ];
    for (path, why) in cases {
        let state = state_dir();
        let before = nano.snapshot();
        // Also a legitimate entry first: the refusal must come before it too.
        plant(
            state.path(),
            &format!(
                r#"{{"version": 2, "changes": [
                    {{"kind": "file", "path": "{POLICY0}/scaling_max_freq", "previous": "1\n"}},
                    {{"kind": "file", "path": "{path}", "previous": "owned"}}]}}"#
            ),
        );
        let out = cli(&nano, state.path(), &["clocks", "restore"]);
        assert_clean_failure(&out, &["refusing to write", why]);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        nano.assert_unchanged(&before, "a refused state file writes nothing");
        let err = ClockGuard::new(Sysfs::new(nano.root()), options(state.path()))
            .err()
            .expect("a guard refuses to adopt it");
        assert!(matches!(err, PlatformError::RefusedEntry { .. }), "{err}");
        assert!(
            state.path().join("clocks.json").exists(),
            "kept for inspection"
        );
    }
}

#[test]
fn a_symlink_out_of_the_tree_is_refused() {
    let xu3 = odroid_xu3();
    let (_keep, victim) = victim();
    let link = xu3.path(&format!("{POLICY0}/scaling_max_freq"));
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let state = state_dir();
    plant(
        state.path(),
        &file_entry(&format!("{POLICY0}/scaling_max_freq"), "owned"),
    );
    let out = cli(&xu3, state.path(), &["clocks", "restore"]);
    assert_clean_failure(&out, &["symlinks lead out of /sys"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
}

#[test]
fn a_state_file_never_names_a_program_to_run() {
    let nano = jetson_nano();
    let state = state_dir();
    let marker = state.path().join("ran");
    let evil = nano.script("/tmp/evil", &format!("touch {}\n", marker.display()));
    // The format before hardening: tools named by the file.
    for entry in [
        format!(
            r#"{{"kind": "nvpmodel", "binary": "{}", "config": null, "previous": 0}}"#,
            evil.display()
        ),
        format!(
            r#"{{"kind": "jetson_clocks", "binary": "{}", "store": "/x"}}"#,
            evil.display()
        ),
    ] {
        for version in ["", r#""version": 2, "#] {
            plant(
                state.path(),
                &format!(r#"{{{version}"changes": [{entry}]}}"#),
            );
            let out = cli(&nano, state.path(), &["clocks", "restore"]);
            assert_clean_failure(&out, &["cannot use the clock state file", "--discard"]);
            assert!(!marker.exists(), "the state file's program ran");
        }
    }
    // A mode change is undone by the nvpmodel this invocation names.
    nano.raw("/var/lib/nvpmodel/status", b"pmode:0001");
    plant(
        state.path(),
        r#"{"version": 2, "changes": [{"kind": "nvpmodel", "previous": 0}]}"#,
    );
    let out = cli(&nano, state.path(), &["clocks", "restore"]);
    assert_clean_failure(&out, &["nvpmodel", "none is configured"]);
    let nvpmodel = nano.path("/usr/sbin/nvpmodel");
    let out = cli(
        &nano,
        state.path(),
        &[
            "clocks",
            "restore",
            "--nvpmodel-bin",
            nvpmodel.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(nano.read("/var/lib/nvpmodel/status"), "pmode:0000");
}

#[test]
fn a_state_file_others_could_have_written_is_refused() {
    let nano = jetson_nano();
    let entry = file_entry(&format!("{POLICY0}/scaling_max_freq"), "1\n");
    let before = nano.snapshot();

    let state = state_dir();
    let path = plant(state.path(), &entry);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_clean_failure(
        &cli(&nano, state.path(), &["clocks", "restore"]),
        &[
            "refusing the clock state file",
            "writable by other users",
            "--discard",
        ],
    );

    let state = state_dir();
    let elsewhere = state_dir();
    let real = plant(elsewhere.path(), &entry);
    std::os::unix::fs::symlink(&real, state.path().join("clocks.json")).unwrap();
    assert_clean_failure(
        &cli(&nano, state.path(), &["clocks", "restore"]),
        &["symbolic link"],
    );

    let state = state_dir();
    plant(state.path(), &entry);
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_clean_failure(
        &cli(&nano, state.path(), &["clocks", "restore"]),
        &["writable by other users"],
    );
    // Making changes is refused there too: nothing may be recorded where
    // someone else could rewrite it.
    assert_clean_failure(
        &cli(
            &nano,
            state.path(),
            &[
                "clocks",
                "set",
                "--cpu-policy",
                "0",
                "--governor",
                "performance",
            ],
        ),
        &["writable by other users"],
    );

    if unsafe { libc::geteuid() } == 0 {
        let state = state_dir();
        let path = plant(state.path(), &entry);
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        assert_clean_failure(
            &cli(&nano, state.path(), &["clocks", "restore"]),
            &["belongs to user 65534"],
        );
    } else {
        eprintln!("skipped: the foreign-owner case needs root to chown");
    }
    nano.assert_unchanged(&before, "refused state files");
}

#[test]
fn discard_prints_what_the_file_held_and_drops_it() {
    let nano = jetson_nano();
    let state = state_dir();
    let path = plant(state.path(), "{ not json \u{1b}[2J");
    assert_clean_failure(
        &cli(
            &nano,
            state.path(),
            &[
                "clocks",
                "set",
                "--cpu-policy",
                "0",
                "--governor",
                "performance",
            ],
        ),
        &["cannot use the clock state file", "--discard"],
    );
    let out = cli(&nano, state.path(), &["clocks", "restore", "--discard"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("not json") && text.contains("discarded"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "control characters are escaped: {text:?}"
    );
    assert!(!path.exists());
    let out = cli(
        &nano,
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cli(&nano, state.path(), &["clocks", "restore"]);
}

#[test]
fn two_guards_never_share_a_state_file() {
    let xu3 = odroid_xu3();
    let state = state_dir();
    let sysfs = Sysfs::new(xu3.root());
    let before = xu3.snapshot();
    let mut first = ClockGuard::new(sysfs.clone(), options(state.path())).unwrap();
    let policy = cpufreq::policy(&sysfs, 4).unwrap();
    cpufreq::set_frequency(&mut first, &sysfs, &policy, 1_000_000, Snap::Exact).unwrap();
    let second = ClockGuard::new(sysfs.clone(), options(state.path()));
    assert!(
        matches!(second, Err(PlatformError::Busy { .. })),
        "a second guard adopted live changes"
    );
    let out = cli(&xu3, state.path(), &["clocks", "restore"]);
    assert_clean_failure(&out, &["another groupscale process"]);
    assert_ne!(xu3.snapshot(), before, "the first guard's change stands");
    drop(first);
    xu3.assert_unchanged(&before, "the first guard restored its own change");
    ClockGuard::new(sysfs, options(state.path())).expect("free again");
}

#[test]
fn the_state_file_is_private_and_replaced_whole() {
    let xu3 = odroid_xu3();
    let state = state_dir();
    let sysfs = Sysfs::new(xu3.root());
    let mut guard = ClockGuard::new(sysfs.clone(), options(state.path())).unwrap();
    let policy = cpufreq::policy(&sysfs, 4).unwrap();
    cpufreq::set_frequency(&mut guard, &sysfs, &policy, 1_000_000, Snap::Exact).unwrap();
    let path = state.path().join("clocks.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let names: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "clocks.json" || n == "clocks.lock"),
        "temporary files left behind: {names:?}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"/sys/devices/system/cpu/cpufreq/policy4/"),
        "system paths: {text}"
    );
    assert!(
        !text.contains(&*xu3.root().to_string_lossy()),
        "no root in {text}"
    );
}

#[test]
fn restore_puts_back_from_the_invocations_root() {
    // The file holds system paths: a restore under another root (a chroot,
    // a copy of the tree) writes there, never to the recording one.
    let xu3 = odroid_xu3();
    let copy = odroid_xu3();
    let state = state_dir();
    let before = copy.snapshot();
    plant(
        state.path(),
        &file_entry(&format!("{POLICY0}/scaling_governor"), "userspace\n"),
    );
    let restored = restore_state_file(
        &Sysfs::new(copy.root()),
        &state.path().join("clocks.json"),
        &Tools::default(),
    )
    .unwrap();
    assert_eq!(restored, 1);
    assert_eq!(
        copy.read(&format!("{POLICY0}/scaling_governor")).trim_end(),
        "userspace"
    );
    assert_ne!(copy.snapshot(), before);
    drop(xu3);
}

#[test]
fn returning_to_clocks_as_found_restores_the_recorded_values() {
    for (tree, pin) in [
        (
            jetson_nano(),
            Clocks {
                cpu_khz: vec![(0, 614_400)],
                gpu_hz: Some(230_400_000),
                ..Clocks::default()
            },
        ),
        (
            odroid_xu3(),
            Clocks {
                cpu_khz: vec![(0, 1_000_000), (4, 1_200_000)],
                ..Clocks::default()
            },
        ),
    ] {
        let state = state_dir();
        let before = tree.snapshot();
        let mut control =
            ClockControl::new(Sysfs::new(tree.root()), options(state.path()), None).unwrap();
        control.apply(&pin).unwrap();
        assert_ne!(tree.snapshot(), before);
        control.apply(&Clocks::default()).unwrap();
        tree.assert_unchanged(&before, "back at the clocks as found");
        assert!(control.applied().is_default());
        // A partial release: only what is still pinned stays changed.
        control.apply(&pin).unwrap();
        let first_cpu = Clocks {
            cpu_khz: pin.cpu_khz[..1].to_vec(),
            ..Clocks::default()
        };
        control.apply(&first_cpu).unwrap();
        let mut only_first =
            ClockControl::new(Sysfs::new(tree.root()), GuardOptions::none(), None).unwrap();
        drop(control);
        tree.assert_unchanged(&before, "dropping restores everything");
        only_first.apply(&first_cpu).unwrap();
        let expected = tree.snapshot();
        drop(only_first);
        let mut control =
            ClockControl::new(Sysfs::new(tree.root()), options(state.path()), None).unwrap();
        control.apply(&pin).unwrap();
        control.apply(&first_cpu).unwrap();
        assert_eq!(
            tree.snapshot(),
            expected,
            "the released pins went back, the rest stayed"
        );
    }
}
