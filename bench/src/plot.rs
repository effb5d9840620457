//! SVG charts of a report: forwarded rate against fan-out per path (one chart per frame size),
//! and the latency CDFs.
use crate::{latency::Latency, linerate::Run, paths::Path};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path as FsPath;

const COLORS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xff, 0x7f, 0x0e),
];

/// Frames per second per receiver (k) against fan-out, one line per path, for frames of
/// `size` bytes; log-scaled axes.
pub fn line_rate(runs: &[Run], size: usize, file: &FsPath) -> Result<()> {
    let runs: Vec<&Run> = runs.iter().filter(|r| r.size == size).collect();
    let mut paths: Vec<Path> = runs.iter().map(|r| r.path).collect();
    paths.sort();
    paths.dedup();
    let max_fan_out = runs.iter().map(|r| r.fan_out).max().unwrap_or(1).max(2);
    let rates = runs.iter().map(|r| r.delivered_pps / 1e3);
    let top = rates.clone().fold(1.0, f64::max) * 1.5;
    let bottom = rates.fold(top, f64::min).max(1.0) / 1.5;
    let root = SVGBackend::new(file, (760, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{size}-byte frames: frames per second per receiver"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (1.0..f64::from(max_fan_out)).log_scale(),
            (bottom..top).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("fan-out (receivers)")
        .y_desc("kpps per receiver")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(plot_error)?;
    for (i, path) in paths.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points: Vec<(f64, f64)> = runs
            .iter()
            .filter(|r| r.path == *path)
            .map(|r| (f64::from(r.fan_out), r.delivered_pps / 1e3))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(path.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Cumulative distribution of the end-to-end latency, one line per path.
pub fn latency_cdf(latencies: &[Latency], file: &FsPath) -> Result<()> {
    let right = latencies.iter().map(|l| l.p999_us).fold(1.0, f64::max) * 1.2;
    let root = SVGBackend::new(file, (760, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("end-to-end latency (CDF)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..right, 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("latency (µs)")
        .y_desc("fraction of datagrams")
        .draw()
        .map_err(plot_error)?;
    for (i, latency) in latencies.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                latency.cdf.iter().copied().filter(|(us, _)| *us <= right),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(latency.path.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}
