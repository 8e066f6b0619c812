//! Every backend that runs whole chains on its device (CUDA, through the
//! emulator here; wgpu) keeps the contract of `Chain`: a resident run on
//! uploaded data leaves the same result as a full run, a resident run with
//! nothing uploaded is an error, and wrong sizes are errors, not panics or
//! launches. `model_fixture` checks their numbers on the shipped models.

use groupscale::check::cases;
use groupscale::check::compare;
use groupscale::check::selftest::{oracle_outputs, targets};
use groupscale::{Chain, Layer};

#[test]
fn resident_runs_match_full_runs() {
    let case = cases::named()
        .into_iter()
        .find(|c| matches!(c.layer, Layer::Conv2d(_)) && c.k > 1)
        .expect("a conv case with k > 1");
    let out = case.layer.output_shape(case.input.shape, case.k).unwrap();
    let shape = case.input.shape;
    let mut checked = Vec::new();
    for target in targets(None) {
        let Some(chain) = target
            .backend
            .prepare_chain(std::slice::from_ref(&case.layer))
        else {
            // Device backends must run models as chains (one copy in, one out).
            assert!(
                target.label != "wgpu" && !target.label.starts_with("cuda"),
                "{}: no device chain",
                target.label
            );
            continue;
        };
        let mut chain: Box<dyn Chain> = chain.unwrap();
        let label = &target.label;
        assert!(
            chain.run_resident(shape, case.k).is_err(),
            "{label}: a resident run before any upload"
        );
        let mut full = vec![0.0; out.len()];
        chain
            .run(&case.input.data, shape, case.k, &mut full)
            .unwrap();
        // The full run agrees with the oracle, and the resident run (the
        // path the GPU benchmarks time) leaves exactly the full run's output.
        let oracle = &oracle_outputs(std::slice::from_ref(&case))[0];
        if let Err(m) = compare(&oracle.data, &full, case.depth()) {
            panic!("{label}: the full run differs from the oracle: {m:?}");
        }
        chain.upload(&case.input.data, shape).unwrap();
        assert!(
            chain.download(&mut vec![0.0; out.len()]).is_err(),
            "{label}: a download with no run since the upload"
        );
        chain.run_resident(shape, case.k).unwrap();
        let mut resident = vec![f32::NAN; out.len()];
        assert!(chain.download(&mut resident[1..]).is_err(), "{label}");
        chain.download(&mut resident).unwrap();
        assert_eq!(
            full.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            resident.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{label}: the resident run's output"
        );
        // After the resident run, a full run gives the same result again.
        let mut again = vec![0.0; out.len()];
        chain
            .run(&case.input.data, shape, case.k, &mut again)
            .unwrap();
        assert_eq!(full, again, "{label}");
        let data = &case.input.data;
        assert!(
            chain.run(&data[1..], shape, case.k, &mut full).is_err(),
            "{label}"
        );
        assert!(
            chain.run(data, shape, case.k, &mut full[1..]).is_err(),
            "{label}"
        );
        assert!(chain.run(data, shape, 99, &mut full).is_err(), "{label}");
        checked.push(target.label);
    }
    eprintln!("device chains checked: {checked:?}");
    if cfg!(feature = "cuda-emulator") {
        assert!(checked.iter().any(|l| l == "cuda/emulator"), "{checked:?}");
    }
}
