//! Latency by percentile, the usual HdrHistogram percentile chart's data: points up to
//! 99.999 %, so the tail can be read on a log scale of 1 / (1 − percentile).
use hdrhistogram::Histogram;

/// Highest quantile a percentile series reaches.
pub const TOP_QUANTILE: f64 = 0.99999;

/// (quantile, µs) points of `histogram` (nanosecond values), spaced evenly on the log scale of
/// 1 / (1 − quantile), from the median to [`TOP_QUANTILE`].
pub fn percentiles(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    // 20 points per decade of 1 / (1 − q): from 2 (the median) to 10^5.
    let (low, high) = (2f64.log10(), (1.0 / (1.0 - TOP_QUANTILE)).log10());
    let steps = ((high - low) * 20.0).ceil() as u32;
    (0..=steps)
        .map(|i| {
            let decades = low + (high - low) * f64::from(i) / f64::from(steps);
            let quantile = 1.0 - 10f64.powf(-decades);
            (quantile, histogram.value_at_quantile(quantile) as f64 / 1e3)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_runs_from_the_median_to_the_top_and_never_falls() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for ns in 1..=100_000u64 {
            histogram.record(ns * 10).unwrap();
        }
        let points = percentiles(&histogram);
        assert!((points[0].0 - 0.5).abs() < 1e-9);
        assert!((points.last().unwrap().0 - TOP_QUANTILE).abs() < 1e-9);
        assert!(points
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0));
        // The median of 10 ns .. 1 ms is about 500 µs.
        assert!((points[0].1 - 500.0).abs() < 5.0, "{:?}", points[0]);
    }

    #[test]
    fn an_empty_histogram_has_no_points() {
        assert!(percentiles(&Histogram::<u64>::new(3).unwrap()).is_empty());
    }
}
