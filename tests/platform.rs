//! Platform control on fake Jetson Nano, Odroid XU3 and laptop trees: every
//! scenario, including an error midway and a panic, leaves every file
//! byte-identical; writes are ordered; frequencies snap or are refused;
//! sensors parse; energy integrates.

mod common;

use std::path::PathBuf;

use common::fake_boards::{jetson_nano, laptop, odroid_xu3, Tree, NANO_CPU_TABLE};
use groupscale::platform::energy::{integrate, report, Sample};
use groupscale::platform::nvpmodel::{jetson_clocks, parse_conf, Nvpmodel};
use groupscale::platform::{cpufreq, devfreq, hotplug, power, restore_state_file};
use groupscale::platform::{
    Board, ClockGuard, GuardOptions, Platform, PlatformError, Snap, Sysfs, Tools,
};

fn guard(tree: &Tree, state: &tempfile::TempDir) -> ClockGuard {
    ClockGuard::new(
        Sysfs::new(tree.root()),
        GuardOptions {
            dry_run: false,
            state_file: Some(state_file(state)),
            ..GuardOptions::none()
        },
    )
    .unwrap()
}

fn state_file(state: &tempfile::TempDir) -> PathBuf {
    state.path().join("clocks.json")
}

const POLICY0: &str = "/sys/devices/system/cpu/cpufreq/policy0";

#[test]
fn boards_are_recognised_from_the_device_tree() {
    let cases = [
        (jetson_nano(), Board::JetsonNano),
        (odroid_xu3(), Board::OdroidXu3),
        (laptop(), Board::Generic),
    ];
    for (tree, board) in cases {
        let platform = Platform::detect(Sysfs::new(tree.root()));
        assert_eq!(platform.board, board);
    }
    let nano = Platform::detect(Sysfs::new(jetson_nano().root()));
    assert_eq!(
        nano.model.as_deref(),
        Some("NVIDIA Jetson Nano Developer Kit")
    );
}

#[test]
fn policies_and_devices_are_read() {
    let xu3 = odroid_xu3();
    let sysfs = Sysfs::new(xu3.root());
    let policies = cpufreq::policies(&sysfs).unwrap();
    assert_eq!(
        policies.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![0, 4]
    );
    assert_eq!(policies[1].cpus, vec![4, 5, 6, 7]);
    assert_eq!(policies[1].max_khz, 2_000_000);
    let gpu = devfreq::gpu(&sysfs).unwrap();
    assert_eq!(gpu.name, "11800000.gpu");
    assert_eq!(gpu.frequencies.len(), 6);
    // A laptop: no table, no GPU devfreq.
    let pc = laptop();
    let sysfs = Sysfs::new(pc.root());
    assert!(cpufreq::policies(&sysfs).unwrap()[0].frequencies.is_empty());
    assert!(matches!(
        devfreq::gpu(&sysfs),
        Err(PlatformError::NotSupported { .. })
    ));
    // No cpufreq at all (a VM): empty, not an error.
    let empty = tempfile::tempdir().unwrap();
    assert!(cpufreq::policies(&Sysfs::new(empty.path()))
        .unwrap()
        .is_empty());
}

#[test]
fn every_scenario_restores_every_file_byte_for_byte() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let before = nano.snapshot();
    {
        let sysfs = Sysfs::new(nano.root());
        let mut g = guard(&nano, &state);
        let policy = cpufreq::policy(&sysfs, 0).unwrap();
        cpufreq::set_frequency(&mut g, &sysfs, &policy, 921600, Snap::Exact).unwrap();
        cpufreq::set_governor(&mut g, &cpufreq::policy(&sysfs, 0).unwrap(), "performance").unwrap();
        let gpu = devfreq::gpu(&sysfs).unwrap();
        devfreq::set_frequency(&mut g, &sysfs, &gpu, 460_800_000, Snap::Exact).unwrap();
        hotplug::set_online(&mut g, &sysfs, &[0, 1]).unwrap();
        let nvp = Nvpmodel::find(Some(&nano.path("/usr/sbin/nvpmodel"))).unwrap();
        nvp.set(&mut g, &sysfs, 1).unwrap();
        assert_eq!(nano.read("/var/lib/nvpmodel/status"), "pmode:0001");
        jetson_clocks(&mut g, &nano.path("/usr/bin/jetson_clocks")).unwrap();
        assert_eq!(
            nano.read(&format!("{POLICY0}/scaling_min_freq")),
            nano.read(&format!("{POLICY0}/scaling_max_freq"))
        );
        assert_ne!(nano.snapshot(), before, "the scenario changed something");
        assert!(
            state_file(&state).exists(),
            "changes are recorded before they are made"
        );
    }
    nano.assert_unchanged(&before, "dropping the guard restores everything");
    assert!(
        !state_file(&state).exists(),
        "a full restore removes the state file"
    );
}

#[test]
fn an_error_midway_leaves_nothing_half_applied() {
    let xu3 = odroid_xu3();
    let state = tempfile::tempdir().unwrap();
    let before = xu3.snapshot();
    let sysfs = Sysfs::new(xu3.root());
    let mut g = guard(&xu3, &state);
    let policy = cpufreq::policy(&sysfs, 0).unwrap();
    // Lowering writes min first, then max; make max unwritable by turning
    // it into a directory, so the second write fails after the first.
    let max = xu3.path(&format!("{POLICY0}/scaling_max_freq"));
    std::fs::remove_file(&max).unwrap();
    std::fs::create_dir(&max).unwrap();
    let err = cpufreq::set_frequency(&mut g, &sysfs, &policy, 800000, Snap::Exact).unwrap_err();
    assert!(matches!(err, PlatformError::Io { .. }), "{err}");
    std::fs::remove_dir(&max).unwrap();
    std::fs::write(&max, "1400000\n").unwrap();
    xu3.assert_unchanged(
        &before,
        "the min written before the failure was rolled back",
    );
    assert!(g.changes().is_empty());
}

#[test]
fn a_panic_restores_while_unwinding() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let before = nano.snapshot();
    let result = std::panic::catch_unwind(|| {
        let sysfs = Sysfs::new(nano.root());
        let mut g = guard(&nano, &state);
        let policy = cpufreq::policy(&sysfs, 0).unwrap();
        cpufreq::set_frequency(&mut g, &sysfs, &policy, 518400, Snap::Exact).unwrap();
        panic!("a caller's bug while clocks are changed");
    });
    assert!(result.is_err());
    nano.assert_unchanged(&before, "unwinding restores");
}

#[test]
fn a_crash_is_undone_from_the_state_file() {
    let xu3 = odroid_xu3();
    let state = tempfile::tempdir().unwrap();
    let before = xu3.snapshot();
    let sysfs = Sysfs::new(xu3.root());
    let mut g = guard(&xu3, &state);
    let big = cpufreq::policy(&sysfs, 4).unwrap();
    cpufreq::set_frequency(&mut g, &sysfs, &big, 1_000_000, Snap::Exact).unwrap();
    // A crash: no restore; the state file stays, and the lock goes with
    // the process.
    g.keep();
    assert_ne!(xu3.snapshot(), before);

    // A later guard adopts the pending changes; its own come on top.
    let mut g = guard(&xu3, &state);
    let little = cpufreq::policy(&sysfs, 0).unwrap();
    cpufreq::set_frequency(&mut g, &sysfs, &little, 600_000, Snap::Exact).unwrap();
    g.keep();

    // The A15's governor (its setspeed is the governor's), the A7's min and max.
    assert_eq!(
        restore_state_file(&sysfs, &state_file(&state), &Tools::default()).unwrap(),
        3
    );
    xu3.assert_unchanged(&before, "the state file undoes both runs");
    assert_eq!(
        restore_state_file(&sysfs, &state_file(&state), &Tools::default()).unwrap(),
        0,
        "nothing left to undo"
    );
}

#[test]
fn min_and_max_are_written_in_an_order_the_kernel_accepts() {
    // Models older kernels (3.x/4.x), which reject with EINVAL a min above
    // the current max or a max below the current min: the dry run lists the
    // writes in the order they would be made.
    let xu3 = odroid_xu3();
    let before = xu3.snapshot();
    let sysfs = Sysfs::new(xu3.root());
    let dry = || {
        ClockGuard::new(
            sysfs.clone(),
            GuardOptions {
                dry_run: true,
                ..GuardOptions::none()
            },
        )
        .unwrap()
    };
    let little = cpufreq::policy(&sysfs, 0).unwrap(); // no userspace governor: min = max pinning
    let mut g = dry();
    cpufreq::set_frequency(&mut g, &sysfs, &little, 600_000, Snap::Exact).unwrap();
    assert!(
        g.planned()[0].contains("scaling_min_freq") && g.planned()[1].contains("scaling_max_freq"),
        "lowering: {:?}",
        g.planned()
    );

    // Raising above the current max: max first.
    let capped = cpufreq::CpuPolicy {
        max_khz: 800_000,
        ..little
    };
    let mut g = dry();
    cpufreq::set_frequency(&mut g, &sysfs, &capped, 1_200_000, Snap::Exact).unwrap();
    assert!(
        g.planned()[0].contains("scaling_max_freq") && g.planned()[1].contains("scaling_min_freq"),
        "raising: {:?}",
        g.planned()
    );

    // With the userspace governor: widen the limit, switch governor, set speed.
    let big = cpufreq::CpuPolicy {
        max_khz: 1_000_000,
        ..cpufreq::policy(&sysfs, 4).unwrap()
    };
    let mut g = dry();
    cpufreq::set_frequency(&mut g, &sysfs, &big, 1_800_000, Snap::Exact).unwrap();
    let order: Vec<&str> = g
        .planned()
        .iter()
        .map(|l| l.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        order,
        ["scaling_max_freq", "scaling_governor", "scaling_setspeed"]
    );
    assert!(g.planned()[1].contains("\"userspace\""));
    xu3.assert_unchanged(&before, "a dry run writes nothing");
}

#[test]
fn frequencies_snap_or_are_refused_and_are_read_back() {
    let nano = jetson_nano();
    let state = tempfile::tempdir().unwrap();
    let sysfs = Sysfs::new(nano.root());
    let policy = cpufreq::policy(&sysfs, 0).unwrap();
    let mut g = guard(&nano, &state);
    match cpufreq::set_frequency(&mut g, &sysfs, &policy, 900_000, Snap::Exact) {
        Err(PlatformError::UnsupportedFrequency { available, .. }) => {
            assert!(
                available.contains("921600") && available.contains("825600"),
                "{available}"
            );
        }
        other => panic!("expected a refusal listing the table, got {other:?}"),
    }
    assert!(
        g.changes().is_empty(),
        "a refused frequency changes nothing"
    );
    // The kernel updates scaling_cur_freq after a setspeed write; the test
    // plays the kernel by setting it, and set_frequency must report it.
    nano.file(&format!("{POLICY0}/scaling_cur_freq"), "921600");
    let now = cpufreq::set_frequency(&mut g, &sysfs, &policy, 900_000, Snap::Nearest).unwrap();
    assert_eq!(now, 921600);
    assert_eq!(nano.read(&format!("{POLICY0}/scaling_setspeed")), "921600");
    assert_eq!(
        nano.read(&format!("{POLICY0}/scaling_governor")),
        "userspace"
    );
    assert!(NANO_CPU_TABLE.contains(&now));
    // A governor that does not exist lists those that do.
    let err = cpufreq::set_governor(&mut g, &policy, "turbo").unwrap_err();
    assert!(err.to_string().contains("schedutil"), "{err}");
}

#[test]
fn sensors_parse_in_their_units() {
    let nano = jetson_nano();
    let sysfs = Sysfs::new(nano.root());
    let rails = power::rails(&sysfs);
    let names: Vec<&str> = rails.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]);
    assert_eq!(
        rails[0].read_mw(&sysfs).unwrap(),
        3120.0,
        "INA3221 reports mW"
    );
    assert!(rails[0].is_total && !rails[1].is_total);

    let xu3 = odroid_xu3();
    let sysfs = Sysfs::new(xu3.root());
    let rails = power::rails(&sysfs);
    let names: Vec<&str> = rails.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["A15", "memory", "GPU", "A7"]);
    assert!(
        (rails[0].read_mw(&sysfs).unwrap() - 3141.593).abs() < 1e-6,
        "INA231 reports watts as text"
    );
    assert_eq!(
        rails[0].update_period,
        Some(std::time::Duration::from_micros(263808))
    );
    // INA231 starts disabled: enabling goes through the guard and is undone.
    let state = tempfile::tempdir().unwrap();
    let before = xu3.snapshot();
    {
        let mut g = guard(&xu3, &state);
        power::enable(&mut g, &sysfs, &rails).unwrap();
        assert_eq!(xu3.read("/sys/bus/i2c/drivers/INA231/3-0040/enable"), "1");
    }
    xu3.assert_unchanged(&before, "sensors are disabled again");

    let pc = laptop();
    let sysfs = Sysfs::new(pc.root());
    let rails = power::rails(&sysfs);
    assert_eq!(rails.len(), 1);
    assert_eq!(
        rails[0].read_mw(&sysfs).unwrap(),
        12500.0,
        "hwmon reports µW"
    );
}

#[test]
fn energy_integrates_a_known_trace() {
    // Rail 0: 1000 mW constant; rail 1: a ramp 0 → 2000 mW over 2 s, sampled
    // at uneven times. The trapezoid rule is exact for both.
    let times = [0.0, 0.3, 0.5, 1.2, 2.0];
    let samples: Vec<Sample> = times
        .iter()
        .map(|&t| Sample {
            at: t,
            mw: vec![1000.0, 1000.0 * t],
        })
        .collect();
    let energy = integrate(&samples);
    assert!((energy[0] - 2000.0).abs() < 1e-9, "{energy:?}");
    assert!((energy[1] - 2000.0).abs() < 1e-9, "{energy:?}");

    // On the Jetson the input rail is the total; the others are parts of it.
    let nano = jetson_nano();
    let rails = power::rails(&Sysfs::new(nano.root()));
    let flat: Vec<Sample> = [0.0, 1.0]
        .iter()
        .map(|&t| Sample {
            at: t,
            mw: vec![3000.0, 500.0, 1000.0],
        })
        .collect();
    let r = report(&rails, &flat);
    assert!((r.total_millijoules - 3000.0).abs() < 1e-9);
    assert!((r.rails[2].average_mw - 1000.0).abs() < 1e-9);
}

#[test]
fn the_energy_meter_samples_the_rails() {
    let pc = laptop();
    let sysfs = Sysfs::new(pc.root());
    let meter = groupscale::platform::energy::EnergyMeter::start(
        &sysfs,
        power::rails(&sysfs),
        std::time::Duration::from_millis(5),
    );
    std::thread::sleep(std::time::Duration::from_millis(60));
    let r = meter.stop();
    assert!(r.samples >= 3, "{} samples", r.samples);
    // 12.5 W for r.seconds
    assert!(
        (r.total_millijoules - 12500.0 * r.seconds).abs() < 1e-6 * r.total_millijoules.max(1.0)
    );
}

#[test]
fn nvpmodel_config_parses_stock_and_custom_modes() {
    let nano = jetson_nano();
    let sysfs = Sysfs::new(nano.root());
    let nvp = Nvpmodel::find(Some(&nano.path("/usr/sbin/nvpmodel"))).unwrap();
    let config = nvp.modes(&sysfs).unwrap();
    let ids: Vec<(u32, &str)> = config
        .modes
        .iter()
        .map(|m| (m.id, m.name.as_str()))
        .collect();
    assert_eq!(ids, [(0, "MAXN"), (1, "5W"), (7, "MY_CUSTOM_3W")]);
    assert_eq!(config.default, Some(0));
    assert!(config.modes[1].settings.contains(&(
        "CPU_A57".into(),
        "MAX_FREQ".into(),
        "918000".into()
    )));
    assert_eq!(nvp.query().unwrap(), (0, "MAXN".into()));
    assert!(
        parse_conf("< POWER_MODEL NAME=X >").is_err(),
        "a mode without an id"
    );
    // A mode the config does not declare is refused, naming the ones it does.
    let state = tempfile::tempdir().unwrap();
    let mut g = guard(&nano, &state);
    let err = nvp.set(&mut g, &sysfs, 3).unwrap_err();
    assert!(err.to_string().contains("MY_CUSTOM_3W"), "{err}");
}

#[test]
fn hotplug_keeps_one_cpu_and_brings_cpus_up_before_taking_others_down() {
    let xu3 = odroid_xu3();
    let sysfs = Sysfs::new(xu3.root());
    let mut g = ClockGuard::new(
        sysfs.clone(),
        GuardOptions {
            dry_run: true,
            ..GuardOptions::none()
        },
    )
    .unwrap();
    // Models the kernel updating `online` after cpuN/online writes.
    xu3.file("/sys/devices/system/cpu/online", "0-3");
    hotplug::set_online(&mut g, &sysfs, &[0, 4, 5]).unwrap();
    let plan = g.planned().join("\n");
    let up = plan.find("cpu4/online").unwrap();
    let down = plan.find("cpu1/online").unwrap();
    assert!(up < down, "{plan}");
    assert!(hotplug::set_online(&mut g, &sysfs, &[]).is_err());
    assert!(hotplug::set_online(&mut g, &sysfs, &[9]).is_err());
}

#[test]
fn big_little_clusters_are_found_and_named() {
    use groupscale::platform::topology::{clusters, find, Core};
    let xu3 = odroid_xu3();
    let found = clusters(&Sysfs::new(xu3.root())).unwrap();
    assert_eq!(found.len(), 2);
    let little = find(&found, "little").unwrap();
    let big = find(&found, "big").unwrap();
    assert_eq!(
        (little.cpus.clone(), little.core),
        (vec![0, 1, 2, 3], Some(Core::CortexA7))
    );
    assert_eq!(
        (big.cpus.clone(), big.core),
        (vec![4, 5, 6, 7], Some(Core::CortexA15))
    );
    assert_eq!(find(&found, "4").unwrap().id, 4);
    assert!(find(&found, "medium").is_none());
    // A laptop: policies per CPU, no ARM part numbers.
    assert!(clusters(&Sysfs::new(laptop().root()))
        .unwrap()
        .iter()
        .all(|c| c.core.is_none()));
}

/// What `clocks show` prints, as a library value: the fake boards' clock
/// domains, and nothing invented on a machine without them.
#[test]
fn a_clock_snapshot_reads_every_domain_of_the_fake_boards() {
    use groupscale::platform::ClockSnapshot;
    let nano = jetson_nano();
    let s = ClockSnapshot::read(
        &Sysfs::new(nano.root()),
        Some(std::path::Path::new("/nonexistent/nvpmodel")),
    )
    .unwrap();
    assert_eq!(s.board, Board::JetsonNano);
    assert!(!s.cpufreq.is_empty() && !s.devfreq.is_empty(), "{s:?}");
    assert!(s.emc.is_some(), "{s:?}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["board"], "jetson_nano");

    let xu3 = odroid_xu3();
    let s = ClockSnapshot::read(
        &Sysfs::new(xu3.root()),
        Some(std::path::Path::new("/nonexistent/nvpmodel")),
    )
    .unwrap();
    assert_eq!(s.board, Board::OdroidXu3);
    assert!(s.cpufreq.len() >= 2, "two clusters: {s:?}");

    let empty = tempfile::tempdir().unwrap();
    let s = ClockSnapshot::read(
        &Sysfs::new(empty.path()),
        Some(std::path::Path::new("/nonexistent/nvpmodel")),
    )
    .unwrap();
    assert!(s.cpufreq.is_empty() && s.devfreq.is_empty() && s.emc.is_none());
}
