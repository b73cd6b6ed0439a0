//! A group of runs (seeds of one configuration) drawn as one curve: the training loss as its mean with a ± one
//! standard deviation band, and the DET as the group's mean curve.
//!
//! The DET is averaged vertically on probit axes (at each false-alarm rate, the mean of the runs' normal-deviate
//! miss rates), not pooled from the runs' scores: each seed's model has its own cosine-score scale and offset,
//! so pooling their scores under one threshold mixes the distributions and draws a curve worse than any of the
//! runs (it measures miscalibration between seeds, not the method). The mean curve is what a reader expects of
//! "the method's DET", and its spread follows the runs' EER spread.

use crate::eval::det::{clamped_probit, normal_cdf};

/// Points of the mean DET curve.
const DET_POINTS: usize = 120;

/// `[x, mean, std]` of `series` (each sorted by x) at every x that all of them have; the sample std (n − 1),
/// 0 for one series.
pub fn mean_band(series: &[Vec<[f64; 2]>]) -> Vec<[f64; 3]> {
    let n = series.len();
    if n == 0 {
        return Vec::new();
    }
    // x as its bits: steps and layer indices are non-negative, where the bits order as the values do.
    let mut at: std::collections::BTreeMap<u64, Vec<f64>> = std::collections::BTreeMap::new();
    for s in series {
        for p in s {
            at.entry(p[0].to_bits()).or_default().push(p[1]);
        }
    }
    at.into_iter()
        .filter(|(_, ys)| ys.len() == n)
        .map(|(x, ys)| {
            let mean = ys.iter().sum::<f64>() / n as f64;
            let var = if n > 1 {
                ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64
            } else {
                0.0
            };
            [f64::from_bits(x), mean, var.sqrt()]
        })
        .collect()
}

/// A DET curve's miss rate (probit) at false-alarm rate `x` (probit), linearly between its points.
fn miss_at(curve: &[[f64; 2]], x: f64) -> f64 {
    let i = curve.partition_point(|p| p[0] < x);
    match i {
        0 => curve[0][1],
        i if i == curve.len() => curve[i - 1][1],
        i if curve[i][0] == x => curve[i][1],
        i => {
            let (a, b) = (curve[i - 1], curve[i]);
            a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])
        }
    }
}

/// The mean of DET curves (`[p_fa, p_miss]` fractions, as `eval` events store them), averaged vertically on
/// probit axes over the false-alarm rates that every curve covers; `[p_fa, p_miss]` fractions.
pub fn mean_det(curves: &[&[[f64; 2]]]) -> Vec<[f64; 2]> {
    let probit_curves: Vec<Vec<[f64; 2]>> = curves
        .iter()
        .filter(|c| c.len() >= 2)
        .map(|c| {
            let mut p: Vec<[f64; 2]> = c.iter().map(|q| [clamped_probit(q[0]), clamped_probit(q[1])]).collect();
            // Along rising false alarms; at one false-alarm rate the lowest miss rate first.
            p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
            p
        })
        .collect();
    if probit_curves.is_empty() {
        return Vec::new();
    }
    let lo = probit_curves.iter().map(|c| c[0][0]).fold(f64::MIN, f64::max);
    let hi = probit_curves.iter().map(|c| c[c.len() - 1][0]).fold(f64::MAX, f64::min);
    if hi <= lo {
        return Vec::new();
    }
    (0..DET_POINTS)
        .map(|i| {
            let x = lo + (hi - lo) * i as f64 / (DET_POINTS - 1) as f64;
            let y = probit_curves.iter().map(|c| miss_at(c, x)).sum::<f64>() / probit_curves.len() as f64;
            [normal_cdf(x), normal_cdf(y)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_is_the_mean_and_sample_std_where_every_run_has_a_point() {
        let a = vec![[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]];
        let b = vec![[0.0, 3.0], [1.0, 4.0]];
        let band = mean_band(&[a, b]);
        assert_eq!(band.len(), 2, "step 2 only one run reached");
        assert_eq!(band[0], [0.0, 2.0, 2f64.sqrt()]);
        assert_eq!(band[1][1], 3.0);
    }

    #[test]
    fn the_mean_det_of_two_curves_lies_between_them_on_probit_axes() {
        // Two straight DET lines on probit axes, one a constant 0.5 deviate above the other.
        let line = |shift: f64| -> Vec<[f64; 2]> {
            (0..50)
                .map(|i| {
                    let x = -3.0 + 6.0 * i as f64 / 49.0;
                    [normal_cdf(x), normal_cdf(-x + shift)]
                })
                .collect()
        };
        let (a, b) = (line(0.0), line(0.5));
        let mean = mean_det(&[&a, &b]);
        assert_eq!(mean.len(), DET_POINTS);
        for p in &mean {
            let (x, y) = (clamped_probit(p[0]), clamped_probit(p[1]));
            assert!((y - (-x + 0.25)).abs() < 1e-3, "at {x}: {y}");
        }
        // The mean of one curve is the curve.
        let one = mean_det(&[&a]);
        assert!(one
            .iter()
            .all(|p| (clamped_probit(p[1]) + clamped_probit(p[0])).abs() < 1e-3));
    }
}
