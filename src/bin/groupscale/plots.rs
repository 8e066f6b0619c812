//! SVG plots of a profile table (plotters): accuracy against latency and
//! energy with the Pareto frontier, and the dynamic range of each knob.

use std::path::{Path, PathBuf};

use groupscale::manager::{pareto_front, ProfileTable, ProfiledPoint};
use plotters::prelude::*;

/// Max/min of latency and energy over a subset of the points.
pub struct Range {
    pub name: &'static str,
    pub latency: f64,
    pub energy: Option<f64>,
    pub points: usize,
}

/// The paper's headline: the range from groups alone, then with task
/// mapping, then with DVFS too. "Groups alone" runs on the widest CPU
/// placement at the clocks as found.
pub fn dynamic_ranges(table: &ProfileTable) -> Vec<Range> {
    let widest = table
        .points
        .iter()
        .filter(|p| p.point.placement.backend == groupscale::BackendKind::Cpu)
        .max_by_key(|p| p.point.placement.threads)
        .map(|p| p.point.placement.label.clone());
    let default_clocks = |p: &&ProfiledPoint| p.point.clocks.is_default();
    let subsets: [(&'static str, Vec<&ProfiledPoint>); 3] = [
        (
            "groups alone",
            table
                .points
                .iter()
                .filter(default_clocks)
                .filter(|p| Some(&p.point.placement.label) == widest.as_ref())
                .collect(),
        ),
        (
            "groups + task mapping",
            table.points.iter().filter(default_clocks).collect(),
        ),
        (
            "groups + task mapping + DVFS",
            table.points.iter().collect(),
        ),
    ];
    subsets
        .into_iter()
        .filter(|(_, pts)| !pts.is_empty())
        .map(|(name, pts)| {
            let ratio = |f: &dyn Fn(&ProfiledPoint) -> Option<f64>| -> Option<f64> {
                let values: Vec<f64> = pts.iter().filter_map(|p| f(p)).collect();
                if values.len() != pts.len() {
                    return None;
                }
                let max = values.iter().copied().fold(f64::MIN, f64::max);
                let min = values.iter().copied().fold(f64::MAX, f64::min);
                Some(max / min)
            };
            Range {
                name,
                latency: ratio(&|p| Some(p.latency_ms)).unwrap_or(f64::NAN),
                energy: ratio(&|p| p.energy_mj),
                points: pts.len(),
            }
        })
        .collect()
}

pub fn write_all(table: &ProfileTable, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let latency = dir.join("accuracy_vs_latency.svg");
    scatter(table, &latency, "latency per inference (ms, median)", |p| {
        Some(p.latency_ms)
    })?;
    written.push(latency);
    if table.has_energy()
        && table
            .points
            .iter()
            .any(|p| p.energy_mj.is_some_and(|e| e > 0.0))
    {
        let energy = dir.join("accuracy_vs_energy.svg");
        scatter(table, &energy, "energy per inference (mJ)", |p| p.energy_mj)?;
        written.push(energy);
    }
    let ranges = dir.join("dynamic_range.svg");
    range_bars(table, &ranges)?;
    written.push(ranges);
    Ok(written)
}

fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("plotting: {e}")
}

fn scatter(
    table: &ProfileTable,
    path: &Path,
    x_label: &str,
    cost: impl Fn(&ProfiledPoint) -> Option<f64>,
) -> anyhow::Result<()> {
    // The cost axis is logarithmic: only positive, finite costs can go on it.
    let points: Vec<(f64, f64, &ProfiledPoint)> = table
        .points
        .iter()
        .filter_map(|p| Some((cost(p)?, 100.0 * p.accuracy, p)))
        .filter(|p| p.0.is_finite() && p.0 > 0.0)
        .collect();
    if points.is_empty() {
        anyhow::bail!("no positive {x_label} to plot");
    }
    let (x_min, x_max) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let y_pad = ((y_max - y_min) * 0.15).max(0.2);
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: accuracy against cost ({})", table.model, table.machine),
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x_min * 0.5..x_max * 2.0).log_scale(),
            (y_min - y_pad)..(y_max + y_pad),
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("top-1 accuracy (%)")
        .x_label_formatter(&|v| significant(*v))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(plot_err)?;
    let mut labels: Vec<String> = points
        .iter()
        .map(|p| p.2.point.placement.label.clone())
        .collect();
    labels.sort();
    labels.dedup();
    for (i, label) in labels.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| &p.2.point.placement.label == label)
                    .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
            )
            .map_err(plot_err)?
            .label(label.as_str())
            .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
    }
    // Each point marked with its k and clock setting.
    chart
        .draw_series(points.iter().map(|p| {
            Text::new(
                format!("k{} {}", p.2.point.k, short_clocks(p.2)),
                (p.0, p.1),
                ("sans-serif", 10).into_font().color(&BLACK.mix(0.7)),
            )
        }))
        .map_err(plot_err)?;
    let front_points: Vec<ProfiledPoint> = points.iter().map(|p| p.2.clone()).collect();
    let front: Vec<(f64, f64)> = pareto_front(&front_points, |p| cost(p).unwrap_or(f64::MAX))
        .into_iter()
        .map(|i| (points[i].0, points[i].1))
        .collect();
    chart
        .draw_series(LineSeries::new(front, BLACK.stroke_width(2)))
        .map_err(plot_err)?
        .label("Pareto frontier")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

/// A tick label with three significant digits (no 0.30000000000000004).
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

fn short_clocks(p: &ProfiledPoint) -> String {
    let c = &p.point.clocks;
    if c.is_default() {
        return String::new();
    }
    let mhz: Vec<String> = c
        .cpu_khz
        .iter()
        .map(|(_, k)| format!("{}", k / 1000))
        .collect();
    format!("@{}MHz", mhz.join("/"))
}

fn range_bars(table: &ProfileTable, path: &Path) -> anyhow::Result<()> {
    let ranges = dynamic_ranges(table);
    let max = ranges
        .iter()
        .flat_map(|r| [Some(r.latency), r.energy])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let n = ranges.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("dynamic range (max/min) on {}", table.machine),
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // Below zero: room for each knob's name under its bars.
        .build_cartesian_2d(0.0..n, -max * 0.12..max * 1.2)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("max / min (blue: latency, red: energy)")
        .y_label_formatter(&|v| {
            if *v < 0.0 {
                String::new()
            } else {
                format!("{v:.1}")
            }
        })
        .draw()
        .map_err(plot_err)?;
    for (i, r) in ranges.iter().enumerate() {
        let x = i as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x + 0.1, 0.0), (x + 0.45, r.latency)],
                BLUE.filled(),
            )))
            .map_err(plot_err)?;
        if let Some(e) = r.energy {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.5, 0.0), (x + 0.85, e)],
                    RED.filled(),
                )))
                .map_err(plot_err)?;
        }
        let energy = r.energy.map_or("energy: no sensors".to_string(), |e| {
            format!("energy {e:.2}x")
        });
        let top = r.latency.max(r.energy.unwrap_or(0.0));
        let labels = [
            (format!("latency {:.2}x", r.latency), top + max * 0.15),
            (energy, top + max * 0.08),
            (r.name.to_string(), -max * 0.06),
        ];
        for (text, y) in labels {
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (x + 0.1, y),
                    ("sans-serif", 13),
                )))
                .map_err(plot_err)?;
        }
    }
    root.present().map_err(plot_err)?;
    Ok(())
}
