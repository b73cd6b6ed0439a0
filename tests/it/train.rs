//! The training engine, at small sizes: loss falls; stop + resume equals an uninterrupted run bit for bit
//! (parameters and optimiser moments); a killed process resumes; a NaN ends the run as `failed` with its last
//! checkpoint intact; checkpoints hold what they should; the device is checked at launch.

use adaptsv::config::{ExperimentConfig, Method};
use adaptsv::data::trials::TrialList;
use adaptsv::engine::checkpoint::{checkpoint_steps, load_run_model, Checkpoint, FROZEN_FILE};
use adaptsv::engine::train_state::{latest_complete, StepFiles};
use adaptsv::engine::{Engine, LaunchOptions};
use adaptsv::runs::{load_dir, EndStatus, RunEvent, RunStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The built-in default shrunk so a whole run takes seconds: 4 speakers × 6 utterances, batches of 4.
pub fn tiny_config(out: &Path) -> ExperimentConfig {
    let mut c = ExperimentConfig::builtin_default();
    // The tiny random backbone keeps tests fast (the default's is the shipped pre-trained one).
    c.model.checkpoint = None;
    c.model.preset = Some("wavlm-tiny".into());
    c.adaptation.inner.bottleneck = 16;
    c.adaptation.inter.bottleneck = 32;
    c.name = "tiny".into();
    c.output_dir = out.to_path_buf();
    c.head.channels = 16;
    c.head.embedding_dim = 16;
    c.data.synthetic.speakers = 4;
    c.data.synthetic.test_speakers = 3;
    c.data.synthetic.utterances = 6;
    c.data.synthetic.seconds = 1.0;
    c.optim.batch_size = 4;
    c.optim.segment_seconds = 0.5;
    c.optim.epochs = 3;
    c.optim.warmup_steps = 2;
    c.optim.loader_workers = 1;
    c.optim.lr_adapters = 5e-3;
    c.optim.lr_head = 5e-3;
    c.loss.margin_warmup_epochs = 1.0;
    c.eval.every_epochs = 0;
    c.eval.layer_weights_every_steps = 2;
    c
}

fn events(dir: &Path) -> Vec<RunEvent> {
    load_dir(dir).events.into_iter().map(|r| r.event).collect()
}

fn epoch_losses(dir: &Path) -> Vec<f64> {
    events(dir)
        .into_iter()
        .filter_map(|e| match e {
            RunEvent::Epoch { loss, .. } => Some(loss),
            _ => None,
        })
        .collect()
}

/// Every tensor of a checkpoint-like safetensors file, by name, as raw f32 bits.
fn tensors(path: &Path) -> BTreeMap<String, Vec<u32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let bits = view
                .data()
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, bits)
        })
        .collect()
}

/// Launches `config` and waits for it: it must finish. Its run folder.
pub fn run_to_end(config: ExperimentConfig) -> PathBuf {
    let handle = Engine::launch(config).unwrap();
    let dir = handle.dir.clone();
    let outcome = handle.join();
    assert_eq!(outcome.status, EndStatus::Finished, "{}", outcome.message);
    dir
}

#[test]
fn training_lowers_the_loss_and_records_everything_a_run_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.optim.epochs = 6;
    config.eval.every_epochs = 3;
    let handle = Engine::launch(config).unwrap();
    let dir = handle.dir.clone();
    let live: Vec<_> = handle.events().iter().collect();
    let outcome = handle.join();
    assert_eq!(outcome.status, EndStatus::Finished, "{}", outcome.message);

    // What was sent live is exactly what the folder holds.
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    assert_eq!(live.len(), run.events.len());
    if let Some(i) = (0..live.len()).find(|&i| live[i] != run.events[i]) {
        panic!("event {i} differs: live {:?}, on disk {:?}", live[i], run.events[i]);
    }

    let losses = epoch_losses(&dir);
    assert_eq!(losses.len(), 6);
    assert!(
        losses[5] < 0.8 * losses[0],
        "mean loss per epoch should fall: {losses:?}"
    );
    let kinds: Vec<&str> = run.events.iter().map(|r| r.event.kind()).collect();
    for kind in [
        "started",
        "model",
        "step",
        "layer_weights",
        "epoch",
        "eval",
        "checkpoint",
        "ended",
    ] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let evals: Vec<_> = run
        .events
        .iter()
        .filter(|r| matches!(r.event, RunEvent::Eval { .. }))
        .collect();
    assert_eq!(evals.len(), 2, "after epoch 3 and at the end");
    let step = run.events.iter().find_map(|r| match &r.event {
        RunEvent::Step {
            lrs,
            grad_norm,
            eta_seconds,
            ..
        } => Some((lrs.clone(), *grad_norm, *eta_seconds)),
        _ => None,
    });
    let (lrs, grad_norm, eta) = step.unwrap();
    assert!(
        lrs.contains_key("adapters") && lrs.contains_key("head") && !lrs.contains_key("backbone"),
        "{lrs:?}"
    );
    assert!(grad_norm.unwrap() > 0.0 && eta.is_some());
    assert_eq!(
        run.summary.steps,
        6 * 6,
        "24 utterances / batches of 4 = 6 steps per epoch"
    );
    assert!(run.summary.eer.is_some() && run.summary.trainable_params.is_some());
    assert!(dir.join("summary.json").is_file());
}

#[test]
fn stop_then_resume_equals_an_uninterrupted_run_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path());
    let whole = run_to_end(config.clone());

    let handle = Engine::launch(config).unwrap();
    let dir = handle.dir.clone();
    for rec in handle.events().iter() {
        if let RunEvent::Step { step, .. } = rec.event {
            if step == 4 {
                handle.stop(); // mid-epoch: 6 steps per epoch
            }
        }
        if let RunEvent::Status { .. } = rec.event {
            panic!("no pause was asked");
        }
    }
    let stopped = handle.join();
    assert_eq!(stopped.status, EndStatus::Stopped, "{}", stopped.message);
    assert!(stopped.step >= 4 && stopped.step < 18, "stopped at {}", stopped.step);
    assert_eq!(load_dir(&dir).status, RunStatus::Stopped);

    let handle = Engine::resume(&dir).unwrap();
    let live = load_dir(&dir);
    assert_eq!(live.status, RunStatus::Running);
    assert!(
        live.summary.message.is_empty(),
        "the stop's summary is not shown for a running run: {}",
        live.summary.message
    );
    let resumed = handle.join();
    assert_eq!(resumed.status, EndStatus::Finished, "{}", resumed.message);
    assert_eq!(load_dir(&dir).status, RunStatus::Finished);

    let (last_whole, files_whole) = latest_complete(&whole.join("checkpoints")).unwrap();
    let (last_resumed, files_resumed) = latest_complete(&dir.join("checkpoints")).unwrap();
    assert_eq!(last_whole, last_resumed);
    let params = tensors(&files_whole.model);
    assert!(params.keys().any(|k| k.starts_with("adapters.")));
    assert_eq!(params, tensors(&files_resumed.model), "parameters differ");
    let moments = tensors(&files_whole.optimizer);
    assert!(
        moments.keys().any(|k| k.ends_with("::moment_2")),
        "{:?}",
        moments.keys().take(3).collect::<Vec<_>>()
    );
    assert_eq!(moments, tensors(&files_resumed.optimizer), "optimiser moments differ");
    let meta = |p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        safetensors::SafeTensors::read_metadata(&bytes)
            .unwrap()
            .1
            .metadata()
            .clone()
    };
    assert_eq!(
        meta(&files_whole.optimizer),
        meta(&files_resumed.optimizer),
        "AdamW step counters differ"
    );
}

#[test]
fn pause_holds_training_until_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path());
    let handle = Engine::launch(config).unwrap();
    let mut paused_at = None;
    let mut steps_while_paused = 0;
    for rec in handle.events().iter() {
        match rec.event {
            RunEvent::Step { step, .. } if step == 2 && paused_at.is_none() => handle.pause(),
            RunEvent::Status { state, step } if state == adaptsv::runs::LiveState::Paused => {
                paused_at = Some(step);
                std::thread::sleep(std::time::Duration::from_millis(300));
                handle.resume();
            }
            RunEvent::Step { .. } if paused_at.is_some() && steps_while_paused == 0 => steps_while_paused = 1,
            _ => {}
        }
    }
    assert!(paused_at.is_some(), "a paused status was reported");
    assert_eq!(handle.join().status, EndStatus::Finished);
}

#[test]
fn a_nan_ends_the_run_as_failed_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path());
    // 6 steps per epoch: the epoch-1 checkpoint (step 6) is written before step 8 breaks.
    let handle = Engine::launch_with(
        config.clone(),
        LaunchOptions {
            inject_nan_at_step: Some(8),
            ..Default::default()
        },
    )
    .unwrap();
    let dir = handle.dir.clone();
    let outcome = handle.join();
    assert_eq!(outcome.status, EndStatus::Failed);
    assert!(
        outcome.message.contains("non-finite loss at step 8"),
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("step 6"),
        "names the last good checkpoint: {}",
        outcome.message
    );
    assert!(
        outcome.message.contains("learning rate"),
        "gives a hint: {}",
        outcome.message
    );
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(checkpoint_steps(&dir.join("checkpoints")), vec![6]);
    let files = StepFiles::new(&dir.join("checkpoints"), 6);
    let model = Checkpoint::read(&files.model).and_then(|step| {
        load_run_model::<burn::backend::Flex>(&config.clone().into_valid().unwrap(), &dir.join("checkpoints"), &step, 4, &Default::default())
    });
    assert!(model.is_ok(), "the last good checkpoint loads");
    // And the run can go on from it.
    let resumed = Engine::resume(&dir).unwrap().join();
    assert_eq!(resumed.status, EndStatus::Finished, "{}", resumed.message);
}

#[test]
fn a_panic_on_the_training_thread_becomes_a_failed_run() {
    let tmp = tempfile::tempdir().unwrap();
    let handle = Engine::launch_with(
        tiny_config(tmp.path()),
        LaunchOptions {
            panic_at_step: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    let dir = handle.dir.clone();
    let outcome = handle.join();
    assert_eq!(outcome.status, EndStatus::Failed);
    assert!(outcome.message.contains("panicked"), "{}", outcome.message);
    assert_eq!(load_dir(&dir).status, RunStatus::Failed);
}

#[test]
fn an_adapter_checkpoint_holds_only_what_trains_and_fine_tuning_holds_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.optim.epochs = 1;
    let dir = run_to_end(config.clone());
    let (_, files) = latest_complete(&dir.join("checkpoints")).unwrap();
    let saved = Checkpoint::read(&files.model).unwrap();
    assert!(
        saved.tensors.keys().all(|k| !k.starts_with("backbone.")),
        "no frozen backbone tensor in a PETL checkpoint"
    );
    assert!(
        dir.join("checkpoints").join(FROZEN_FILE).is_file(),
        "the preset's random backbone is saved once"
    );
    let frozen = Checkpoint::read(&dir.join("checkpoints").join(FROZEN_FILE)).unwrap();
    assert!(frozen.tensors.keys().any(|k| k.starts_with("backbone.encoder.")));
    let model_event = events(&dir).into_iter().find_map(|e| match e {
        RunEvent::Model { trainable_params, .. } => Some(trainable_params),
        _ => None,
    });
    let saved_values: usize = saved.tensors.values().map(|(_, v)| v.len()).sum();
    let trainable = model_event.unwrap() as usize;
    assert!(
        saved_values >= trainable && saved_values < trainable + 1000,
        "{saved_values} vs {trainable}"
    );

    let mut ft = config;
    ft.adaptation.method = Method::FullFinetune;
    ft.adaptation.inner = Default::default();
    ft.adaptation.inter = Default::default();
    ft.optim.lr_backbone = 1e-4;
    let dir = run_to_end(ft);
    let (_, files) = latest_complete(&dir.join("checkpoints")).unwrap();
    let saved = Checkpoint::read(&files.model).unwrap();
    assert!(
        saved
            .tensors
            .keys()
            .any(|k| k.starts_with("backbone.feature_extractor.")),
        "full model"
    );
    assert!(!dir.join("checkpoints").join(FROZEN_FILE).exists());
    let ck = events(&dir).into_iter().find_map(|e| match e {
        RunEvent::Checkpoint { contents, .. } => Some(contents),
        _ => None,
    });
    assert_eq!(ck.as_deref(), Some("full"));
}

#[test]
fn a_frozen_method_trains_no_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"frozen\"\noutput_dir = {:?}\n[model]\npreset = \"wavlm-tiny\"\n[adaptation]\nmethod = \"frozen\"\n\
         [head]\nembedding_dim = 16\nchannels = 16\n[data.synthetic]\nspeakers = 4\ntest_speakers = 3\nutterances = 6\n\
         seconds = 1.0\n[optim]\nepochs = 1\nbatch_size = 4\nsegment_seconds = 0.5\nloader_workers = 1\n",
        tmp.path().display().to_string()
    );
    let config = ExperimentConfig::from_toml_str(&text, "frozen.toml").unwrap();
    let dir = run_to_end(config);
    let groups = events(&dir).into_iter().find_map(|e| match e {
        RunEvent::Model { groups, .. } => Some(groups),
        _ => None,
    });
    let groups = groups.unwrap();
    assert_eq!(groups.get("adapters"), Some(&0), "{groups:?}");
    assert_eq!(groups.get("backbone"), Some(&0), "{groups:?}");
    assert!(groups["aggregation"] > 0 && groups["head"] > 0, "{groups:?}");
    let (_, files) = latest_complete(&dir.join("checkpoints")).unwrap();
    let saved = Checkpoint::read(&files.model).unwrap();
    assert!(saved
        .tensors
        .keys()
        .all(|k| !k.starts_with("adapters.") && !k.starts_with("inter.")));
}

/// With `optim.backbone_cache_mib`, a run whose backbone is frozen (inter adapters alone here) runs the backbone
/// only in its first epoch (the log counts crops served from memory), and still trains.
#[test]
fn a_backbone_cache_serves_the_epochs_after_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.adaptation.inner.enabled = Some(false);
    config.optim.backbone_cache_mib = 64;
    config.optim.epochs = 4;
    let dir = run_to_end(config);
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("backbone cache:")).collect();
    assert_eq!(lines.len(), 4, "{log}");
    // 4 speakers × 6 utterances in batches of 4: 6 batches, 24 crops an epoch.
    assert!(
        lines[0].contains("took 0 crops from memory and ran the backbone on 24"),
        "{}",
        lines[0]
    );
    for line in &lines[1..] {
        assert!(
            line.contains("took 24 crops from memory and ran the backbone on 0"),
            "{line}"
        );
    }
    let losses = epoch_losses(&dir);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[3] < losses[0], "{losses:?}");
}

/// With `optim.backbone_dtype = "bf16"`, a frozen backbone (inter adapters alone) runs in bf16, the run trains,
/// and the saved run rebuilds that same backbone: the preset's random draw is saved (as f32) and read back into
/// bf16, so two rebuilds embed alike, and both differ from an f32 rebuild of the same files by bf16 rounding only.
#[test]
fn a_bf16_backbone_trains_and_its_run_rebuilds_it() {
    use burn::tensor::backend::Backend;
    use burn::tensor::{DType, Distribution, Tensor};
    type Flex = burn::backend::Flex;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.adaptation.inner.enabled = Some(false);
    config.optim.backbone_dtype = adaptsv::config::BackboneDType::Bf16;
    config.optim.epochs = 4;
    let dir = run_to_end(config.clone());
    let losses = epoch_losses(&dir);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[3] < losses[0], "{losses:?}");

    let checkpoints = dir.join("checkpoints");
    assert!(checkpoints.join(FROZEN_FILE).is_file());
    let (_, files) = latest_complete(&checkpoints).unwrap();
    let step = Checkpoint::read(&files.model).unwrap();
    let device = Default::default();
    let embed = |config: &ExperimentConfig, seed: u64| {
        Flex::seed(&device, seed);
        let model = load_run_model::<Flex>(&config.clone().into_valid().unwrap(), &checkpoints, &step, 4, &device).unwrap();
        let dtype = model.backbone.param_dtype();
        Flex::seed(&device, 1);
        let x = Tensor::<Flex, 2>::random([2, 8000], Distribution::Normal(0.0, 0.1), &device);
        let e: Vec<f32> = model.embed(x).into_data().convert::<f32>().into_vec().unwrap();
        (dtype, e)
    };
    let (dtype, a) = embed(&config, 5);
    let (_, b) = embed(&config, 6);
    assert_eq!(dtype, DType::BF16);
    assert_eq!(a, b, "the backbone comes from the run's files, not from the seed");
    let mut f32_config = config.clone();
    f32_config.optim.backbone_dtype = adaptsv::config::BackboneDType::F32;
    let (dtype, c) = embed(&f32_config, 7);
    assert_eq!(dtype, DType::F32);
    let scale = c.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(&c).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff > 0.0 && diff < 0.05 * scale, "bf16 vs f32 embeddings: max diff {diff}, scale {scale}");
}

#[test]
fn a_cuda_device_that_cannot_be_had_fails_at_launch_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.device = "cuda:0".into();
    match Engine::launch(config) {
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("cuda:0"), "{text}");
            assert!(text.contains("no CUDA") || text.contains("no CUDA support"), "{text}");
            assert!(
                std::fs::read_dir(tmp.path()).map_or(true, |mut d| d.next().is_none()),
                "no run folder is made"
            );
        }
        // A machine with a GPU and a `--features cuda` build can have it.
        Ok(handle) => assert!(adaptsv::device::cuda_compiled(), "{}", handle.dir.display()),
    }
}

#[test]
fn an_output_folder_that_cannot_be_written_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let config = tiny_config(&file.join("runs"));
    let err = Engine::launch(config).err().expect("no run can be made under a file");
    assert!(err.to_string().contains("not-a-folder"), "{err}");
}

#[test]
fn a_killed_training_process_shows_crashed_then_resumes_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.optim.epochs = 5;
    let path = tmp.path().join("tiny.toml");
    std::fs::write(&path, config.to_toml_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["train", "--json", "--config", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut dir = None;
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let rec: adaptsv::runs::EventRecord = serde_json::from_str(&line).unwrap();
        if let RunEvent::Started { run_id, .. } = &rec.event {
            dir = Some(tmp.path().join(run_id));
        }
        // Kill it in the middle of the second epoch, after its first checkpoint.
        if let RunEvent::Step { step: 8, .. } = rec.event {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    let dir = dir.expect("a started event");
    assert_eq!(load_dir(&dir).status, RunStatus::Crashed);

    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["train", "--resume", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    assert_eq!(run.summary.steps, 30);
    let resumed_from = run.events.iter().find_map(|r| match &r.event {
        RunEvent::Resumed { step, .. } => Some(*step),
        _ => None,
    });
    assert!(resumed_from.is_some_and(|s| s >= 6 && s < 30), "{resumed_from:?}");
}

#[test]
/// Also: a run evaluated on other trial lists (one named in `eval.lists` during training, the same one again
/// afterwards with `eval --run --trials --label`, both files called `trials.txt` like the run's own) keeps each
/// list apart under its label: the run's own EER and its training time are not touched.
fn broken_training_files_are_skipped_and_reported_and_a_run_scores_another_corpus() {
    use adaptsv::data::synthetic::{write_corpus, SynthConfig};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("corpus");
    let synth = SynthConfig {
        test_speakers: 3,
        ..SynthConfig::new(7, 6, 1.0, 3)
    };
    write_corpus(&data, &synth, None).unwrap();
    // Broken files beside the good ones of the first speaker: empty, truncated, not audio.
    let speaker = std::fs::read_dir(data.join("train"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let video = std::fs::read_dir(&speaker).unwrap().next().unwrap().unwrap().path();
    let good = std::fs::read_dir(&video).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(video.join("90001.wav"), b"").unwrap();
    std::fs::write(video.join("90002.wav"), &bytes[..60]).unwrap();
    std::fs::write(video.join("90003.wav"), b"this is not a wave file at all").unwrap();

    let mut config = tiny_config(&tmp.path().join("runs"));
    config.data.source = adaptsv::config::DataSource::Corpus;
    config.data.corpus = Some(data.join("train"));
    config.data.trials = Some(data.join("trials.txt"));
    config.data.eval_corpus = Some(data.join("test"));
    config.optim.epochs = 2;
    // Someone else's data: a corpus folder and trial list of one's own, also evaluated during training.
    let other = tmp.path().join("other");
    write_corpus(
        &other,
        &SynthConfig {
            test_speakers: 4,
            ..SynthConfig::new(6, 3, 1.0, 99)
        },
        None,
    )
    .unwrap();
    config.eval.lists = vec![adaptsv::config::TrialListConfig {
        label: "other (training)".into(),
        trials: other.join("trials.txt"),
        corpus: Some(other.join("test")),
    }];
    let dir = run_to_end(config);
    let run = load_dir(&dir);
    let skipped: Vec<String> = run
        .events
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::SkippedFile { path, reason } => {
                assert!(!reason.is_empty());
                Some(path.clone())
            }
            _ => None,
        })
        .collect();
    assert!(!skipped.is_empty(), "the broken files are reported");
    assert!(skipped.iter().all(|p| p.contains("9000")), "{skipped:?}");
    assert_eq!(run.summary.skipped_files as usize, skipped.len());
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    assert!(log.contains("skipped training file"), "{log}");

    let before = run.summary.clone();
    let own_eer = before.eer.expect("evaluated on its own list");
    let during = before.lists.get("other (training)").expect("eval.lists evaluated during training").clone();
    assert_eq!(during.trials, "trials.txt");
    assert_eq!(during.step, before.steps);
    assert_ne!(during.n_target + during.n_nontarget, 0);

    // The finished run scored again on that data, later (an idle gap first), under another label.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["eval", "--run", dir.to_str().unwrap(), "--json", "--label", "other-corpus", "--corpus"])
        .arg(other.join("test"))
        .arg("--trials")
        .arg(other.join("trials.txt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = v["n_target"].as_u64().unwrap() + v["n_nontarget"].as_u64().unwrap();
    assert_eq!(
        n as usize,
        TrialList::read(&other.join("trials.txt")).unwrap().trials.len()
    );
    assert_eq!(v["list"], "other-corpus");
    let after = load_dir(&dir).summary;
    let later = &after.lists["other-corpus"];
    assert_eq!(later.eer, v["eer"].as_f64().unwrap());
    // The same checkpoint on the same list: the same figure, whichever way it was asked for.
    assert!((later.eer - during.eer).abs() < 1e-9, "{} vs {}", later.eer, during.eer);
    assert_eq!((after.eer, after.eer_step, &after.trials), (Some(own_eer), before.eer_step, &before.trials));
    assert_eq!(after.min_dcf, before.min_dcf);
    assert_eq!(after.seconds, before.seconds, "a later evaluation does not lengthen the run's training time");
    // Each list has score files of its own, although all three are called trials.txt.
    let scores: Vec<String> = std::fs::read_dir(dir.join("scores"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let final_step = format!("step{:08}", before.steps);
    for prefix in ["trials-", "list-other_training-", "list-other-corpus-"] {
        assert!(
            scores.iter().any(|s| s.starts_with(prefix) && s.contains(&final_step)),
            "{prefix}…{final_step} in {scores:?}"
        );
    }

    // Calibrated on the other corpus as a held-out list: the run's own scores become LLRs, written beside them.
    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["calibrate", "--json", "--run", dir.to_str().unwrap(), "--trials"])
        .arg(other.join("trials.txt"))
        .arg("--corpus")
        .arg(other.join("test"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap()).unwrap();
    assert_eq!(record["scale"], v["scale"]);
    let own = adaptsv::eval::read_scores(&dir.join("scores").join(format!("trials-{final_step}.txt"))).unwrap();
    let calibrated =
        adaptsv::eval::read_scores(&dir.join("scores").join(format!("trials-{final_step}-calibrated.txt"))).unwrap();
    let (a, b) = (v["scale"].as_f64().unwrap(), v["offset"].as_f64().unwrap());
    // (The tiny model's scale may come out negative on this small list: that is a fit, not an error; the command
    // warns about it.)
    assert_eq!(own.len(), calibrated.len());
    for (r, c) in own.iter().zip(&calibrated) {
        assert!((c.score - (a * r.score + b)).abs() < 1e-9);
    }
    assert!(load_dir(&dir).summary.lists.contains_key("calibration"), "the calibration list's evaluation is kept apart");
}

/// What Slurm sends at a time limit or on preemption: SIGTERM ends `adaptsv train` cleanly (the step finished, its
/// checkpoint written, the run `stopped`, exit status 75), and `train --resume` finishes the run.
#[test]
fn sigterm_stops_a_run_with_the_checkpoint_of_its_step_and_resume_finishes_it() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(&tmp.path().join("runs"));
    config.optim.epochs = 50;
    let path = tmp.path().join("run.toml");
    std::fs::write(&path, config.to_toml_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["train", "--json", "--config", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let rec: adaptsv::runs::EventRecord = serde_json::from_str(&line.unwrap()).unwrap();
        if let RunEvent::Step { step: 10, .. } = rec.event {
            let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            assert!(kill.success());
            break;
        }
    }
    lines.for_each(drop);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75), "a stopped run's exit status");
    let dir = std::fs::read_dir(tmp.path().join("runs")).unwrap().next().unwrap().unwrap().path();
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Stopped);
    let at = run.summary.steps;
    assert!((10..300).contains(&at), "stopped soon after the signal, at step {at}");
    assert!(dir.join(format!("checkpoints/step-{at:08}.state.json")).is_file(), "the checkpoint of step {at}");

    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["train", "--resume", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    assert!(run.events.iter().any(|r| matches!(r.event, RunEvent::Resumed { step, .. } if step == at)));
}
