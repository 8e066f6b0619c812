//! `groupscale`: run, check and time the kernels from the command line.
//!
//! Bad input prints one line on stderr and exits with status 2; a selftest
//! mismatch exits with status 1.

mod alloc_count;
mod bench;
mod classify;
mod clock_flags;
mod clocks;
mod conv;
mod eval;
mod info;
mod npy;
mod plots;
mod profile;
#[cfg(unix)]
mod runtime_dir;
mod selftest;
mod serve;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use groupscale::{Backend, BackendKind, CpuBackend, CpuConfig};

#[derive(Parser)]
#[command(
    name = "groupscale",
    version,
    about = "Run-time scalable grouped-convolution kernels"
)]
#[command(args_override_self = true, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The backends available here (and why others are not), CPU features, cores.
    Info,
    /// Run one grouped convolution on .npy data.
    Conv(conv::Args),
    /// Check every available backend against the scalar oracle.
    Selftest(selftest::Args),
    /// Time the preset AlexNet-CIFAR layers at k = 1..4.
    Bench(bench::Args),
    /// Accuracy, confidence and latency of a model at every k, per backend.
    Eval(eval::Args),
    /// Classify PNG or JPEG images.
    Classify(classify::Args),
    /// Measure every operating point (k × placement × clocks): table and plots.
    Profile(profile::Args),
    /// Serve inference frame by frame under a latency or energy budget.
    Run(serve::Args),
    /// Show, set and restore CPU/GPU clocks, power modes and online CPUs.
    Clocks {
        #[command(subcommand)]
        command: clocks::ClocksCommand,
        #[command(flatten)]
        common: clocks::Common,
    },
    /// Measure power and energy per rail.
    Power(clocks::PowerArgs),
}

/// What a subcommand reports besides success.
pub enum Outcome {
    Done,
    /// Ran, but found mismatches (exit status 1).
    Failed,
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes
    // away (`groupscale bench | head`) instead of panicking on a write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    #[cfg(unix)]
    runtime_dir::ensure();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's own usage errors already exit 2; keep its first line.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see groupscale --help)");
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let result = match cli.command {
        Command::Info => info::run(),
        Command::Conv(args) => conv::run(args),
        Command::Selftest(args) => selftest::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Run(args) => serve::run(args),
        Command::Clocks { command, common } => clocks::run(command, common),
        Command::Power(args) => clocks::power(args),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}

/// The backend a command asked for (`--backend`), configured by the CPU
/// options when it is the CPU backend. A named backend that is unavailable is
/// an error, never a silent fallback.
pub fn choose_backend(
    name: Option<&str>,
    threads: Option<usize>,
    cores: Option<&str>,
) -> anyhow::Result<Arc<dyn Backend>> {
    let kind = match name {
        Some(n) => Some(n.parse::<BackendKind>()?),
        None => None,
    };
    let backend = match kind {
        Some(kind) => groupscale::backend(kind)?,
        None => groupscale::default_backend()?,
    };
    if threads.is_none() && cores.is_none() {
        return Ok(backend);
    }
    if backend.kind() != BackendKind::Cpu {
        anyhow::bail!(
            "--threads and --cores apply to the cpu backend, not {}",
            backend.kind()
        );
    }
    let cores = cores
        .map(|c| groupscale::settings::parse_cpu_list("--cores", c))
        .transpose()?;
    let (cpu, _) = CpuBackend::configured(CpuConfig {
        // `--backend neon` keeps its NEON kernels with the CPU options.
        isa: (kind == Some(BackendKind::Neon)).then_some(groupscale::CpuIsa::Neon),
        threads,
        cores,
        conv: None,
    })?;
    Ok(Arc::new(cpu))
}
