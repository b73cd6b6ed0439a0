//! `adaptsv eval` end to end: a synthetic corpus written by `adaptsv synth`, embedded by the LTAS baseline,
//! scored, measured, cached.

use crate::cli::adaptsv;

#[test]
fn baseline_eval_scores_a_synthetic_trial_list_and_caches_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("synth");
    let c = corpus.to_str().unwrap();
    let (code, _, err) = adaptsv(&[
        "synth",
        "--out",
        c,
        "--speakers",
        "12",
        "--utterances",
        "4",
        "--seconds",
        "1.5",
        "--test-speakers",
        "8",
        "--seed",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    let out = tmp.path().join("eval");
    let args = [
        "eval",
        "--embedder",
        "ltas",
        "--corpus",
        &format!("{c}/test"),
        "--trials",
        &format!("{c}/trials.txt"),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    let (code, stdout, err) = adaptsv(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let eer = v["eer"].as_f64().unwrap();
    assert!(eer > 0.02 && eer < 0.45, "LTAS baseline EER {eer}");
    assert!(v["n_target"].as_u64().unwrap() > 0 && v["n_nontarget"].as_u64().unwrap() > 0);
    assert!(out.join("scores-trials.txt").is_file());
    assert!(out.join("metrics-trials.json").is_file());
    let cache = out.join("embeddings-ltas40-whole.safetensors");
    assert!(cache.is_file());

    // The score file it wrote gives the same figures through `adaptsv metrics`.
    let (code, again, _) = adaptsv(&[
        "metrics",
        "--scores",
        out.join("scores-trials.txt").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let w: serde_json::Value = serde_json::from_str(again.trim()).unwrap();
    assert_eq!(w["eer"], v["eer"]);

    // A second evaluation takes every embedding from the cache: same numbers, cache file not rewritten.
    let written = std::fs::metadata(&cache).unwrap().modified().unwrap();
    let (code, stdout2, err) = adaptsv(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout2, stdout);
    assert_eq!(std::fs::metadata(&cache).unwrap().modified().unwrap(), written);

    // Audio the trial list names has gone: the error names the list's line and the corpus folder.
    std::fs::remove_dir_all(format!("{c}/test")).unwrap();
    std::fs::create_dir_all(format!("{c}/test")).unwrap();
    let (code, _, err) = adaptsv(&args);
    assert_ne!(code, 0, "audio is gone, ids must be missing: {err}");
    assert!(
        err.contains("line 1 names") && err.contains("not in the corpus folder"),
        "{err}"
    );
}

#[test]
fn eval_of_a_run_without_checkpoint_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w =
        adaptsv::runs::RunWriter::create(tmp.path(), &adaptsv::config::ExperimentConfig::builtin_default()).unwrap();
    w.log("nothing trained").unwrap();
    let dir = w.dir().to_path_buf();
    w.end(adaptsv::runs::EndStatus::Stopped, "stopped", None).unwrap();
    let (code, _, err) = adaptsv(&["eval", "--run", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("has no checkpoint in checkpoints/"), "{err}");
    let (code, _, err) = adaptsv(&["eval", "--embedder", "ltas"]);
    assert_eq!(code, 1);
    assert!(err.contains("--corpus"), "{err}");
}
