//! The default backend is chosen by measurement (src/dispatch/calibrate.rs):
//! of the CPU kernels and the backends on hardware devices, the fastest on a
//! calibration layer. Here lavapipe, which `select` never counts as
//! hardware, is handed to the calibration as if it were, so that it has two
//! usable backends to choose between on a machine without a GPU.

use groupscale::dispatch::calibrate;
use groupscale::BackendKind;

#[test]
fn calibration_picks_the_faster_of_two_usable_backends() {
    let cpu = groupscale::backend(BackendKind::Cpu).expect("the cpu backend");
    let wgpu = match groupscale::backend(BackendKind::Wgpu) {
        Ok(wgpu) => wgpu,
        // tests/expected_backends_ran.rs fails where wgpu should have run.
        Err(e) => {
            eprintln!("skipped: no second backend to calibrate against ({e})");
            return;
        }
    };
    for candidates in [[wgpu.clone(), cpu.clone()], [cpu.clone(), wgpu.clone()]] {
        let calibration = calibrate(&candidates).expect("both backends run the layer");
        eprintln!("{}", calibration.summary());
        let time = |kind| {
            calibration
                .times
                .iter()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, t)| t.clone().ok())
                .unwrap_or_else(|| panic!("{kind} was not timed: {}", calibration.summary()))
        };
        let (cpu_time, wgpu_time) = (time(BackendKind::Cpu), time(BackendKind::Wgpu));
        let chosen = candidates[calibration.chosen].kind();
        let fastest = if cpu_time <= wgpu_time {
            BackendKind::Cpu
        } else {
            BackendKind::Wgpu
        };
        assert_eq!(chosen, fastest, "{}", calibration.summary());
        // On lavapipe the CPU kernels are two orders of magnitude faster, so
        // this holds on any machine where wgpu is a software rasteriser.
        if wgpu.software_device() {
            assert_eq!(chosen, BackendKind::Cpu, "{}", calibration.summary());
        }
    }
}

/// With a single candidate (here: the CPU kernels, lavapipe being software)
/// nothing is measured.
#[test]
fn one_candidate_is_chosen_without_measuring() {
    if std::env::var_os("GROUPSCALE_BACKEND").is_some() {
        eprintln!("skipped: GROUPSCALE_BACKEND forces the choice");
        return;
    }
    let hardware_gpu = [BackendKind::Cuda, BackendKind::Wgpu]
        .into_iter()
        .filter_map(|kind| groupscale::backend(kind).ok())
        .any(|b| !b.software_device());
    let selection = groupscale::registry().select().unwrap();
    if hardware_gpu {
        assert!(selection.calibration.is_some(), "a GPU here: measured");
    } else {
        assert!(selection.calibration.is_none());
        assert!(matches!(
            selection.backend.kind(),
            BackendKind::Cpu | BackendKind::Neon
        ));
    }
}
