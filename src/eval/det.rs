//! DET (detection error trade-off) curves: miss against false-alarm rate on normal-deviate axes.
//!
//! On probit axes (`x = Φ⁻¹(P_fa)`, `y = Φ⁻¹(P_miss)`) a system whose target and non-target scores are Gaussian
//! with equal variance draws a straight line of slope −1, which is why speaker-verification papers plot DET curves
//! this way. This module converts an [`ErrorCurve`] into such points, supplies the NIST tick positions, and thins a
//! curve of hundreds of thousands of operating points to a few hundred for drawing without changing its shape.
//!
//! **Clamping.** Rates of exactly 0 or 1 have no finite probit. Every rate is clamped to
//! `[RATE_FLOOR, 1 − RATE_FLOOR]` (`RATE_FLOOR = 1e-8`, i.e. probit values within ±5.612) before the transform.
//! Any trial list with fewer than 10⁸ trials per class keeps every non-zero rate distinct from zero; plots
//! normally show only 0.1 %–40 % anyway (see [`nist_ticks`]).

use super::metrics::{Eer, ErrorCurve};

/// Smallest rate kept distinct on probit axes; 0 and 1 are clamped to `RATE_FLOOR` and `1 − RATE_FLOOR`.
pub const RATE_FLOOR: f64 = 1e-8;

/// The tick rates of NIST DET plots, as fractions.
pub const NIST_TICK_RATES: [f64; 9] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4];

/// Labels of [`NIST_TICK_RATES`], in percent.
const NIST_TICK_LABELS: [&str; 9] = ["0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "40"];

/// NIST DET ticks as `(probit value, label in %)` pairs, for both axes.
pub fn nist_ticks() -> [(f64, &'static str); 9] {
    std::array::from_fn(|i| (probit(NIST_TICK_RATES[i]), NIST_TICK_LABELS[i]))
}

/// Inverse of the standard normal CDF, `Φ⁻¹(p)`: the normal deviate below which a fraction `p` of the mass lies.
///
/// Wichura's algorithm AS 241 (`PPND16`, Applied Statistics 37(3), 1988): rational approximations on three
/// ranges, relative accuracy about 1e-16 across the whole double range. The tests check it against SciPy's
/// `ndtri` to 1e-14 (relative; absolute where |z| < 1) for p from 1e-300 to 1 − 2⁻⁵².
///
/// Returns `−∞` for `p <= 0`, `+∞` for `p >= 1` and NaN for NaN; use [`clamped_probit`] for error rates.
// The coefficients keep all the digits Wichura published, so they can be checked against the paper.
#[allow(clippy::excessive_precision)]
pub fn probit(p: f64) -> f64 {
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];

    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    // Tail: work with the smaller of p and 1 − p, then restore the sign.
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-tail.ln()).sqrt();
    let z = if r <= 5.0 {
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 {
        -z
    } else {
        z
    }
}

/// Horner evaluation of `c[0] + c[1]·x + … + c[7]·x⁷`.
fn poly(c: &[f64; 8], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

/// [`probit`] of a rate clamped to `[RATE_FLOOR, 1 − RATE_FLOOR]`, so 0 and 1 map to finite values (±5.612).
pub fn clamped_probit(rate: f64) -> f64 {
    probit(rate.clamp(RATE_FLOOR, 1.0 - RATE_FLOOR))
}

/// The standard normal CDF Φ(z), the inverse of [`probit`], to about 1e-7 absolute (Abramowitz & Stegun
/// 26.2.17). Used to label probit-axis positions; not used by any metric.
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let t = 1.0 / (1.0 + 0.231_641_9 * z.abs());
    let poly =
        t * (0.319_381_530 + t * (-0.356_563_782 + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
    let tail = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly;
    if z >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// One operating point of a DET curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetPoint {
    /// Accept rule `score >= threshold`; `+∞` for the reject-all point.
    pub threshold: f64,
    /// False-alarm rate, a fraction.
    pub p_fa: f64,
    /// Miss rate, a fraction.
    pub p_miss: f64,
    /// `clamped_probit(p_fa)`: the horizontal plot coordinate.
    pub x: f64,
    /// `clamped_probit(p_miss)`: the vertical plot coordinate.
    pub y: f64,
}

/// A DET curve: operating points in increasing threshold order (P_fa falling, P_miss rising), and its EER.
#[derive(Debug, Clone, PartialEq)]
pub struct DetCurve {
    points: Vec<DetPoint>,
    eer: Eer,
}

impl DetCurve {
    /// One point per threshold of `curve` (every distinct score plus the reject-all point).
    pub fn from_curve(curve: &ErrorCurve) -> Self {
        let points = curve
            .thresholds()
            .iter()
            .zip(curve.p_fa().iter().zip(curve.p_miss()))
            .map(|(&threshold, (&p_fa, &p_miss))| DetPoint {
                threshold,
                p_fa,
                p_miss,
                x: clamped_probit(p_fa),
                y: clamped_probit(p_miss),
            })
            .collect();
        Self {
            points,
            eer: curve.eer(),
        }
    }

    /// The operating points, thresholds increasing.
    pub fn points(&self) -> &[DetPoint] {
        &self.points
    }

    /// The EER of the full curve (kept unchanged by [`Self::reduced`]).
    pub fn eer(&self) -> Eer {
        self.eer
    }

    /// Where to mark the EER: the probit of the EER, on the diagonal `x = y`.
    pub fn eer_probit(&self) -> f64 {
        clamped_probit(self.eer.rate)
    }

    /// A copy with at most `max_points` points (at least 4), for plotting.
    ///
    /// Keeps both extremes, the two points on either side of the EER crossing, and points spread evenly along
    /// the curve's arc length in probit space: walking the curve, a point is kept once the arc length since the last
    /// kept point reaches a step, the smallest step (found by bisection) that fits the budget. Steep and flat parts
    /// are thus drawn with equal care, and a single long segment (e.g. to a clamped 0 % rate) costs one point.
    /// O(n) per bisection step, at most 60 steps. A curve that already fits is returned whole.
    pub fn reduced(&self, max_points: usize) -> Self {
        let max_points = max_points.max(4);
        let n = self.points.len();
        if n <= max_points {
            return self.clone();
        }
        // cumulative[k]: arc length in probit space from point 0 to point k.
        let mut cumulative = Vec::with_capacity(n);
        let mut length = 0.0;
        cumulative.push(0.0);
        for pair in self.points.windows(2) {
            length += (pair[1].x - pair[0].x).hypot(pair[1].y - pair[0].y);
            cumulative.push(length);
        }

        let eer_index = self.eer_index();
        let mut keep = vec![0, n - 1, eer_index - 1, eer_index];
        let budget = max_points - keep.len();
        // count(step) does not increase with step; find the smallest step whose count fits the budget.
        let (mut lo, mut hi) = (0.0, length);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            let count = spaced_points(&cumulative, mid, |_| ());
            if count <= budget {
                hi = mid;
                if count == budget {
                    break;
                }
            } else {
                lo = mid;
            }
        }
        if hi > 0.0 {
            spaced_points(&cumulative, hi, |k| keep.push(k));
        }
        keep.sort_unstable();
        keep.dedup();
        Self {
            points: keep.into_iter().map(|k| self.points[k]).collect(),
            eer: self.eer,
        }
    }

    /// Index of the first point with `P_miss >= P_fa` (the upper end of the EER segment), in `1..len`.
    fn eer_index(&self) -> usize {
        // P_miss − P_fa increases along the curve; the clamp only guards the two ends.
        let x1 = self.points.partition_point(|p| p.p_miss < p.p_fa);
        x1.clamp(1, self.points.len() - 1)
    }
}

/// Walks the curve and reports (to `keep`) each point at least `step` of arc length past the last reported one,
/// starting from point 0 (not reported); returns how many were reported.
fn spaced_points(cumulative: &[f64], step: f64, mut keep: impl FnMut(usize)) -> usize {
    let (mut last, mut count) = (0.0, 0);
    for (k, &c) in cumulative.iter().enumerate().skip(1) {
        if c - last >= step {
            keep(k);
            last = c;
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_inverts_probit() {
        for p in [1e-4, 0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.99] {
            assert!((normal_cdf(probit(p)) - p).abs() < 1e-7, "p = {p}");
        }
    }

    #[test]
    fn probit_is_antisymmetric_and_matches_known_quantiles() {
        assert_eq!(probit(0.5), 0.0);
        for p in [1e-5, 0.01, 0.2, 0.4] {
            // 1 − p is rounded, so antisymmetry holds to rounding, not bit for bit.
            assert!((probit(p) + probit(1.0 - p)).abs() < 1e-9 * probit(p).abs());
        }
        // Φ(1.96) ≈ 0.975 and Φ(1) = 0.8413447460685429 (standard tables).
        assert!((probit(0.975) - 1.959_963_984_540_054).abs() < 1e-14);
        assert!((probit(0.841_344_746_068_542_9) - 1.0).abs() < 1e-14);
    }

    #[test]
    fn probit_edges() {
        assert_eq!(probit(0.0), f64::NEG_INFINITY);
        assert_eq!(probit(1.0), f64::INFINITY);
        assert!(probit(f64::NAN).is_nan());
        assert!((clamped_probit(0.0) + 5.612).abs() < 1e-3);
        assert!(clamped_probit(1.0) > 5.6);
    }

    #[test]
    fn ticks_are_increasing_and_labelled_in_percent() {
        let ticks = nist_ticks();
        assert!(ticks.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(ticks[3].1, "1");
        assert!((ticks[3].0 - probit(0.01)).abs() == 0.0);
    }
}
