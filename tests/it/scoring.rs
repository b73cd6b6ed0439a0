//! Score files, cosine scoring of trials from embeddings, and S-norm / AS-norm, checked against direct
//! computations written out here in `f64`.

use std::collections::HashMap;
use std::path::Path;

use adaptsv::eval::{
    parse_scores, read_scores, score_trials, write_scores, CohortStats, EvalError, Matrix, NormMethod, ScoreNormalizer,
    ScoredTrial,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn parse_error(text: &str) -> (usize, String) {
    match parse_scores(text, Path::new("dir/scores.txt")) {
        Err(err @ EvalError::ScoreLine { line, .. }) => (line, err.to_string()),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn malformed_score_lines_name_file_line_and_problem() {
    let good = "a b 0.5 target\n";
    let cases = [
        ("a b 0.5\n", "expected 4 fields"),
        ("a b 0.5 target extra\n", "found 5"),
        ("a b zero target\n", "score 'zero' is not a number"),
        ("a b NaN target\n", "not finite"),
        ("a b inf 1\n", "not finite"),
        ("a b 0.5 tgt\n", "label 'tgt'"),
        ("a b 0.5 2\n", "label '2'"),
    ];
    for (bad, message) in cases {
        let (line, text) = parse_error(&format!("{good}\n{bad}"));
        assert_eq!(line, 3, "{bad:?}");
        assert!(text.starts_with("dir/scores.txt:3: "), "{text}");
        assert!(text.contains(message), "{bad:?}: {text}");
    }
}

#[test]
fn missing_score_file_is_named() {
    let err = read_scores(Path::new("/nonexistent/scores.txt")).unwrap_err();
    assert!(matches!(err, EvalError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/scores.txt"), "{err}");
}

#[test]
fn written_scores_read_back_exactly() {
    let trials: Vec<ScoredTrial> = [0.1 + 0.2, -1e-300, 123456.789, 5e-324, -0.0, 1.0 / 3.0]
        .iter()
        .enumerate()
        .map(|(i, &score)| ScoredTrial {
            enroll: format!("id1/{i}.wav"),
            test: format!("id2/{i}.wav"),
            score,
            is_target: i % 2 == 0,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.txt");
    write_scores(&path, &trials).unwrap();
    let back = read_scores(&path).unwrap();
    assert_eq!(back.len(), trials.len());
    for (a, b) in back.iter().zip(&trials) {
        assert_eq!((&a.enroll, &a.test, a.is_target), (&b.enroll, &b.test, b.is_target));
        assert_eq!(a.score.to_bits(), b.score.to_bits(), "{} vs {}", a.score, b.score);
    }
}

#[test]
fn ids_with_spaces_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.txt");
    let trial = ScoredTrial {
        enroll: "my recordings/a.wav".into(),
        test: "b.wav".into(),
        score: 0.5,
        is_target: true,
    };
    let err = write_scores(&path, &[trial]).unwrap_err();
    assert!(matches!(&err, EvalError::IdWithWhitespace { id, .. } if id == "my recordings/a.wav"));
    assert!(!path.exists());
}

fn random_embeddings(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    (0..n)
        .map(|_| (0..dim).map(|_| normal.sample(&mut rng)).collect())
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn embedding_map(vectors: Vec<Vec<f32>>) -> HashMap<String, Vec<f32>> {
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("utt{i}"), v))
        .collect()
}

#[test]
fn cosine_scoring_matches_direct_computation_and_reports_gaps() {
    let map = embedding_map(random_embeddings(20, 37, 1));
    let names: Vec<String> = (0..20).map(|i| format!("utt{i}")).collect();
    let trials: Vec<(&str, &str, bool)> = (0..60)
        .map(|k| (names[k % 20].as_str(), names[(k * 7 + 3) % 20].as_str(), k % 3 == 0))
        .collect();
    let scored = score_trials(trials.iter().copied(), &map).unwrap();
    assert_eq!(scored.len(), 60);
    for (s, (e, t, target)) in scored.iter().zip(&trials) {
        assert_eq!((s.enroll.as_str(), s.test.as_str(), s.is_target), (*e, *t, *target));
        assert!((s.score - cosine(&map[*e], &map[*t])).abs() < 1e-5);
    }

    let missing = score_trials([("utt1", "utt2", true), ("utt3", "nobody", false)], &map).unwrap_err();
    assert!(matches!(&missing, EvalError::MissingEmbedding { trial: 1, key, available: 20 } if key == "nobody"));

    let mut ragged = map.clone();
    ragged.insert("short".into(), vec![1.0; 5]);
    let err = score_trials([("utt1", "short", true)], &ragged).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::DimensionMismatch {
                expected: 37,
                found: 5,
                ..
            }
        ),
        "{err}"
    );

    let mut zero = map.clone();
    zero.insert("silent".into(), vec![0.0; 37]);
    let err = score_trials([("silent", "utt1", true)], &zero).unwrap_err();
    assert!(matches!(&err, EvalError::DegenerateEmbedding { key } if key == "silent"));
}

/// Mean and population std of the `top_n` highest of `scores`, computed the plain way.
fn naive_stats(mut scores: Vec<f64>, top_n: usize) -> (f64, f64) {
    scores.sort_by(|a, b| b.total_cmp(a));
    scores.truncate(top_n);
    let mean = scores.iter().sum::<f64>() / top_n as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / top_n as f64;
    (mean, var.sqrt())
}

struct NormFixture {
    map: HashMap<String, Vec<f32>>,
    cohort_rows: Vec<Vec<f32>>,
    trials: Vec<ScoredTrial>,
}

fn norm_fixture() -> NormFixture {
    let map = embedding_map(random_embeddings(12, 16, 2));
    let cohort_rows = random_embeddings(40, 16, 3);
    let pairs: Vec<(String, String, bool)> = (0..30)
        .map(|k| (format!("utt{}", k % 12), format!("utt{}", (k * 5 + 1) % 12), k % 2 == 0))
        .collect();
    let trials = score_trials(pairs.iter().map(|(e, t, l)| (e.as_str(), t.as_str(), *l)), &map).unwrap();
    NormFixture {
        map,
        cohort_rows,
        trials,
    }
}

fn check_against_naive(method: NormMethod, top_n: usize) {
    let f = norm_fixture();
    let cohort = Matrix::from_rows(&f.cohort_rows).unwrap();
    let normalizer = ScoreNormalizer::new(&cohort, method).unwrap();
    assert_eq!(normalizer.top_n(), top_n);
    let normalized = normalizer.normalize_trials(&f.trials, &f.map).unwrap();
    for (raw, norm) in f.trials.iter().zip(&normalized) {
        let stats = |key: &str| naive_stats(f.cohort_rows.iter().map(|c| cosine(&f.map[key], c)).collect(), top_n);
        let ((me, se), (mt, st)) = (stats(&raw.enroll), stats(&raw.test));
        let expected = 0.5 * ((raw.score - me) / se + (raw.score - mt) / st);
        assert!((norm.score - expected).abs() < 1e-4, "{} vs {expected}", norm.score);
        assert_eq!(
            (&norm.enroll, &norm.test, norm.is_target),
            (&raw.enroll, &raw.test, raw.is_target)
        );
    }
}

#[test]
fn s_norm_matches_the_formula_over_the_whole_cohort() {
    check_against_naive(NormMethod::SNorm, 40);
}

#[test]
fn as_norm_matches_the_formula_over_the_top_n() {
    check_against_naive(NormMethod::AsNorm { top_n: 7 }, 7);
}

#[test]
fn as_norm_with_the_whole_cohort_is_s_norm() {
    let f = norm_fixture();
    let cohort = Matrix::from_rows(&f.cohort_rows).unwrap();
    let s = ScoreNormalizer::new(&cohort, NormMethod::SNorm)
        .unwrap()
        .normalize_trials(&f.trials, &f.map)
        .unwrap();
    let as_all = ScoreNormalizer::new(&cohort, NormMethod::AsNorm { top_n: 40 })
        .unwrap()
        .normalize_trials(&f.trials, &f.map)
        .unwrap();
    assert_eq!(s, as_all);
}

#[test]
fn normalisation_ignores_a_global_shift_and_scale_of_scores() {
    // Shifting every score (trial and cohort) by c, or scaling by a > 0, leaves the normalised score unchanged.
    let enroll: Vec<f32> = vec![0.31, 0.12, -0.05, 0.44, 0.27, 0.02];
    let test: Vec<f32> = vec![0.18, 0.35, 0.09, -0.11, 0.22, 0.40];
    let score = 0.37;
    let normalized = |shift: f32, scale: f32| {
        let mut e: Vec<f32> = enroll.iter().map(|s| scale * s + shift).collect();
        let mut t: Vec<f32> = test.iter().map(|s| scale * s + shift).collect();
        let (se, st) = (
            CohortStats::from_scores(&mut e, 4).unwrap(),
            CohortStats::from_scores(&mut t, 4).unwrap(),
        );
        ScoreNormalizer::normalize(f64::from(scale) * score + f64::from(shift), &se, &st)
    };
    let base = normalized(0.0, 1.0);
    for (shift, scale) in [(0.5, 1.0), (-2.0, 1.0), (0.0, 3.0), (1.0, 0.25)] {
        assert!(
            (normalized(shift, scale) - base).abs() < 1e-5,
            "shift {shift} scale {scale}"
        );
    }
    // And the formula is symmetric in enrolment and test.
    let mut e = enroll.clone();
    let mut t = test.clone();
    let (se, st) = (
        CohortStats::from_scores(&mut e, 4).unwrap(),
        CohortStats::from_scores(&mut t, 4).unwrap(),
    );
    assert_eq!(
        ScoreNormalizer::normalize(score, &se, &st),
        ScoreNormalizer::normalize(score, &st, &se)
    );
}

#[test]
fn normalising_needs_every_embedding() {
    let f = norm_fixture();
    let cohort = Matrix::from_rows(&f.cohort_rows).unwrap();
    let normalizer = ScoreNormalizer::new(&cohort, NormMethod::AsNorm { top_n: 5 }).unwrap();
    let mut map = f.map.clone();
    map.remove(&f.trials[3].test);
    let err = normalizer.normalize_trials(&f.trials, &map).unwrap_err();
    assert!(
        matches!(&err, EvalError::MissingEmbedding { key, .. } if *key == f.trials[3].test),
        "{err}"
    );
}
