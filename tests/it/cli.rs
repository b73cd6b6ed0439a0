//! The `adaptsv` binary's subcommands, run as a user runs them.

use std::process::Command;

/// Runs the `adaptsv` binary: (exit code, stdout, stderr).
pub fn adaptsv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_accepts_a_good_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/default.toml");
    let (code, out, err) = adaptsv(&["config", "check", path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": ok"), "{out}");
    assert!(out.contains("adapters"), "{out}");
}

#[test]
fn config_check_lists_every_problem_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"x\"\ndevice = \"tpu\"\n[model]\npreset = \"wavlm-base-plus\"\n[adaptation.inner]\nbottleneck = 0\n[optim]\nepochs = 0\n",
    )
    .unwrap();
    let (code, out, err) = adaptsv(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(err.contains("device = \"tpu\""), "{err}");
    assert!(err.contains("adaptation.inner.bottleneck = 0: must be >= 1"), "{err}");
    assert!(err.contains("optim.epochs = 0: must be >= 1"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn config_check_reports_syntax_errors_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("typo.toml");
    std::fs::write(&path, "name = \"x\"\n[model]\npreset = \"wavlm-base-plus\"\nfoo = 1\n").unwrap();
    let (code, _, err) = adaptsv(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("typo.toml") && err.contains("line 4") && err.contains("foo"),
        "{err}"
    );

    let (code, _, err) = adaptsv(&["config", "check", "/no/such/file.toml"]);
    assert_eq!(code, 1);
    assert!(err.contains("/no/such/file.toml"), "{err}");
}

#[test]
fn runs_lists_status_and_figures() {
    use adaptsv::runs::{EndStatus, RunEvent, RunWriter};
    let tmp = tempfile::tempdir().unwrap();
    let mut w = RunWriter::create(tmp.path(), &adaptsv::config::ExperimentConfig::builtin_default()).unwrap();
    w.emit(RunEvent::Step {
        step: 12,
        epoch: 1.0,
        loss: 0.75,
        lr: 1e-3,
        accuracy: None,
        margin: None,
        samples_per_sec: None,
        lrs: Default::default(),
        grad_norm: None,
        eta_seconds: None,
    })
    .unwrap();
    w.end(EndStatus::Stopped, "stopped by user", None).unwrap();
    let (code, out, err) = adaptsv(&["runs", "--root", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("STATUS") && out.contains("stopped") && out.contains("0.7500") && out.contains("adapters"),
        "{out}"
    );

    let (code, out, _) = adaptsv(&["runs", "--root", tmp.path().to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["status"], "stopped");
    assert_eq!(v["summary"]["steps"], 12);
}

#[test]
fn params_of_the_proposed_framework_example_is_near_five_percent() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/inner-inter-wavlm-base-plus.toml"
    );
    let (code, out, err) = adaptsv(&["params", "--config", path, "--speakers", "1211", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let share = v["trainable_percent"].as_f64().unwrap();
    assert!((4.5..5.5).contains(&share), "trainable share {share} %");
    let groups = v["groups"].as_object().unwrap();
    for g in [
        "backbone",
        "inner adapters",
        "inter adapters",
        "aggregation",
        "head",
        "classifier",
    ] {
        assert!(groups.contains_key(g), "group {g} missing: {out}");
    }
    assert_eq!(groups["backbone"]["trainable"], 0);
    let sum: u64 = groups.values().map(|g| g["params"].as_u64().unwrap()).sum();
    assert_eq!(sum, v["total"].as_u64().unwrap());

    let (code, table, _) = adaptsv(&["params", "--config", path, "--speakers", "1211"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("inner adapters") && table.contains("% of all"),
        "{table}"
    );
}
