//! Stats: how two sets of samples are compared. Medians, a percentile
//! bootstrap 95 % interval for the relative change of the median (seeded,
//! so a report is reproducible), and the verdict rule: a change is only
//! called when its interval excludes zero. For deterministic (icount)
//! figures, where repeated runs agree to the instruction, the interval is
//! the observed spread of the repeats instead.

use crate::model::perf::Better;
use serde::{Deserialize, Serialize};

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// (max - min) / median: 0 for identical repeats.
pub fn relative_spread(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    let m = median(v);
    if m == 0.0 {
        0.0
    } else {
        (max - min) / m.abs()
    }
}

/// xorshift64*: small, seeded, good enough for resampling.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn index(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Relative change of B's median against A's, in percent.
pub fn delta_pct(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (median(a), median(b));
    if ma == 0.0 {
        return if mb == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (mb / ma - 1.0) * 100.0
}

/// Percentile bootstrap 95 % interval of [`delta_pct`], resampling A and B
/// independently.
pub fn bootstrap_ci_pct(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = Rng(seed | 1);
    let mut deltas = Vec::with_capacity(resamples);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    for _ in 0..resamples {
        for x in ra.iter_mut() {
            *x = a[rng.index(a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.index(b.len())];
        }
        deltas.push(delta_pct(&ra, &rb));
    }
    deltas.sort_by(|x, y| x.total_cmp(y));
    (percentile(&deltas, 0.025), percentile(&deltas, 0.975))
}

/// Percentile bootstrap 95 % interval of one sample set's median.
pub fn bootstrap_median_ci(v: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = Rng(seed | 1);
    let mut r = vec![0.0; v.len()];
    let mut meds = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for x in r.iter_mut() {
            *x = v[rng.index(v.len())];
        }
        meds.push(median(&r));
    }
    meds.sort_by(|a, b| a.total_cmp(b));
    (percentile(&meds, 0.025), percentile(&meds, 0.975))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// B is better than A beyond the noise.
    Better,
    /// B is worse than A beyond the noise.
    Worse,
    NoSignificantChange,
    /// Too few samples to say (e.g. one build of each).
    NotTested,
}

impl Verdict {
    pub fn words(self, better: Better, time_like: bool) -> &'static str {
        match (self, time_like, better) {
            (Verdict::Better, true, _) => "faster",
            (Verdict::Worse, true, _) => "slower",
            (Verdict::Better, false, Better::Lower) => "smaller",
            (Verdict::Worse, false, Better::Lower) => "larger",
            (Verdict::Better, false, Better::Higher) => "higher",
            (Verdict::Worse, false, Better::Higher) => "lower",
            (Verdict::NoSignificantChange, _, _) => "no significant change",
            (Verdict::NotTested, _, _) => "single sample",
        }
    }
}

/// The comparison of one metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub a_median: f64,
    pub b_median: f64,
    pub delta_pct: f64,
    pub ci_low_pct: f64,
    pub ci_high_pct: f64,
    pub verdict: Verdict,
}

fn verdict_from_interval(lo: f64, hi: f64, better: Better) -> Verdict {
    let b_bigger = lo > 0.0;
    let b_smaller = hi < 0.0;
    match (b_bigger, b_smaller, better) {
        (true, _, Better::Lower) | (_, true, Better::Higher) => Verdict::Worse,
        (_, true, Better::Lower) | (true, _, Better::Higher) => Verdict::Better,
        _ => Verdict::NoSignificantChange,
    }
}

/// Noisy samples (wall time): bootstrap interval; a verdict only when it
/// excludes zero. Fewer than 3 samples a side: no verdict.
pub fn compare_noisy(a: &[f64], b: &[f64], better: Better) -> Comparison {
    let delta = delta_pct(a, b);
    if a.len() < 3 || b.len() < 3 {
        return Comparison {
            a_median: median(a),
            b_median: median(b),
            delta_pct: delta,
            ci_low_pct: f64::NAN,
            ci_high_pct: f64::NAN,
            verdict: Verdict::NotTested,
        };
    }
    let (lo, hi) = bootstrap_ci_pct(a, b, 2000, 0x1f0_c0ffee);
    Comparison {
        a_median: median(a),
        b_median: median(b),
        delta_pct: delta,
        ci_low_pct: lo,
        ci_high_pct: hi,
        verdict: verdict_from_interval(lo, hi, better),
    }
}

/// Deterministic figures (icount, sizes): the interval is the delta widened
/// by the larger observed spread of the repeats (plus a 0.01 % floor for
/// icount figures that were only run once).
pub fn compare_exact(a: &[f64], b: &[f64], better: Better, floor_pct: f64) -> Comparison {
    let delta = delta_pct(a, b);
    let band = (relative_spread(a).max(relative_spread(b)) * 100.0).max(floor_pct);
    let (lo, hi) = (delta - band, delta + band);
    Comparison {
        a_median: median(a),
        b_median: median(b),
        delta_pct: delta,
        ci_low_pct: lo,
        ci_high_pct: hi,
        verdict: if a.is_empty() || b.is_empty() {
            Verdict::NotTested
        } else {
            verdict_from_interval(lo, hi, better)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn clearly_separated_samples_get_a_verdict() {
        let a: Vec<f64> = (0..20).map(|i| 100.0 + (i % 5) as f64).collect();
        let b: Vec<f64> = (0..20).map(|i| 120.0 + (i % 5) as f64).collect();
        let c = compare_noisy(&a, &b, Better::Lower);
        assert!(c.ci_low_pct > 10.0 && c.ci_high_pct < 30.0, "{c:?}");
        assert_eq!(c.verdict, Verdict::Worse);
        assert_eq!(
            compare_noisy(&b, &a, Better::Lower).verdict,
            Verdict::Better
        );
        assert_eq!(c.verdict.words(Better::Lower, true), "slower");
    }

    #[test]
    fn overlapping_noise_gets_no_verdict() {
        let a: Vec<f64> = (0..15).map(|i| 100.0 + ((i * 7) % 11) as f64).collect();
        let b: Vec<f64> = (0..15).map(|i| 100.5 + ((i * 5) % 11) as f64).collect();
        let c = compare_noisy(&a, &b, Better::Lower);
        assert!(c.ci_low_pct < 0.0 && c.ci_high_pct > 0.0, "{c:?}");
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
    }

    #[test]
    fn bootstrap_is_reproducible() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            bootstrap_ci_pct(&a, &b, 500, 7),
            bootstrap_ci_pct(&a, &b, 500, 7)
        );
    }

    #[test]
    fn exact_figures_use_the_spread_of_repeats() {
        // Identical repeats: any change beyond the 0.01 % floor is real.
        let c = compare_exact(&[1000.0, 1000.0], &[1010.0, 1010.0], Better::Lower, 0.01);
        assert_eq!(c.verdict, Verdict::Worse);
        assert!((c.delta_pct - 1.0).abs() < 1e-9);
        // Repeats that wander by 2 % swallow a 1 % change.
        let c = compare_exact(
            &[1000.0, 1020.0, 1010.0],
            &[1020.0, 1020.0],
            Better::Lower,
            0.01,
        );
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
        assert_eq!(
            compare_noisy(&[1.0], &[2.0], Better::Lower).verdict,
            Verdict::NotTested
        );
    }
}
