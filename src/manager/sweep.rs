//! What a machine offers to sweep: placements (backends, CPU clusters and
//! thread counts) and clock settings, and how to time one point.

use std::sync::Arc;
use std::time::Instant;

use super::point::{Clocks, Placement};
use crate::backend::{Backend, BackendKind};
use crate::error::Result;
use crate::platform::{cpufreq, devfreq, topology, Sysfs};
use crate::session::Session;

/// The placements this machine allows: on big.LITTLE each cluster whole and
/// one core of it; elsewhere 1, 2, 4, ... threads up to every core. Then
/// every GPU backend with a hardware adapter.
pub fn placements(sysfs: &Sysfs) -> Vec<Placement> {
    let mut out = Vec::new();
    let clusters = topology::clusters(sysfs).unwrap_or_default();
    if clusters.len() > 1 {
        for (i, cluster) in clusters.iter().enumerate() {
            let name = match i {
                0 => "little".to_string(),
                i if i + 1 == clusters.len() => "big".to_string(),
                _ => format!("cluster{}", cluster.id),
            };
            let n = cluster.cpus.len();
            for threads in [1, n] {
                out.push(Placement {
                    backend: BackendKind::Cpu,
                    threads: Some(threads),
                    cores: Some(cluster.cpus[..threads].to_vec()),
                    label: format!("cpu {name} x{threads}"),
                });
                if n == 1 {
                    break;
                }
            }
        }
    } else {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut threads = 1;
        loop {
            out.push(Placement {
                backend: BackendKind::Cpu,
                threads: Some(threads),
                cores: None,
                label: format!("cpu x{threads}"),
            });
            if threads == cores {
                break;
            }
            threads = (threads * 2).min(cores);
        }
    }
    for kind in [BackendKind::Cuda, BackendKind::Wgpu] {
        if let Ok(backend) = crate::dispatch::backend(kind) {
            if !backend.software_device() {
                out.push(Placement {
                    backend: kind,
                    threads: None,
                    cores: None,
                    label: kind.to_string(),
                });
            }
        }
    }
    out
}

/// The backend a placement runs on.
pub fn backend_for(placement: &Placement) -> Result<Arc<dyn Backend>> {
    #[cfg(feature = "cpu")]
    if placement.backend == BackendKind::Cpu {
        use crate::backend::cpu::{CpuBackend, CpuConfig};
        let (cpu, _) = CpuBackend::configured(CpuConfig {
            isa: None,
            threads: placement.threads,
            cores: placement.cores.clone(),
            conv: None,
        })?;
        return Ok(Arc::new(cpu));
    }
    crate::dispatch::backend(placement.backend)
}

/// Clock settings to sweep: every CPU cluster (and the GPU) at its lowest,
/// a middle and its highest frequency together, plus the clocks as found.
/// The second value says what could not be swept, and why.
pub fn clock_settings(sysfs: &Sysfs) -> (Vec<Clocks>, Vec<String>) {
    let mut left_out = Vec::new();
    let policies = cpufreq::policies(sysfs).unwrap_or_default();
    let gpu = devfreq::gpu(sysfs).ok();
    if policies.is_empty() {
        left_out.push(
            "CPU clocks: no cpufreq policies under /sys/devices/system/cpu/cpufreq (a VM or container?)"
                .into(),
        );
    }
    if gpu.is_none() {
        left_out.push("GPU clocks: no devfreq GPU found".into());
    }
    let mut settings = vec![Clocks::default()];
    for level in [0.0, 0.5, 1.0] {
        let pick = |list: &[u64]| -> Option<u64> {
            (!list.is_empty()).then(|| list[((list.len() - 1) as f64 * level).round() as usize])
        };
        let clocks = Clocks {
            cpu_khz: policies
                .iter()
                .filter_map(|p| Some((p.id, pick(&p.frequencies)?)))
                .collect(),
            gpu_hz: gpu.as_ref().and_then(|g| pick(&g.frequencies)),
            nvpmodel: None,
        };
        if !clocks.is_default() && !settings.contains(&clocks) {
            settings.push(clocks);
        }
    }
    if !policies.is_empty() && policies.iter().all(|p| p.frequencies.is_empty()) {
        left_out.push("CPU clocks: the cpufreq driver publishes no frequency list".into());
    }
    (settings, left_out)
}

/// Median and 95th-percentile latency (ms) of at least `runs` batch-1
/// inferences, and as many more as it takes to fill `min_seconds` (power
/// sensors need a few samples), cycling through `images` (each `item` long)
/// after a warm-up. Also returns how many were timed.
pub fn time_inference(
    session: &mut Session,
    images: &[f32],
    item: usize,
    runs: usize,
    min_seconds: f64,
) -> Result<(f64, f64, usize)> {
    let count = (images.len() / item).max(1);
    for i in 0..3.min(count) {
        session.infer(&images[i * item..(i + 1) * item], 1)?;
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(runs.max(1));
    let mut r = 0;
    while r < runs.max(1) || started.elapsed().as_secs_f64() < min_seconds {
        r += 1;
        let image = &images[(r % count) * item..(r % count + 1) * item];
        let start = Instant::now();
        session.infer(image, 1)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (median, p95) = percentiles(&mut times);
    Ok((median, p95, times.len()))
}

/// (median, p95) of `values`, sorted in place.
pub fn percentiles(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}
