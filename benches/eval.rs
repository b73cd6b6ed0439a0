//! Speed of the evaluation path at VoxCeleb scale: metrics of 580k trials (about VoxCeleb1-H) and cosine scoring of
//! the 37,611 VoxCeleb1-O trials from 4,874 cached 256-d embeddings, plus S-norm statistics and DET reduction.
//!
//! Run with `cargo bench --bench eval` (release build); prints one table row per task, the median of several runs.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use adaptsv::eval::{
    compute_metrics, score_trials, DetCurve, ErrorCurve, Matrix, NormMethod, ScoreNormalizer, DEFAULT_P_TARGETS,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Median wall time of `runs` calls of `f`.
fn median_time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn row(task: &str, size: &str, time: Duration) {
    println!("| {task:<42} | {size:<36} | {:>9.1} ms |", time.as_secs_f64() * 1e3);
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let normal = Normal::new(0.0f64, 1.0).unwrap();

    // 580k trials, 1 target in 20, scores of a d' = 3 system rounded to 5 decimals (as score files hold them).
    let trials: Vec<(f64, bool)> = (0..580_000)
        .map(|i| {
            let is_target = i % 20 == 0;
            let score = normal.sample(&mut rng) + if is_target { 3.0 } else { 0.0 };
            ((score * 1e5).round() / 1e5, is_target)
        })
        .collect();

    // 4,874 utterances with 256-d embeddings, 37,611 trials between random pairs.
    let dim = 256;
    let embeddings: HashMap<String, Vec<f32>> = (0..4_874)
        .map(|i| {
            let v: Vec<f32> = (0..dim).map(|_| normal.sample(&mut rng) as f32).collect();
            (format!("id{:05}/video{:03}/{:05}.wav", i / 40, i % 40, i), v)
        })
        .collect();
    let keys: Vec<&String> = embeddings.keys().collect();
    let trial_list: Vec<(&str, &str, bool)> = (0..37_611)
        .map(|i| {
            let e = keys[rng.random_range(0..keys.len())].as_str();
            let t = keys[rng.random_range(0..keys.len())].as_str();
            (e, t, i % 2 == 0)
        })
        .collect();
    let cohort_rows: Vec<Vec<f32>> = (0..1_211)
        .map(|_| (0..dim).map(|_| normal.sample(&mut rng) as f32).collect())
        .collect();
    let cohort = Matrix::from_rows(&cohort_rows).unwrap();

    println!("| {:<42} | {:<36} | {:>12} |", "task", "size", "median");
    println!("|{}|{}|{}|", "-".repeat(44), "-".repeat(38), "-".repeat(14));

    let t = median_time(7, || {
        compute_metrics(trials.iter().copied(), &DEFAULT_P_TARGETS).unwrap()
    });
    row("EER + minDCF(0.01, 0.05)", "580,000 trials", t);

    let curve = ErrorCurve::new(trials.iter().copied()).unwrap();
    let t = median_time(7, || DetCurve::from_curve(&curve).reduced(300));
    row(
        "DET curve (probit) + reduce to 300",
        &format!("{} operating points", curve.len()),
        t,
    );

    let t = median_time(7, || score_trials(trial_list.iter().copied(), &embeddings).unwrap());
    row("cosine scoring", "37,611 trials, 4,874 x 256-d", t);

    let scored = score_trials(trial_list.iter().copied(), &embeddings).unwrap();
    let t = median_time(3, || {
        let normalizer = ScoreNormalizer::new(&cohort, NormMethod::AsNorm { top_n: 300 }).unwrap();
        normalizer.normalize_trials(&scored, &embeddings).unwrap()
    });
    row(
        "AS-norm (top 300), cohort stats + trials",
        "37,611 trials, cohort 1,211 x 256-d",
        t,
    );
}
