//! Quantiles of the hourly rollup's latency histograms (`store::hourly`), for the
//! console's latency chart: Prometheus' `histogram_quantile`, read from the
//! stored buckets.

use crate::store::hourly::LATENCY_BOUNDS_MS;

/// The `q` quantile (0..=1) of a latency histogram (bucket upper bound → count),
/// as Prometheus' `histogram_quantile` estimates it: linear within the bucket
/// the rank falls in, from the bucket below's bound (0 for the first); a rank in
/// the `+Inf` bucket answers the highest finite bound. `None` without calls.
pub fn quantile<'a>(q: f64, buckets: impl IntoIterator<Item = (&'a str, i64)>) -> Option<f64> {
    let mut finite: Vec<(i64, i64)> = Vec::new();
    let mut overflow = 0;
    for (bound, n) in buckets {
        match bound.parse::<i64>() {
            Ok(b) => finite.push((b, n)),
            Err(_) => overflow += n,
        }
    }
    finite.sort();
    let total: i64 = finite.iter().map(|(_, n)| n).sum::<i64>() + overflow;
    if total <= 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0_i64;
    for (bound, n) in &finite {
        if *n > 0 && (below + n) as f64 >= rank {
            let within = (rank - below as f64) / *n as f64;
            let lower = lower_bound(*bound) as f64;
            return Some(lower + (*bound as f64 - lower) * within);
        }
        below += n;
    }
    Some(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1] as f64)
}

/// Where the bucket with upper bound `bound` starts: the bound below it in
/// [`LATENCY_BOUNDS_MS`] (only buckets with calls are stored), 0 for the first.
fn lower_bound(bound: i64) -> i64 {
    LATENCY_BOUNDS_MS
        .iter()
        .rev()
        .find(|b| **b < bound)
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram<'a>(pairs: &'a [(&'a str, i64)]) -> impl Iterator<Item = (&'a str, i64)> + Clone {
        pairs.iter().copied()
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_the_rank_falls_in() {
        // 10 calls in (75, 100], 10 in (100, 150]: the median is the first bucket's
        // top, p99 is 98% of the way through the second.
        let h = histogram(&[("100", 10), ("150", 10)]);
        assert_eq!(quantile(0.5, h.clone()), Some(100.0));
        assert!((quantile(0.99, h).unwrap() - 149.0).abs() < 1e-9);
        // The first bucket starts at 0; empty buckets are stepped over.
        let h = histogram(&[("5", 0), ("10", 4), ("+Inf", 0)]);
        assert_eq!(quantile(0.5, h), Some(5.0 + 5.0 * 0.5));
    }

    #[test]
    fn a_bucket_starts_at_the_bound_below_it_even_when_that_bucket_is_not_stored() {
        // Only (75, 100] holds calls: the median is halfway through it, not through (0, 100].
        assert_eq!(quantile(0.5, histogram(&[("100", 3)])), Some(87.5));
        assert_eq!(quantile(0.5, histogram(&[("5", 2)])), Some(2.5));
    }

    #[test]
    fn a_rank_past_every_finite_bucket_answers_the_highest_bound() {
        assert_eq!(
            quantile(0.99, histogram(&[("50", 1), ("+Inf", 99)])),
            Some(60000.0)
        );
        assert_eq!(quantile(0.5, histogram(&[])), None);
    }
}
