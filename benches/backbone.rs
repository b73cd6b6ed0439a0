//! Forward time of a randomly initialised WavLM Base+ (real size) on a 3-second utterance on the CPU backend
//! (Burn Flex), warm-up then the median of several runs, with the time split over the model's pieces.
//! Compare with `tests/fixtures/backbone/bench_torch.py` via `tests/fixtures/backbone/bench_compare.sh`.
//!
//! `cargo bench --bench backbone [-- RUNS]`

use std::time::{Duration, Instant};

use adaptsv::model::backbone::{BackbonePreset, NoHooks, SslBackbone};
use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};

type B = Flex;

/// Seconds of audio per forward.
const SECONDS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `f` once to warm up, then `runs` times, returning the median wall time.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    median(times)
}

/// Forces the lazy backends to finish: read one value back.
fn sync3(t: Tensor<B, 3>) -> f32 {
    t.narrow(2, 0, 1).narrow(1, 0, 1).into_scalar()
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    let device = Default::default();
    let preset = BackbonePreset::WavlmBasePlus;
    let model: SslBackbone<B> = preset.config().init(&device);
    let wave = Tensor::<B, 2>::random([1, SECONDS * 16_000], Distribution::Uniform(-0.5, 0.5), &device);

    let features = model.extract_features(wave.clone());
    let projected = model.project_features(features.clone());
    let frames = projected.dims()[1];
    let embedded = model.embed(projected.clone());
    let bias = model.position_bias(frames, &device);

    let t_conv = time(runs, || sync3(model.extract_features(wave.clone())));
    let t_proj = time(runs, || sync3(model.project_features(features.clone())));
    let t_pos = time(runs, || sync3(model.embed(projected.clone())));
    let t_bias = time(runs, || {
        model
            .position_bias(frames, &device)
            .map(|b| b.narrow(3, 0, 1).sum().into_scalar())
    });
    let t_layer = time(runs, || {
        sync3(model.forward_layer(1, embedded.clone(), bias.as_ref(), &NoHooks))
    });
    let t_total = time(runs, || {
        sync3(model.forward(wave.clone()).pop().unwrap_or_else(|| embedded.clone()))
    });

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "WavLM Base+ ({}), random init, {SECONDS} s at 16 kHz = {frames} frames, batch 1",
        preset.hub_id()
    );
    let threads = adaptsv::device::cpu_threads();
    println!("backend: Burn Flex (CPU, SIMD + rayon, {threads} threads), median of {runs} after 1 warm-up");
    println!("{:<34} {:>10}", "piece", "ms");
    println!("{:<34} {:>10.1}", "conv feature encoder", ms(t_conv));
    println!("{:<34} {:>10.1}", "feature projection", ms(t_proj));
    println!("{:<34} {:>10.1}", "positional conv + layer norm", ms(t_pos));
    println!("{:<34} {:>10.1}", "position bias (once)", ms(t_bias));
    println!("{:<34} {:>10.1}", "one transformer layer", ms(t_layer));
    println!("{:<34} {:>10.1}", "full forward (13 hidden states)", ms(t_total));
    println!("BURN_FORWARD_MS={:.1}", ms(t_total));
}
