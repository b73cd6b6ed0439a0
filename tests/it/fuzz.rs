//! Bounded, seeded fuzzing of every reader of user input: thousands of mutated and truncated WAV files, trial
//! lists, score files, config TOML, checkpoints, optimiser states, training states and `metrics.jsonl` lines.
//! Each must return (a value or a clear error naming its file), never panic.

use adaptsv::config::ExperimentConfig;
use adaptsv::data::audio::{decode_mono, write_wav_16k};
use adaptsv::data::trials::TrialList;
use adaptsv::engine::checkpoint::{file_name, save_model, Checkpoint};
use adaptsv::engine::optim::GroupedOptimizer;
use adaptsv::engine::train_state::TrainState;
use adaptsv::eval::parse_scores;
use adaptsv::model::SpeakerModel;
use adaptsv::runs::read_events;
use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// One mutation of `seed`: flipped bytes, a cut, an insertion of random or meaningful bytes, or a duplicated
/// span.
fn mutate(seed: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    let rounds = rng.random_range(1..4);
    for _ in 0..rounds {
        if out.is_empty() {
            out.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..out.len());
        match rng.random_range(0..6) {
            0 => out[at] = rng.random(),
            1 => out.truncate(at),
            2 => {
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(at..at, bytes);
            }
            3 => {
                let special: &[&[u8]] = &[
                    b"\xff\xff\xff\xff",
                    b"\x00\x00\x00\x00",
                    b"nan",
                    b"-inf",
                    b"\n",
                    b"\"",
                    b"[",
                ];
                let s = special[rng.random_range(0..special.len())];
                out.splice(at..at, s.iter().copied());
            }
            4 => {
                let end = (at + rng.random_range(1..64)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
            _ => {
                let end = (at + rng.random_range(1..32)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

/// Feeds `n` mutations of `seed` to `read` (through a file at `path`); a panic fails with the input's index.
fn fuzz_file(
    name: &str,
    seed: &[u8],
    n: usize,
    path: &Path,
    mut read: impl FnMut(&Path) -> Result<(), String>,
) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(0xF022 ^ name.len() as u64);
    let mut errors = 0;
    for i in 0..n {
        let input = if i == 0 { Vec::new() } else { mutate(seed, &mut rng) };
        std::fs::write(path, &input).unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| read(path)));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                errors += 1;
                assert!(!message.trim().is_empty(), "{name} #{i}: an empty error message");
            }
            Err(_) => {
                let keep = path.with_extension("panic");
                std::fs::write(&keep, &input).unwrap();
                panic!("{name} #{i}: the reader panicked (input kept in {})", keep.display());
            }
        }
    }
    errors
}

#[test]
fn mutated_wav_files_decode_or_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.wav");
    let tone: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    write_wav_16k(&good, &tone).unwrap();
    let seed = std::fs::read(&good).unwrap();
    let errors = fuzz_file("wav", &seed, 2000, &tmp.path().join("m.wav"), |p| {
        decode_mono(p).map(|_| ()).map_err(|e| e.to_string())
    });
    assert!(errors > 100, "most mutations are broken files, reported: {errors}");
}

#[test]
fn mutated_trial_lists_scores_configs_and_event_lines_parse_or_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let trials = b"1 id1/a/1.wav id2/b/2.wav\n0 id1/a/1.wav id3/c/3.wav\n1 id2/b/2.wav id2/b/4.wav\n";
    fuzz_file("trials", trials, 2000, &tmp.path().join("trials.txt"), |p| {
        TrialList::read(p).map(|_| ()).map_err(|e| e.to_string())
    });
    let scores = b"a b 0.91 target\nc d -0.12 nontarget\ne f 0.5 target\n";
    fuzz_file("scores", scores, 2000, &tmp.path().join("scores.txt"), |p| {
        let text = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
        parse_scores(&text, p).map(|_| ()).map_err(|e| e.to_string())
    });
    let config = ExperimentConfig::builtin_default().to_toml_string();
    fuzz_file("config", config.as_bytes(), 2000, &tmp.path().join("c.toml"), |p| {
        let c = ExperimentConfig::load(p).map_err(|e| e.to_string())?;
        c.validate().map_err(|problems| format!("{} problems", problems.len()))
    });
    let events = concat!(
        r#"{"t":0.0,"utc":"2026-12-02T10:00:00Z","event":"started","run_id":"r","device":"cpu","host":"h","pid":1}"#,
        "\n",
        r#"{"t":1.0,"utc":"2026-12-02T10:00:01Z","event":"step","step":1,"epoch":0.1,"loss":2.5,"lr":0.001,"lrs":{"head":0.001}}"#,
        "\n",
        r#"{"t":2.0,"utc":"2026-12-02T10:00:02Z","event":"eval","step":1,"epoch":0.1,"trials":"t","n_target":1,"n_nontarget":1,"eer":0.5,"min_dcf":{"0.01":1.0},"det":[[0.1,0.2]]}"#,
        "\n"
    );
    fuzz_file(
        "metrics.jsonl",
        events.as_bytes(),
        2000,
        &tmp.path().join("metrics.jsonl"),
        |p| {
            let (_events, _damage) = read_events(p);
            Ok(())
        },
    );
}

#[test]
fn mutated_checkpoints_and_training_states_load_or_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ExperimentConfig::builtin_default();
    // The tiny random backbone keeps tests fast (the default's is the shipped pre-trained one).
    config.model.checkpoint = None;
    config.model.preset = Some("wavlm-tiny".into());
    config.head.channels = 8;
    config.head.embedding_dim = 8;
    config.adaptation.inner.bottleneck = 2;
    config.adaptation.inter.bottleneck = 2;
    let device = Default::default();
    let model = SpeakerModel::<Autodiff<Flex>>::from_config(&config.clone().into_valid().unwrap(), 3, &device).unwrap();
    let ckpt = tmp.path().join(file_name(1));
    save_model(&model, &config, &ckpt, 1).unwrap();
    let seed = std::fs::read(&ckpt).unwrap();
    let plain = SpeakerModel::<Flex>::from_config(&config.clone().into_valid().unwrap(), 3, &device).unwrap();
    fuzz_file("checkpoint", &seed, 1000, &tmp.path().join("m.safetensors"), |p| {
        let c = Checkpoint::read(p).map_err(|e| e.to_string())?;
        c.load_into(plain.clone()).map(|_| ()).map_err(|e| e.to_string())
    });

    // An optimiser state with moments in it: one real step.
    let mut optim = GroupedOptimizer::<Autodiff<Flex>>::new(&config.optim);
    let x = Tensor::<Autodiff<Flex>, 2>::random([3, 8000], Distribution::Normal(0.0, 0.1), &device);
    let y = Tensor::<Autodiff<Flex>, 1, Int>::from_data(TensorData::from([0i64, 1, 2]), &device);
    let out = model.train_step_output(x, y);
    let grads = GradientsParams::from_grads(out.loss.backward(), &model);
    let model = optim.step(model, grads, [1e-3; 4], 1.0);
    assert!(!optim.is_empty());
    let state_path = tmp.path().join("o.safetensors");
    optim.save(&model, &state_path).unwrap();
    let seed = std::fs::read(&state_path).unwrap();
    fuzz_file("optimizer", &seed, 1000, &tmp.path().join("m.optim.safetensors"), |p| {
        let mut o = GroupedOptimizer::<Autodiff<Flex>>::new(&config.optim);
        o.load(&model, p, &device).map_err(|e| e.to_string())
    });

    let state = serde_json::to_vec_pretty(&TrainState::new(3)).unwrap();
    fuzz_file("train state", &state, 2000, &tmp.path().join("s.state.json"), |p| {
        TrainState::read(p).map(|_| ()).map_err(|e| e.to_string())
    });
}
