//! A fixed-size log-linear histogram for latencies, with percentiles.
//!
//! A latency run at 1,000 subscribers × 1,000 events/s records ten million samples in ten
//! seconds; keeping them all and sorting would cost hundreds of megabytes and a pause at the
//! end. Recording into buckets that are exact below 128 ns and within 1/128 (< 0.8 %) above
//! costs one add per sample and 60 KB per histogram, and histograms of many subscribers merge
//! by adding buckets.

/// Sub-buckets per power of two (precision 1/128).
const SUB_BITS: u32 = 7;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Enough buckets for any u64.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB_COUNT as usize;

/// A histogram of `u64` values (nanoseconds, by convention).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_COUNT {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= SUB_BITS
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) & (SUB_COUNT - 1);
    ((u64::from(exponent - SUB_BITS + 1) << SUB_BITS) + sub) as usize
}

/// Highest value that falls in bucket `index`.
fn bucket_high(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_COUNT {
        return index;
    }
    let shift = (index >> SUB_BITS) - 1;
    let sub = index & (SUB_COUNT - 1);
    let low = (SUB_COUNT + sub) << shift;
    low.saturating_add((1u64 << shift) - 1)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(value)) {
            *c += 1;
        }
        self.total += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest sample (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest sample (0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The `p`-th percentile (0–100) by nearest rank: the smallest recorded bucket value at or
    /// below which at least `p` % of samples lie, reported as the bucket's upper bound clamped
    /// to the observed min and max. 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_high(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut previous = 0;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 1, u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            assert!(bucket_high(b) >= v, "{v}");
            if v < 5000 {
                assert!(b == previous || b == previous + 1, "{v}");
                previous = b;
            }
            // relative precision better than 1/128
            assert!(bucket_high(b) - v <= v / 128 + 1, "{v}: {}", bucket_high(b));
        }
        assert_eq!(bucket_high(bucket_of(u64::MAX)), u64::MAX);
    }

    #[test]
    fn exact_for_small_values() {
        let mut h = Histogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(90.0), 90);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.percentile(0.0), 1);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 100);
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn percentiles_within_precision_and_merge() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for v in 1..=1_000_000u64 {
            if v % 2 == 0 {
                a.record(v * 1000);
            } else {
                b.record(v * 1000);
            }
        }
        a.merge(&b);
        assert_eq!(a.count(), 1_000_000);
        for (p, exact) in [
            (50.0, 500_000_000u64),
            (90.0, 900_000_000),
            (99.0, 990_000_000),
        ] {
            let got = a.percentile(p);
            assert!(got >= exact, "p{p}: {got}");
            assert!(got - exact <= exact / 128, "p{p}: {got} vs {exact}");
        }
        assert_eq!(a.percentile(100.0), 1_000_000_000);
        assert_eq!(a.max(), 1_000_000_000);
        assert!(a.percentile(99.0) >= a.percentile(50.0));
    }

    #[test]
    fn empty_and_single() {
        let h = Histogram::new();
        assert_eq!(h.percentile(50.0), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.mean(), 0.0);
        let mut h = Histogram::new();
        h.record(12_345);
        assert_eq!(h.percentile(1.0), 12_345);
        assert_eq!(h.percentile(99.9), 12_345);
    }
}
