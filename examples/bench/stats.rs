//! Latency samples and their summary (median, p99), and throughput counts.

use std::time::Duration;

/// Median and 99th percentile of a series, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub median_ms: f64,
    pub p99_ms: f64,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        Latency {
            median_ms: percentile(&ms, 0.50),
            p99_ms: percentile(&ms, 0.99),
        }
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// `a / b` as "1.23x".
pub fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}
