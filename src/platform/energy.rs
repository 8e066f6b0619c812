//! Energy over a measured region: a background thread samples the rails on a
//! monotonic clock, no faster than the sensors update, and the samples are
//! integrated with the trapezoid rule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::platform::power::Rail;
use crate::platform::sysfs::Sysfs;

/// Power of every rail at one instant, in mW, `at` seconds from the start.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub at: f64,
    pub mw: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RailEnergy {
    pub rail: String,
    pub millijoules: f64,
    pub average_mw: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnergyReport {
    pub seconds: f64,
    pub samples: usize,
    pub rails: Vec<RailEnergy>,
    /// The board-input rail where there is one, else the sum of the rails.
    pub total_millijoules: f64,
}

/// ∫ P dt per rail, in mJ (mW × s), by the trapezoid rule.
pub fn integrate(samples: &[Sample]) -> Vec<f64> {
    let rails = samples.first().map_or(0, |s| s.mw.len());
    let mut energy = vec![0.0; rails];
    for pair in samples.windows(2) {
        let dt = pair[1].at - pair[0].at;
        for (r, e) in energy.iter_mut().enumerate() {
            *e += 0.5 * (pair[0].mw[r] + pair[1].mw[r]) * dt;
        }
    }
    energy
}

pub fn report(rails: &[Rail], samples: &[Sample]) -> EnergyReport {
    let energy = integrate(samples);
    let seconds = samples.last().map_or(0.0, |s| s.at) - samples.first().map_or(0.0, |s| s.at);
    let per_rail: Vec<RailEnergy> = rails
        .iter()
        .zip(&energy)
        .map(|(rail, &mj)| RailEnergy {
            rail: rail.name.clone(),
            millijoules: mj,
            average_mw: if seconds > 0.0 { mj / seconds } else { 0.0 },
        })
        .collect();
    let total_millijoules = match rails.iter().position(|r| r.is_total) {
        Some(i) => energy[i],
        None => energy.iter().sum(),
    };
    EnergyReport {
        seconds,
        samples: samples.len(),
        rails: per_rail,
        total_millijoules,
    }
}

/// Samples the rails in the background until [`stop`](Self::stop).
pub struct EnergyMeter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Sample>>>,
    rails: Vec<Rail>,
}

impl EnergyMeter {
    /// Starts sampling every `interval`, or every sensor update period if
    /// that is longer (faster sampling only re-reads the same value).
    pub fn start(sysfs: &Sysfs, rails: Vec<Rail>, interval: Duration) -> Self {
        let interval = rails
            .iter()
            .filter_map(|r| r.update_period)
            .fold(interval, Duration::max);
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, sysfs, sampled) = (stop.clone(), sysfs.clone(), rails.clone());
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            let mut next = start;
            loop {
                // A rail that fails to read counts as its last value, so one
                // bad read cannot end the measurement.
                let mw = sampled
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        r.read_mw(&sysfs)
                            .unwrap_or_else(|_| samples.last().map_or(0.0, |p: &Sample| p.mw[i]))
                    })
                    .collect();
                samples.push(Sample {
                    at: start.elapsed().as_secs_f64(),
                    mw,
                });
                if flag.load(Ordering::Relaxed) {
                    return samples;
                }
                next += interval;
                let now = Instant::now();
                if next > now {
                    // Wake early enough to see `stop` promptly.
                    std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    while Instant::now() < next && !flag.load(Ordering::Relaxed) {
                        std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
                    }
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
            rails,
        }
    }

    /// Takes a last sample, stops, and integrates.
    pub fn stop(mut self) -> EnergyReport {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        report(&self.rails, &samples)
    }
}

impl Drop for EnergyMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
