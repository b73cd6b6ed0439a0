//! Data benchmarks (release build, `cargo bench --bench data`): synthetic generation speed and
//! loader throughput for 3 s crops with and without augmentation (noise + RIR from synthetic
//! folders written to a temporary directory). Prints a table.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use adaptsv::data::audio::write_wav_16k;
use adaptsv::data::synthetic::{utterance, write_corpus, SynthConfig};
use adaptsv::data::{AugmentConfig, Corpus, CorpusLayout, Loader, LoaderConfig};

fn main() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("data benchmarks ({cores} cores available)\n");
    println!("{:<60} {:>14}", "what", "result");

    // Synthetic generation, one thread: 30 utterances of 4 s.
    let start = Instant::now();
    let mut secs = 0.0;
    for u in 0..30 {
        let x = utterance(1, u % 10, 0, u, 64_000);
        secs += x.len() as f64 / 16_000.0;
    }
    let ms_per_s = start.elapsed().as_secs_f64() * 1000.0 / secs;
    println!(
        "{:<60} {:>10.2} ms",
        "synthesis, 1 thread, per second of audio", ms_per_s
    );

    // Corpus writing (all threads, includes WAV encoding).
    let config = SynthConfig::new(20, 10, 4.0, 7);
    let start = Instant::now();
    let summary = write_corpus(&dir.path().join("synth"), &config, None).expect("write corpus");
    let el = start.elapsed().as_secs_f64();
    println!(
        "{:<60} {:>10.0} s/s",
        format!(
            "write_corpus 20x10 x ~4 s ({:.0} s audio), audio s per s",
            summary.seconds
        ),
        summary.seconds / el
    );

    let corpus = Arc::new(Corpus::index(&summary.train_root, CorpusLayout::Auto, None).expect("index"));
    let (musan, rirs) = augmentation_folders(dir.path());
    for (label, augment) in [
        ("no augmentation", AugmentConfig::default()),
        (
            "noise + RIR (prob 0.6 each)",
            AugmentConfig {
                enabled: true,
                noise_dir: Some(musan.clone()),
                rir_dir: Some(rirs.clone()),
                ..AugmentConfig::default()
            },
        ),
        (
            "noise + RIR + speed (0.6 each)",
            AugmentConfig {
                enabled: true,
                noise_dir: Some(musan),
                rir_dir: Some(rirs),
                speed_prob: 0.6,
                ..AugmentConfig::default()
            },
        ),
    ] {
        for workers in [1, cores.max(2)] {
            let config = LoaderConfig {
                batch_size: 32,
                crop_seconds: 3.0,
                workers,
                prefetch: 8,
                seed: 1,
                augment: augment.clone(),
                fixed_crops: false,
            };
            let start = Instant::now();
            let mut utts = 0;
            for epoch in 0..3 {
                for batch in Loader::start(corpus.clone(), &config, epoch).expect("loader") {
                    utts += batch.expect("batch").batch_size;
                }
            }
            let rate = utts as f64 / start.elapsed().as_secs_f64();
            println!(
                "{:<60} {:>8.0} utt/s",
                format!("loader 3 s crops, {label}, {workers} workers"),
                rate
            );
        }
    }
}

/// A MUSAN-like folder (noise/music/speech, 10 s files) and a folder of 20 synthetic RIRs (0.5 s).
fn augmentation_folders(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let musan = dir.join("musan");
    for (c, cat) in ["noise", "music", "speech"].iter().enumerate() {
        std::fs::create_dir_all(musan.join(cat)).expect("mkdir");
        for k in 0..5 {
            let x: Vec<f32> = match c {
                0 => (0..160_000)
                    .map(|i| (((i * 7919 + k * 31) % 1013) as f32 / 506.0 - 1.0) * 0.1)
                    .collect(),
                1 => (0..160_000)
                    .map(|i| (i as f32 * 0.01 * (k + 1) as f32).sin() * 0.2)
                    .collect(),
                _ => utterance(99, 100 + k, 0, 0, 160_000),
            };
            write_wav_16k(&musan.join(cat).join(format!("{k}.wav")), &x).expect("write");
        }
    }
    let rirs = dir.join("rirs");
    std::fs::create_dir_all(&rirs).expect("mkdir");
    for k in 0..20 {
        let t60 = 0.2 + 0.03 * k as f32;
        let rir: Vec<f32> = (0..8000)
            .map(|i| {
                let noise = ((i * 7919 + k * 131) % 1009) as f32 / 504.5 - 1.0;
                if i == 0 {
                    1.0
                } else {
                    noise * (-6.9 * i as f32 / (t60 * 16_000.0)).exp() * 0.3
                }
            })
            .collect();
        write_wav_16k(&rirs.join(format!("rir{k}.wav")), &rir).expect("write");
    }
    (musan, rirs)
}
