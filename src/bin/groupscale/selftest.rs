use groupscale::check::cases;
use groupscale::check::selftest::{check, oracle_outputs, targets};
use groupscale::BackendKind;

use crate::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Check only this backend (default: every available one).
    #[arg(long)]
    backend: Option<String>,
    /// Random shapes to add to the named cases.
    #[arg(long, default_value_t = 40)]
    random: usize,
    /// Seed for the random shapes.
    #[arg(long, default_value_t = 2019)]
    seed: u64,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let only = match args.backend.as_deref() {
        Some(name) => {
            let kind: BackendKind = name.parse()?;
            // Unavailable: a clear error, exit 2. A build with the CUDA
            // emulator checks the kernels on it instead of a GPU.
            let emulated = kind == BackendKind::Cuda && cfg!(feature = "cuda-emulator");
            if !emulated {
                groupscale::backend(kind)?;
            }
            Some(kind)
        }
        None => None,
    };
    let mut all = cases::named();
    all.extend(cases::random_convs(args.seed, args.random, 12));
    let expected = oracle_outputs(&all);
    let targets = targets(only);
    if targets.is_empty() {
        anyhow::bail!("no backend besides the scalar oracle is available to check");
    }
    println!(
        "{} cases ({} named, {} random with --seed {}) against the scalar oracle",
        all.len(),
        all.len() - args.random,
        args.random,
        args.seed
    );
    println!(
        "{:<14} {:>7} {:>7} {:>18}",
        "backend", "passed", "failed", "worst err/tol"
    );
    let mut ok = true;
    for target in &targets {
        let outcome = check(target, &all, &expected);
        println!(
            "{:<14} {:>7} {:>7} {:>18.3}",
            outcome.label,
            outcome.passed,
            outcome.failures.len(),
            outcome.worst
        );
        for (case, why) in &outcome.failures {
            println!("  FAIL {case}: {why}");
        }
        ok &= outcome.ok();
    }
    let probes = match only {
        Some(kind) => vec![groupscale::registry().probe(kind)],
        None => groupscale::registry().probes(),
    };
    for probe in probes {
        if let Err(why) = &probe.backend {
            println!("{:<14} skipped: {why}", probe.kind.to_string());
        }
    }
    Ok(if ok { Outcome::Done } else { Outcome::Failed })
}
