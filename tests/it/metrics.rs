//! Verification metrics and DET curves against independent references: the scikit-learn/SciPy numbers in
//! `tests/fixtures/metrics/expected.json` (made by `make_reference.py` there), order independence under ties,
//! Gaussian theory for DET curves, and the `adaptsv metrics` command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use adaptsv::eval::{compute_metrics, llr_metrics, probit, read_scores, DcfParams, DetCurve, ErrorCurve, Metrics};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("fixture expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `null` in the fixture stands for the reject-all threshold `+∞`.
fn threshold(v: &Value) -> f64 {
    if v.is_null() {
        f64::INFINITY
    } else {
        num(v)
    }
}

fn assert_close(what: &str, actual: f64, expected: f64) {
    let ok = if expected.is_infinite() {
        actual == expected
    } else {
        (actual - expected).abs() <= TOLERANCE
    };
    assert!(ok, "{what}: got {actual}, reference {expected}");
}

fn pairs_of(file: &str) -> Vec<(f64, bool)> {
    read_scores(&fixture(file))
        .expect("fixture score file")
        .iter()
        .map(|t| t.pair())
        .collect()
}

#[test]
fn metrics_agree_with_independent_reference() {
    let expected = expected();
    let p_targets: Vec<f64> = expected["p_targets"].as_array().unwrap().iter().map(num).collect();
    let params: Vec<DcfParams> = p_targets.iter().map(|&p| DcfParams::new(p)).collect();
    let sets = expected["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 4);
    for (name, reference) in sets {
        let pairs = pairs_of(reference["file"].as_str().unwrap());
        let m = compute_metrics(pairs.iter().copied(), &p_targets).unwrap();
        assert_eq!(m.n_target as u64, reference["n_target"].as_u64().unwrap(), "{name}");
        assert_eq!(
            m.n_nontarget as u64,
            reference["n_nontarget"].as_u64().unwrap(),
            "{name}"
        );
        assert_close(&format!("{name} EER"), m.eer.rate, num(&reference["eer"]));
        assert_close(
            &format!("{name} EER threshold"),
            m.eer.threshold,
            num(&reference["eer_threshold"]),
        );
        for (got, want) in m.min_dcf.iter().zip(reference["min_dcf"].as_array().unwrap()) {
            let p = num(&want["p_target"]);
            assert_eq!(got.params.p_target, p);
            assert_close(&format!("{name} minDCF({p})"), got.value, num(&want["value"]));
            assert_close(
                &format!("{name} minDCF({p}) threshold"),
                got.threshold,
                threshold(&want["threshold"]),
            );
        }

        let llr = llr_metrics(pairs.iter().copied(), &params).unwrap();
        assert_close(&format!("{name} Cllr"), llr.cllr, num(&reference["cllr"]));
        for (got, want) in llr.act_dcf.iter().zip(reference["act_dcf"].as_array().unwrap()) {
            assert_close(
                &format!("{name} actDCF({})", got.params.p_target),
                got.value,
                num(&want["value"]),
            );
        }
    }
}

#[test]
fn probit_matches_scipy_ndtri() {
    for pair in expected()["probit"].as_array().unwrap() {
        // p is stored as a string so it parses to the exact double SciPy was given.
        let p: f64 = pair[0].as_str().unwrap().parse().unwrap();
        let reference = num(&pair[1]);
        let error = (probit(p) - reference).abs() / reference.abs().max(1.0);
        assert!(error < 1e-14, "probit({p}) = {}, SciPy {reference}", probit(p));
    }
}

/// Every figure of a score set, for bit-exact comparison.
fn all_figures(pairs: &[(f64, bool)]) -> (ErrorCurve, Metrics, adaptsv::eval::LlrMetrics, DetCurve) {
    let curve = ErrorCurve::new(pairs.iter().copied()).unwrap();
    let params = [DcfParams::new(0.01), DcfParams::new(0.05)];
    let metrics = Metrics::from_curve(&curve, &params).unwrap();
    let llr = llr_metrics(pairs.iter().copied(), &params).unwrap();
    let det = DetCurve::from_curve(&curve).reduced(50);
    (curve, metrics, llr, det)
}

#[test]
fn shuffling_tied_scores_changes_nothing() {
    let mut pairs = pairs_of("ties.txt");
    let original = all_figures(&pairs);
    // The fixture really is tie-heavy: far fewer distinct scores than trials, ties across classes included.
    assert!(original.0.len() < 100, "{} operating points", original.0.len());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..5 {
        pairs.shuffle(&mut rng);
        assert_eq!(all_figures(&pairs), original);
    }
    // Reversing puts tied trials in the opposite order within each tie.
    pairs.reverse();
    assert_eq!(all_figures(&pairs), original);
}

/// Samples `n` target scores from N(d', 1) and `n` non-target scores from N(0, 1).
fn gaussian_trials(d_prime: f64, n: usize, seed: u64) -> Vec<(f64, bool)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (tar, non) = (Normal::new(d_prime, 1.0).unwrap(), Normal::new(0.0, 1.0).unwrap());
    (0..n)
        .flat_map(|_| [(tar.sample(&mut rng), true), (non.sample(&mut rng), false)])
        .collect()
}

/// Standard normal density.
fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Target ~ N(d', 1), non-target ~ N(0, 1), accept if score ≥ t:
/// P_fa = 1 − Φ(t) = Φ(−t), so probit(P_fa) = −t; P_miss = Φ(t − d'), so probit(P_miss) = t − d'.
/// Hence the DET curve is the line probit(P_miss) = −probit(P_fa) − d' (slope −1, EER = Φ(−d'/2)).
#[test]
fn det_of_two_gaussians_lies_on_the_theoretical_line() {
    let (d_prime, n) = (2.0, 100_000);
    let curve = ErrorCurve::new(gaussian_trials(d_prime, n, 42)).unwrap();
    let det = DetCurve::from_curve(&curve);

    let mut checked = 0;
    for p in det.points() {
        // Central region: both rates between 1 % and 99 %.
        if !(0.01..=0.99).contains(&p.p_fa) || !(0.01..=0.99).contains(&p.p_miss) {
            continue;
        }
        // Sampling noise of an empirical rate q from n trials, on probit axes: sqrt(q(1−q)/n) / φ(probit(q)).
        let sd = |q: f64, z: f64| (q * (1.0 - q) / n as f64).sqrt() / phi(z);
        let tolerance = 5.0 * sd(p.p_fa, p.x).hypot(sd(p.p_miss, p.y));
        let deviation = p.y - (-p.x - d_prime);
        assert!(
            deviation.abs() < tolerance,
            "point {p:?} is {deviation} off the line (tolerance {tolerance})"
        );
        checked += 1;
    }
    assert!(checked > 10_000, "only {checked} central points");

    // EER = Φ(−d'/2) = Φ(−1) = 0.158655…; its sampling sd here is about 0.001.
    assert!(
        (det.eer().rate - 0.158_655_253_931_457_05).abs() < 0.005,
        "EER {}",
        det.eer().rate
    );
    assert!((det.eer_probit() + d_prime / 2.0).abs() < 0.02);
}

#[test]
fn det_reduction_keeps_extremes_the_eer_segment_and_the_shape() {
    let curve = ErrorCurve::new(gaussian_trials(2.0, 20_000, 3)).unwrap();
    let full = DetCurve::from_curve(&curve);
    let reduced = full.reduced(300);
    let (f, r) = (full.points(), reduced.points());
    assert!(r.len() <= 300 && r.len() > 290, "{} points", r.len());
    assert_eq!(r.first(), f.first());
    assert_eq!(r.last(), f.last());
    assert_eq!(reduced.eer(), full.eer());
    // Every kept point is an original one, in order.
    assert!(r.windows(2).all(|w| w[0].threshold < w[1].threshold));
    assert!(r
        .iter()
        .all(|p| f.binary_search_by(|q| q.threshold.total_cmp(&p.threshold)).is_ok()));
    // The two points bracketing the EER crossing survive.
    let x1 = f.iter().position(|p| p.p_miss >= p.p_fa).unwrap();
    assert!(r.contains(&f[x1 - 1]) && r.contains(&f[x1]));
    // Shape: no gap between kept points is much longer than the even spacing of arc length.
    let length: f64 = f.windows(2).map(|w| (w[1].x - w[0].x).hypot(w[1].y - w[0].y)).sum();
    let longest_full_step = f
        .windows(2)
        .map(|w| (w[1].x - w[0].x).hypot(w[1].y - w[0].y))
        .fold(0.0, f64::max);
    let spacing = length / 296.0;
    for w in r.windows(2) {
        let gap = (w[1].x - w[0].x).hypot(w[1].y - w[0].y);
        assert!(
            gap <= spacing + longest_full_step + 1e-9,
            "gap {gap} vs spacing {spacing}"
        );
    }
    // Small budgets still keep the four anchor points.
    assert_eq!(full.reduced(1).points().len(), 4);
}

fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .arg("metrics")
        .args(args)
        .output()
        .expect("run adaptsv")
}

#[test]
fn cli_json_reports_the_reference_numbers() {
    let expected = expected();
    let reference = &expected["sets"]["small_overlap"];
    let path = fixture("small_overlap.txt");
    let out = run_cli(&[
        "--scores",
        path.to_str().unwrap(),
        "--json",
        "--p-target",
        "0.01",
        "--p-target",
        "0.5",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object on one line: {stdout}"
    );
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["eer", "eer_threshold", "min_dcf", "n_nontarget", "n_target"]);
    assert_close("EER", num(&json["eer"]), num(&reference["eer"]));
    assert_close(
        "EER threshold",
        num(&json["eer_threshold"]),
        num(&reference["eer_threshold"]),
    );
    assert_eq!(json["n_target"], reference["n_target"]);
    assert_eq!(json["n_nontarget"], reference["n_nontarget"]);
    let min_dcf = json["min_dcf"].as_object().unwrap();
    assert_eq!(min_dcf.len(), 2);
    assert_close(
        "minDCF(0.01)",
        num(&min_dcf["0.01"]),
        num(&reference["min_dcf"][0]["value"]),
    );
    assert_close(
        "minDCF(0.5)",
        num(&min_dcf["0.5"]),
        num(&reference["min_dcf"][3]["value"]),
    );
}

#[test]
fn cli_table_shows_units_and_default_priors() {
    let out = run_cli(&["--scores", fixture("small_overlap.txt").to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("EER               33.3333 %"), "{stdout}");
    assert!(
        stdout.contains("minDCF (P=0.01)") && stdout.contains("minDCF (P=0.05)"),
        "{stdout}"
    );
    assert!(stdout.contains("11  (5 target, 6 non-target)"), "{stdout}");
}

#[test]
fn cli_names_file_and_line_of_a_malformed_score() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, "a b 0.5 target\nc d 0.1 nontarget\ne f 0.3 maybe\n").unwrap();
    let out = run_cli(&["--scores", path.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial JSON on failure");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&format!("{}:3:", path.display())), "{stderr}");
    assert!(stderr.contains("label 'maybe'"), "{stderr}");
}

#[test]
fn cli_rejects_a_prior_outside_zero_one() {
    let out = run_cli(&[
        "--scores",
        fixture("small_overlap.txt").to_str().unwrap(),
        "--p-target",
        "1.5",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("strictly between 0 and 1"));
}

/// `adaptsv calibrate` against the independent reference of `tests/fixtures/calibration/make_reference.py`
/// (scikit-learn's unpenalised logistic regression with prior weights; its isotonic regression for min Cllr):
/// scale, offset, Cllr before and after, min Cllr and the Bayes thresholds within 1e-6, at two fitting priors;
/// the calibrated file holds `scale · score + offset` line for line.
#[test]
fn calibrate_matches_the_reference_calibration() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calibration");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for fit in expected["fits"].as_array().unwrap() {
        let out_file = tmp.path().join("calibrated.txt");
        let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
            .args(["calibrate", "--json", "--threshold-prior", "0.01", "--threshold-prior", "0.05", "--prior"])
            .arg(num(&fit["prior"]).to_string())
            .arg("--scores")
            .arg(dir.join("calibration.txt"))
            .arg("--apply")
            .arg(dir.join("evaluation.txt"))
            .arg("--out")
            .arg(&out_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let close = |key: &str, want: f64, got: f64| {
            assert!((want - got).abs() < 1e-6, "prior {}: {key} {got} vs reference {want}", fit["prior"]);
        };
        close("scale", num(&fit["scale"]), num(&got["scale"]));
        close("offset", num(&fit["offset"]), num(&got["offset"]));
        close("cllr_after", num(&fit["cllr_after"]), num(&got["cllr_after"]));
        close("cllr_before", num(&expected["cllr_before"]), num(&got["cllr_before"]));
        close("min_cllr", num(&expected["min_cllr"]), num(&got["min_cllr"]));
        for (want, have) in fit["thresholds"].as_array().unwrap().iter().zip(got["thresholds"].as_array().unwrap()) {
            assert_eq!(want["p_target"], have["p_target"]);
            close("threshold llr", num(&want["llr"]), num(&have["llr"]));
            close("threshold score", num(&want["score"]), num(&have["score"]));
        }
        let raw = read_scores(&dir.join("evaluation.txt")).unwrap();
        let calibrated = read_scores(&out_file).unwrap();
        assert_eq!(raw.len(), calibrated.len());
        let (a, b) = (num(&got["scale"]), num(&got["offset"]));
        for (r, c) in raw.iter().zip(&calibrated) {
            assert_eq!((&r.enroll, &r.test, r.is_target), (&c.enroll, &c.test, c.is_target));
            assert!((c.score - (a * r.score + b)).abs() < 1e-9);
        }
    }
}
