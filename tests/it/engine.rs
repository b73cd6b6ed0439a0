//! The engine: checkpoints restore exactly what training changed; a run folder with a checkpoint is evaluated
//! end to end (synthetic corpus written into the run, embeddings, scores, `eval` event, summary).

use adaptsv::config::ExperimentConfig;
use adaptsv::engine::checkpoint::{file_name, load_run_model, save_frozen, save_model, Checkpoint};
use adaptsv::model::SpeakerModel;
use adaptsv::runs::{load_dir, EndStatus, RunEvent, RunWriter};
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use std::process::Command;

type Ad = Autodiff<Flex>;

/// The built-in default, shrunk so a test runs in a second or two.
fn small_config() -> ExperimentConfig {
    let mut c = ExperimentConfig::builtin_default();
    // The tiny random backbone keeps tests fast (the default's is the shipped pre-trained one).
    c.model.checkpoint = None;
    c.model.preset = Some("wavlm-tiny".into());
    c.adaptation.inner.bottleneck = 16;
    c.adaptation.inter.bottleneck = 32;
    c.head.channels = 16;
    c.head.embedding_dim = 16;
    c.data.synthetic.speakers = 4;
    c.data.synthetic.test_speakers = 3;
    c.data.synthetic.utterances = 3;
    c.data.synthetic.seconds = 1.0;
    c
}

/// The embeddings of `x` `[batch, samples]`, flattened.
fn embeddings(model: &SpeakerModel<Flex>, x: &Tensor<Flex, 2>) -> Vec<f32> {
    model.embed(x.clone()).into_data().convert::<f32>().into_vec().unwrap()
}

#[test]
fn a_checkpoint_restores_exactly_what_training_changed() {
    let config = small_config();
    let device = Default::default();
    Ad::seed(&device, 11);
    let mut model = SpeakerModel::<Ad>::from_config(&config.clone().into_valid().unwrap(), 4, &device).unwrap();
    let mut optim = AdamConfig::new().init();
    for _ in 0..2 {
        let x = Tensor::<Ad, 2>::random([4, 8000], Distribution::Normal(0.0, 0.1), &device);
        let labels = Tensor::<Ad, 1, Int>::from_data(TensorData::from([0i64, 1, 2, 3]), &device);
        let out = model.train_step_output(x, labels);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(file_name(2));
    save_model(&model, &config, &path, 2).unwrap();
    save_frozen(&model, &config, tmp.path()).unwrap();
    let step_file = Checkpoint::read(&path).unwrap();
    assert!(
        step_file.tensors.keys().all(|k| !k.starts_with("backbone.")),
        "the frozen random backbone goes into frozen.safetensors, not into every step"
    );

    // A fresh model of the same config, on another seed: everything must come from the checkpoint files (the
    // preset's random backbone is saved once beside them).
    Flex::seed(&device, 99);
    let restored = load_run_model::<Flex>(&config.clone().into_valid().unwrap(), tmp.path(), &Checkpoint::read(&path).unwrap(), 4, &device).unwrap();
    let x = Tensor::<Flex, 2>::random([2, 12000], Distribution::Normal(0.0, 0.1), &device);
    assert_eq!(embeddings(&model.valid(), &x), embeddings(&restored, &x));

    // A checkpoint for another architecture is refused, naming the mismatches.
    let mut other = config.clone();
    other.adaptation.inner.bottleneck = 8;
    let wrong = SpeakerModel::<Flex>::from_config(&other.clone().into_valid().unwrap(), 4, &device).unwrap();
    let err = Checkpoint::read(&path)
        .unwrap()
        .load_into(wrong)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("adapters.inner_mhsa.0.down.weight") && err.contains("shape"),
        "{err}"
    );
}

#[test]
fn with_a_pretrained_backbone_only_what_trains_is_saved() {
    let mut config = small_config();
    config.model.preset = None;
    config.model.checkpoint =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backbone/wavlm_base"));
    let device = Default::default();
    let model = SpeakerModel::<Ad>::from_config(&config.clone().into_valid().unwrap(), 4, &device).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(file_name(0));
    save_model(&model, &config, &path, 0).unwrap();
    let saved = Checkpoint::read(&path).unwrap();
    assert!(
        saved.tensors.keys().all(|k| !k.starts_with("backbone.")),
        "the frozen backbone is not copied"
    );
    let trainable = adaptsv::model::count_params(&model).trainable;
    let saved_values: usize = saved.tensors.values().map(|(_, v)| v.len()).sum();
    // Trainable parameters plus the head's batch-norm statistics.
    assert!(
        saved_values >= trainable && saved_values < trainable + 1000,
        "{saved_values} vs {trainable}"
    );

    // Loaded onto a model built from the same config (backbone re-read from the HF folder), embeddings agree.
    let restored = saved
        .load_into(SpeakerModel::<Flex>::from_config(&config.clone().into_valid().unwrap(), 4, &device).unwrap())
        .unwrap();
    let x = Tensor::<Flex, 2>::random([1, 8000], Distribution::Normal(0.0, 0.1), &device);
    assert_eq!(embeddings(&model.valid(), &x), embeddings(&restored, &x));
}

#[test]
fn eval_of_a_run_embeds_scores_and_records_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    eval_a_run(small_config(), tmp.path());
}

#[test]
fn eval_of_a_run_applies_the_configured_score_normalisation() {
    let mut config = small_config();
    config.eval.score_norm = adaptsv::config::ScoreNorm::AsNorm;
    config.eval.cohort_top_n = 3;
    let tmp = tempfile::tempdir().unwrap();
    let dir = eval_a_run(config, tmp.path());
    // Normalised scores are z-scores, not cosines: some fall outside [-1, 1].
    let scores = adaptsv::eval::read_scores(&dir.join("scores/trials-step00000000.txt")).unwrap();
    assert!(
        scores.iter().any(|t| t.score.abs() > 1.0),
        "scores look like raw cosines"
    );
    assert!(dir.join("embeddings/step-00000000-cohort-whole.safetensors").is_file());
}

/// `adaptsv embed` gives, for every utterance of a corpus folder, the embedding the run's own evaluation computed
/// for it (same model, same code path), in safetensors and in CSV; a second call is served from its cache; a bad
/// audio file stops it with what came before kept, so the rerun resumes; bad arguments are refused before anything
/// loads.
#[test]
fn embed_writes_the_embeddings_the_evaluation_uses() {
    use adaptsv::eval::EmbeddingCache;
    let tmp = tempfile::tempdir().unwrap();
    let dir = eval_a_run(small_config(), tmp.path());
    let evaluated = EmbeddingCache::load(&dir.join("embeddings/step-00000000-trials-whole.safetensors")).unwrap();
    let test_root = dir.join("data/synthetic/test");
    let embed = |extra: &[&str], out: &std::path::Path| {
        let mut args = vec!["embed", "--run", dir.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_adaptsv")).args(&args).output().unwrap()
    };
    let st = tmp.path().join("out/test.safetensors");
    let out = embed(&["--corpus", test_root.to_str().unwrap()], &st);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("from step 0 of run"), "{stdout}");
    let written = EmbeddingCache::load(&st).unwrap();
    assert_eq!(written.dim, 16);
    // 3 test speakers × 3 utterances, every one of them named by the trial list.
    assert_eq!(written.embeddings.len(), 9);
    for (id, e) in &written.embeddings {
        assert_eq!(Some(e), evaluated.embeddings.get(id), "{id}");
    }
    let caches: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("embeddings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("-corpus-"))
        .collect();
    assert_eq!(caches.len(), 1, "one corpus cache beside the trial list's");
    let cached_at = std::fs::metadata(&caches[0]).unwrap().modified().unwrap();

    let csv_path = tmp.path().join("test.csv");
    let out = embed(&["--corpus", test_root.to_str().unwrap()], &csv_path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,e0,e1,"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 9);
    let first: Vec<&str> = rows[0].split(',').collect();
    let values: Vec<f32> = first[1..].iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(Some(&values), written.embeddings.get(first[0]), "CSV keeps every float exactly");
    assert_eq!(
        std::fs::metadata(&caches[0]).unwrap().modified().unwrap(),
        cached_at,
        "the second extraction of the corpus came from the cache"
    );

    // A bad file stops the extraction naming it; what came before is kept, and a rerun after the fix resumes.
    let copy = tmp.path().join("copy");
    copy_dir(&test_root, &copy);
    let mut ids: Vec<&String> = written.embeddings.keys().collect();
    ids.sort();
    let last = copy.join(ids[8]);
    let good = std::fs::read(&last).unwrap();
    std::fs::write(&last, b"not audio").unwrap();
    let out = embed(&["--corpus", copy.to_str().unwrap()], &tmp.path().join("copy.safetensors"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(ids[8].as_str()), "{stderr}");
    let partial: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("embeddings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("-corpus-") && *p != caches[0])
        .collect();
    assert_eq!(EmbeddingCache::load(&partial[0]).unwrap().embeddings.len(), 8, "the eight good ones are kept");
    std::fs::write(&last, good).unwrap();
    let out = embed(&["--corpus", copy.to_str().unwrap()], &tmp.path().join("copy.safetensors"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(EmbeddingCache::load(&tmp.path().join("copy.safetensors")).unwrap().embeddings, written.embeddings);

    let file = test_root.join(first[0]);
    let out = embed(&[file.to_str().unwrap()], &tmp.path().join("one.csv"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let one = std::fs::read_to_string(tmp.path().join("one.csv")).unwrap();
    let row: Vec<&str> = one.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], file.to_str().unwrap(), "a file's id is its path as given");
    assert_eq!(row[1..], first[1..]);

    for (extra, out_name, says) in [
        (vec!["--corpus", test_root.to_str().unwrap()], "x.npy", "name a .safetensors or a .csv file"),
        (vec!["missing.wav"], "x.csv", "missing.wav: no such audio file"),
        (vec![], "x.csv", "give --corpus DIR or one or more audio files"),
    ] {
        let out = embed(&extra, &tmp.path().join(out_name));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{extra:?}: {stderr}");
    }
}

/// Writes a run with an untrained checkpoint of `config`, evaluates it with `adaptsv eval --run` and checks what
/// the run folder gained. Returns the run folder, created under `root`.
fn eval_a_run(config: ExperimentConfig, root: &std::path::Path) -> std::path::PathBuf {
    let mut w = RunWriter::create(root, &config).unwrap();
    let device = Default::default();
    let model = SpeakerModel::<Ad>::from_config(&config.clone().into_valid().unwrap(), config.data.synthetic.speakers, &device).unwrap();
    save_frozen(&model, &config, &w.checkpoints_dir()).unwrap();
    let bytes = save_model(&model, &config, &w.checkpoints_dir().join(file_name(0)), 0).unwrap();
    w.emit(RunEvent::Checkpoint {
        step: 0,
        path: format!("checkpoints/{}", file_name(0)),
        bytes,
        contents: "full".into(),
    })
    .unwrap();
    let dir = w.dir().to_path_buf();
    w.end(EndStatus::Finished, "checkpoint written", None).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["eval", "--run", dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let eer = v["eer"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&eer));
    assert!(v["n_target"].as_u64().unwrap() > 0);

    assert!(
        dir.join("data/synthetic/trials.txt").is_file(),
        "the synthetic corpus is written into the run"
    );
    assert!(dir.join("scores/trials-step00000000.txt").is_file());
    assert!(dir.join("embeddings/step-00000000-trials-whole.safetensors").is_file());
    let run = load_dir(&dir);
    match &run.events.last().unwrap().event {
        RunEvent::Eval {
            eer: e,
            det,
            scores_file,
            ..
        } => {
            assert_eq!(*e, eer);
            assert!(!det.is_empty());
            assert_eq!(scores_file.as_deref(), Some("scores/trials-step00000000.txt"));
        }
        other => panic!("last event is {other:?}"),
    }
    assert_eq!(run.summary.eer, Some(eer), "summary.json follows the new evaluation");
    assert!(run.damage.is_empty(), "{:?}", run.damage);
    dir
}

/// Copies a folder tree.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
