//! After a signal's restore, no thread can change a clock behind it (the
//! restore closes every live guard before the process exits). Its own test
//! binary: the restore is process-wide.

mod common;

use common::fake_boards::odroid_xu3;
use groupscale::platform::guard::restore_all_on_signal;
use groupscale::platform::{cpufreq, ClockGuard, GuardOptions, Snap, Sysfs};

#[test]
fn no_change_is_made_after_a_signal_restored_the_clocks() {
    let xu3 = odroid_xu3();
    let state = tempfile::tempdir().unwrap();
    let sysfs = Sysfs::new(xu3.root());
    let before = xu3.snapshot();
    let options = GuardOptions {
        state_file: Some(state.path().join("clocks.json")),
        ..GuardOptions::none()
    };
    let mut guard = ClockGuard::new(sysfs.clone(), options.clone()).unwrap();
    let big = cpufreq::policy(&sysfs, 4).unwrap();
    cpufreq::set_frequency(&mut guard, &sysfs, &big, 1_000_000, Snap::Exact).unwrap();

    // What the signal thread does before it exits.
    restore_all_on_signal();
    xu3.assert_unchanged(&before, "the signal restored");
    assert!(!state.path().join("clocks.json").exists());

    // The main thread goes on, as it may until the exit lands.
    let late = cpufreq::set_frequency(&mut guard, &sysfs, &big, 1_200_000, Snap::Exact);
    assert!(late.is_err(), "a change after the restore was made");
    drop(guard);
    let mut fresh = ClockGuard::new(sysfs.clone(), options).unwrap();
    assert!(cpufreq::set_frequency(&mut fresh, &sysfs, &big, 1_200_000, Snap::Exact).is_err());
    xu3.assert_unchanged(&before, "nothing changed after the restore");
}
