//! SVG charts of a report: forwarded rate against fan-out per path (one chart per frame size,
//! IPv6 dashed beside IPv4), and latency by percentile (end to end, and miss to first forwarded
//! packet).
use crate::{frame::Family, linerate::Run, paths::Path};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path as FsPath;

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
];

/// Frames per second per receiver (k) against fan-out, one line per path and IP version (a
/// path's IPv6 line dashed, in its IPv4 line's colour), for frames of `size` bytes; log-scaled
/// axes.
pub fn line_rate(runs: &[Run], size: usize, file: &FsPath) -> Result<()> {
    let runs: Vec<&Run> = runs.iter().filter(|r| r.size == size).collect();
    let mut paths: Vec<Path> = runs.iter().map(|r| r.path).collect();
    paths.sort();
    paths.dedup();
    let mut lines: Vec<(Family, Path)> = runs.iter().map(|r| (r.family, r.path)).collect();
    lines.sort();
    lines.dedup();
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
    for (family, path) in lines {
        let index = paths.iter().position(|p| *p == path).unwrap_or(0);
        let color = COLORS[index % COLORS.len()];
        let mut points: Vec<(f64, f64)> = runs
            .iter()
            .filter(|r| r.family == family && r.path == path)
            .map(|r| (f64::from(r.fan_out), r.delivered_pps / 1e3))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let style = color.stroke_width(2);
        let series = match family {
            Family::V4 => chart.draw_series(LineSeries::new(points.clone(), style)),
            Family::V6 => chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style)),
        };
        series
            .map_err(plot_error)?
            .label(path.label_in(family))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        match family {
            Family::V4 => chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            ),
            Family::V6 => chart.draw_series(
                points
                    .into_iter()
                    .map(|p| TriangleMarker::new(p, 5, color.filled())),
            ),
        }
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

/// One line of a percentile chart: its label and (quantile, µs) points.
pub type Series = (String, Vec<(f64, f64)>);

/// Latency by percentile, one line per series: the x axis is 1 / (1 − quantile) on a log
/// scale labelled as percentiles (50 %, 90 %, 99 %, …), the y axis µs on a log scale, so the
/// tail is as readable as the median.
pub fn percentiles(title: &str, series: &[Series], file: &FsPath) -> Result<()> {
    let x = |quantile: f64| 1.0 / (1.0 - quantile.min(crate::tail::TOP_QUANTILE));
    let values = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1));
    let top = values.clone().fold(1.0, f64::max) * 1.5;
    let bottom = values.fold(top, f64::min).max(0.1) / 1.5;
    let root = SVGBackend::new(file, (760, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (2.0..x(crate::tail::TOP_QUANTILE)).log_scale(),
            (bottom..top).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("µs")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(plot_error)?;
    for (i, (label, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(quantile, us)| (x(quantile), us)),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// The percentile at `x` = 1 / (1 − quantile): 2 → "50%", 100 → "99%", 1000 → "99.9%".
fn percentile_label(x: f64) -> String {
    let percent = 100.0 * (1.0 - 1.0 / x);
    let decimals = (x.log10().round() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::percentile_label;

    #[test]
    fn percentile_labels_keep_the_nines() {
        assert_eq!(percentile_label(2.0), "50%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(100_000.0), "99.999%");
    }
}
