//! The CUDA kernels, run by the CPU emulator, against the oracle: each conv
//! tile pinned in turn (the dispatcher would pick one per shape), the half2
//! arithmetic with a tolerance derived from f16 rounding. `backends_match_oracle`,
//! `model_fixture` and `device_chains` check the default configuration as
//! `cuda/emulator`. The emulator's device memory is NaN-poisoned and
//! guard-paged (`src/backend/cuda/emulator.rs`, whose unit tests plant
//! bugs and show them caught); the last tests here plant them through the
//! public `Kernel` API.
#![cfg(feature = "cuda-emulator")]

use std::sync::Arc;

use groupscale::backend::cuda::{CudaBackend, CudaOptions, Tile};
use groupscale::check::cases::{self, Case};
use groupscale::check::selftest::{check, oracle_outputs, Target};
use groupscale::check::tolerance;
use groupscale::{Backend, Conv2d, Layer, PreparedLayer, ScalarBackend, WeightData};
use half::f16;

fn emulated(tile: Option<Tile>, half2: bool) -> Arc<dyn Backend> {
    let options = CudaOptions {
        tile,
        half2,
        ..CudaOptions::default()
    };
    Arc::new(CudaBackend::emulated(options, half2))
}

fn seed() -> u64 {
    std::env::var("GROUPSCALE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2019)
}

#[test]
fn every_tile_matches_the_oracle() {
    let seed = seed();
    let mut all = cases::named();
    all.extend(cases::random_convs(seed, 40, 12));
    let expected = oracle_outputs(&all);
    for tile in [Tile::Wide, Tile::Narrow] {
        let target = Target {
            label: format!("cuda/emulator/{tile:?}"),
            backend: emulated(Some(tile), false),
        };
        let outcome = check(&target, &all, &expected);
        eprintln!(
            "{}: {} of {} pass, worst {:.2} of tolerance (GROUPSCALE_TEST_SEED={seed})",
            target.label,
            outcome.passed,
            all.len(),
            outcome.worst
        );
        assert!(
            outcome.ok(),
            "{} (GROUPSCALE_TEST_SEED={seed}): {:#?}",
            target.label,
            outcome.failures
        );
    }
}

/// The conv cases with their weights rounded to f16, so the oracle and the
/// half2 kernels see the same weights.
fn f16_conv_cases(seed: u64) -> Vec<Case> {
    let mut all = cases::named();
    all.extend(cases::random_convs(seed, 40, 12));
    all.into_iter()
        .filter_map(|case| {
            let Layer::Conv2d(c) = &case.layer else {
                return None;
            };
            let weights: Vec<f16> = c
                .weights()
                .to_f32()
                .iter()
                .map(|&w| f16::from_f32(w))
                .collect();
            let conv = Conv2d::new(
                *c.spec(),
                WeightData::F16(weights),
                c.bias().map(<[f32]>::to_vec),
            )
            .expect("same spec");
            Some(Case {
                layer: conv.into(),
                ..case
            })
        })
        .collect()
}

/// Σ|w·x| for each output: the scale of the f16 rounding errors.
fn magnitude(case: &Case) -> Vec<f32> {
    let Layer::Conv2d(c) = &case.layer else {
        unreachable!("conv cases only")
    };
    let abs_w: Vec<f32> = c.weights().to_f32().iter().map(|w| w.abs()).collect();
    let spec = c.spec().with_relu(false);
    let conv = Conv2d::new(spec, abs_w, None).expect("same spec");
    let mut input = case.input.clone();
    input.data.iter_mut().for_each(|x| *x = x.abs());
    let oracle: Arc<dyn Backend> = Arc::new(ScalarBackend);
    PreparedLayer::new(&oracle, conv.into())
        .and_then(|mut l| l.forward(&input, case.k))
        .expect("oracle")
        .data
}

/// half2 rounds each activation to f16 (2^-11 relative) and each partial
/// sum of at most 8 products per lane, so an output is off by at most about
/// 9·2^-11·Σ|w·x|. A wrong index is off by the size of the output itself.
#[test]
fn half2_arithmetic_stays_within_f16_rounding() {
    let seed = seed();
    let cases = f16_conv_cases(seed);
    assert!(cases.len() > 40, "too few conv cases: {}", cases.len());
    let expected = oracle_outputs(&cases);
    for tile in [Tile::Wide, Tile::Narrow] {
        let backend = emulated(Some(tile), true);
        assert!(
            backend.describe().contains("half2"),
            "{}",
            backend.describe()
        );
        let mut worst = 0.0f32;
        for (case, want) in cases.iter().zip(&expected) {
            let got = PreparedLayer::new(&backend, case.layer.clone())
                .and_then(|mut l| l.forward(&case.input, case.k))
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let scale = magnitude(case);
            for (i, ((&e, &g), &s)) in want.data.iter().zip(&got.data).zip(&scale).enumerate() {
                let allowed = 9.0 * (2.0f32).powi(-11) * s + tolerance(case.depth(), e);
                let diff = (e - g).abs();
                assert!(
                    diff <= allowed,
                    "{tile:?} {} (GROUPSCALE_TEST_SEED={seed}) element {i}: expected {e}, got {g}, allowed {allowed:.2e}",
                    case.name
                );
                worst = worst.max(diff / allowed);
            }
        }
        eprintln!(
            "half2 {tile:?}: {} cases pass, worst {worst:.2} of the f16 bound",
            cases.len()
        );
        // Half2 really ran: f16 arithmetic cannot match f32 to f32 tolerance
        // on every case.
        assert!(worst > 0.0);
    }
}

/// The shipped models under half2 arithmetic: how far the logits move from
/// PyTorch's (f32) and whether any of the fixture's predictions changes.
/// Every k of both models: 1.9e-4 to 7.5e-4 measured, and no changed
/// prediction (docs/backends.md, "How the CUDA backend works"). The bound: half2
/// rounds every layer's activations to f16 (2^-11 relative), and the
/// model's 8 weighted layers add at most 8 such errors.
#[test]
fn half2_on_the_shipped_models() {
    use safetensors::SafeTensors;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for variant in ["cumulative", "isolated"] {
        let model =
            groupscale::Model::load(dir.join(format!("groupalexnet-{variant}.safetensors")))
                .unwrap();
        let bytes =
            std::fs::read(dir.join(format!("groupalexnet-{variant}.fixture.safetensors"))).unwrap();
        let fixture = SafeTensors::deserialize(&bytes).unwrap();
        let floats = |name: &str| -> (Vec<usize>, Vec<f32>) {
            let view = fixture.tensor(name).unwrap();
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (view.shape().to_vec(), data)
        };
        // Two of the fixture's images: the emulator runs every CUDA thread
        // on the CPU, and all eight took 3.6 minutes of CI. The bound below
        // is per logit, so two images test it as well as eight.
        let (shape, all_input) = floats("input");
        let batch = shape[0].min(2);
        let input = &all_input[..batch * shape[1..].iter().product::<usize>()];
        let mut session = groupscale::Session::new(&model, emulated(None, true), batch).unwrap();
        for k in 1..=model.groups() {
            let (want_shape, all_want) = floats(&format!("logits.{k}"));
            let want = &all_want[..batch * want_shape[1]];
            session.set_active_groups(k).unwrap();
            let got = session.infer(input, batch).unwrap();
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(want)
                .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
            let classes = want.len() / batch;
            let argmax = |v: &[f32]| groupscale::eval::argmax(v);
            let changed = (0..batch)
                .filter(|&i| {
                    let row = i * classes..(i + 1) * classes;
                    argmax(&got[row.clone()]) != argmax(&want[row])
                })
                .count();
            eprintln!(
                "half2 {variant} k = {k}: relative error {:.2e}, {changed} of {batch} predictions changed",
                worst / scale
            );
            let layers = model
                .layers()
                .iter()
                .filter(|l| {
                    use groupscale::Layer;
                    matches!(l, Layer::Conv2d(_) | Layer::Linear(_) | Layer::Head(_))
                })
                .count() as f32;
            assert!(
                worst / scale <= layers * 2f32.powi(-11),
                "{variant} k = {k}: {:.2e}",
                worst / scale
            );
            assert_eq!(changed, 0, "{variant} k = {k}");
        }
    }
}

/// Set in a child process: run the planted call.
const PLANT: &str = "GROUPSCALE_EMULATOR_PLANT";
const REACHED: &str = "making the planted call";
const REFUSED: &str = "the planted call was refused";
const UNNOTICED: &str = "the planted call went unnoticed";

/// Two groups of 1×1 convolutions (4 → 8 channels), both active, no ReLU,
/// f32 weights and a bias, on a 2×4×3×5 input: the last input element is
/// read by exactly the outputs of group 1 at image 1's last pixel.
fn planted_case() -> Case {
    let spec = groupscale::Conv2dSpec::new(4, 8, 1, 0, 2, groupscale::Connectivity::Isolated);
    cases::conv_case("planted", spec, 2, [3, 5], 2, 7)
}

/// Output (image 1, channel co, pixel 14) of the 2×8×3×5 output, co in 4..8.
fn reading_the_last_input() -> Vec<usize> {
    (4..8).map(|co| (8 + co) * 15 + 14).collect()
}

/// Runs `test` again in a child process, alone, with [`PLANT`] set and
/// buffers ending at their guard pages (whatever this run's placement).
fn in_child(test: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(PLANT, "1")
        .env("GROUPSCALE_EMULATOR_GUARD", "end")
        .output()
        .unwrap()
}

/// `Kernel::run` called directly (not through `PreparedLayer`, which checks
/// lengths) with an input one element shorter than its shape: the device
/// input buffer is sized for the slice, the launch for the shape. Refusing
/// is right (the `Kernel` trait says device kernels check again); a kernel
/// that launches must die on the emulator's guard page, not return numbers.
#[test]
fn a_direct_kernel_run_on_a_short_input_is_refused_or_faults() {
    let test = "a_direct_kernel_run_on_a_short_input_is_refused_or_faults";
    let case = planted_case();
    let (shape, data) = (case.input.shape, &case.input.data);
    if std::env::var_os(PLANT).is_some() {
        // No core file for a child meant to die.
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
        let mut kernel = emulated(None, false).prepare(&case.layer).unwrap();
        let mut out = vec![0.0; case.layer.output_shape(shape, case.k).unwrap().len()];
        eprintln!("{REACHED}");
        match kernel.run(&data[..data.len() - 1], shape, case.k, &mut out) {
            Err(e) => eprintln!("{REFUSED}: {e}"),
            Ok(()) => eprintln!("{UNNOTICED}: {out:?}"),
        }
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let child = in_child(test);
    let stderr = String::from_utf8_lossy(&child.stderr);
    let refused = child.status.success() && stderr.contains(REFUSED);
    let faulted = child.status.signal() == Some(libc::SIGSEGV) && stderr.contains(REACHED);
    assert!(
        (refused || faulted) && !stderr.contains(UNNOTICED),
        "the child neither refused nor faulted ({:?}):\n{stderr}",
        child.status
    );
    eprintln!(
        "a direct Kernel::run on a short input: {}",
        if refused {
            "refused"
        } else {
            "launched, and faulted on the guard page"
        }
    );
}

/// The same call after `reserve`, so the device input buffer is large
/// enough and the launch reads the one element the slice left out of it:
/// fresh device memory, which the emulator poisons. Refused, or NaN in
/// exactly the outputs that read it; never the zero-filled answer.
#[test]
fn a_direct_kernel_run_on_a_short_input_after_reserve_is_refused_or_nan() {
    let case = planted_case();
    let (shape, data) = (case.input.shape, &case.input.data);
    let want = &oracle_outputs(std::slice::from_ref(&case))[0].data;
    let mut kernel = emulated(None, false).prepare(&case.layer).unwrap();
    kernel.reserve(shape.n, shape.h, shape.w).unwrap();
    let mut got = vec![0.0; want.len()];
    if let Err(e) = kernel.run(&data[..data.len() - 1], shape, case.k, &mut got) {
        eprintln!("a direct Kernel::run on a short input after reserve: refused ({e})");
        return;
    }
    let poisoned = reading_the_last_input();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if poisoned.contains(&i) {
            assert!(g.is_nan(), "output {i} reads the missing input: got {g}");
        } else {
            let allowed = tolerance(case.depth(), w);
            assert!((g - w).abs() <= allowed, "output {i}: {g}, expected {w}");
        }
    }
    eprintln!(
        "a direct Kernel::run on a short input after reserve: launched, read poison, NaN in outputs {poisoned:?}"
    );
}

/// A device chain reserved for a shape, then run resident with nothing
/// uploaded: its input buffer is fresh device memory. Refused, or NaN in
/// every output (each reads the poisoned input); never numbers.
#[test]
fn a_resident_run_after_reserve_with_nothing_uploaded_is_refused_or_nan() {
    let case = planted_case();
    let shape = case.input.shape;
    let mut chain = emulated(None, false)
        .prepare_chain(std::slice::from_ref(&case.layer))
        .expect("a device chain")
        .unwrap();
    chain.reserve(shape, 2).unwrap();
    if let Err(e) = chain.run_resident(shape, case.k) {
        eprintln!("a resident run with nothing uploaded: refused ({e})");
        return;
    }
    let mut got = vec![0.0; chain.output_shape(shape, case.k).unwrap().len()];
    chain.download(&mut got).unwrap();
    assert!(
        got.iter().all(|v| v.is_nan()),
        "a resident run on memory nobody wrote gave numbers: {got:?}"
    );
    eprintln!("a resident run with nothing uploaded: launched, read poison, every output NaN");
}
