use crate::Outcome;

pub fn run() -> anyhow::Result<Outcome> {
    println!("groupscale {}", env!("CARGO_PKG_VERSION"));
    println!(
        "cpu: {} cores online, {}, features: {}",
        groupscale::backend::cpu::default_threads(),
        std::env::consts::ARCH,
        groupscale::backend::cpu::isa::features().join(" ")
    );
    let supported: Vec<String> = groupscale::CpuIsa::supported()
        .iter()
        .map(|i| i.to_string())
        .collect();
    println!("cpu kernels this CPU runs: {}", supported.join(", "));
    let clusters = groupscale::platform::topology::clusters(&groupscale::platform::Sysfs::system())
        .unwrap_or_default();
    println!(
        "cpu clusters (bench --cluster): {}",
        crate::bench::describe_clusters(&clusters)
    );
    println!("backends:");
    for probe in groupscale::registry().probes() {
        match &probe.backend {
            Ok(b) => println!("  {:<7} available    {}", probe.kind, b.describe()),
            Err(why) => println!("  {:<7} unavailable  {why}", probe.kind),
        }
        if let Some(note) = &probe.note {
            println!("          note: {note}");
        }
    }
    println!("settings (docs/knobs.md):");
    for knob in groupscale::settings::KNOBS
        .iter()
        .filter(|k| k.scope == groupscale::settings::Scope::Run)
    {
        match knob.value() {
            Some(value) => println!("  {} = {value}", knob.name),
            None => println!("  {} unset", knob.name),
        }
    }
    let selection = groupscale::registry().select()?;
    println!("default backend: {}", selection.backend.kind());
    if let Some(why) = selection.fallback {
        println!("  (GROUPSCALE_BACKEND fell back: {why})");
    }
    match &selection.calibration {
        Some(Ok(calibration)) => println!("  (the fastest, {})", calibration.summary()),
        Some(Err(why)) => println!("  (the CPU kernels: no candidate could be measured: {why})"),
        None => {}
    }
    Ok(Outcome::Done)
}
