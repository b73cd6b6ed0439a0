//! `adaptsv sweep`: a sweep killed in the middle of its first run continues where it stopped (the crashed run
//! resumed from its checkpoint, the next one launched), and ends with one summary table, also as CSV.

use super::train::tiny_config;
use adaptsv::runs::{load_dir, RunEvent, RunStatus};
use adaptsv::sweep::SweepState;
use std::process::{Command, Stdio};

#[test]
fn a_killed_sweep_continues_where_it_stopped_and_summarises() {
    let tmp = tempfile::tempdir().unwrap();
    let mut base = tiny_config(&tmp.path().join("runs"));
    base.optim.epochs = 5;
    std::fs::write(tmp.path().join("base.toml"), base.to_toml_string()).unwrap();
    let sweep = tmp.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "[sweep]\nname = \"t\"\nbase = \"base.toml\"\n\n[[variant]]\nname = \"frozen\"\nset = { \"adaptation.method\" = \"frozen\" }\n\n[[variant]]\nname = \"adapters\"\n",
    )
    .unwrap();
    let state_dir = tmp.path().join("state");
    let args = ["sweep", sweep.to_str().unwrap(), "--json", "--state-dir", state_dir.to_str().unwrap()];

    // Killed (SIGKILL) in the middle of the first run, after its first checkpoint.
    let mut child = Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout).lines() {
        let rec: adaptsv::runs::EventRecord = serde_json::from_str(&line.unwrap()).unwrap();
        if let RunEvent::Step { step: 8, .. } = rec.event {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    let state = SweepState::load(&state_dir).unwrap();
    assert_eq!(state.runs.len(), 1, "only the first run was started");
    let first = state.runs["t-frozen"].clone();
    assert_eq!(load_dir(&first).status, RunStatus::Crashed);

    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("t-frozen: continuing"), "{stderr}");
    let state = SweepState::load(&state_dir).unwrap();
    assert_eq!(state.runs.len(), 2);
    for dir in state.runs.values() {
        let run = load_dir(dir);
        assert_eq!(run.status, RunStatus::Finished, "{}", dir.display());
        assert!(run.summary.eer.is_some());
    }
    assert!(load_dir(&first).events.iter().any(|r| matches!(r.event, RunEvent::Resumed { .. })));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("| t-frozen | frozen | finished |") && table.contains("| t-adapters | adapters | finished |"), "{table}");
    let csv = std::fs::read_to_string(state_dir.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // Once more: nothing left to do.
    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("finished before").count(), 2, "{stderr}");
}

#[test]
fn the_paper_comparison_expands_to_the_ten_methods() {
    let sweep = adaptsv::sweep::Sweep::load(std::path::Path::new("experiments/paper-comparison.toml")).unwrap();
    let runs = sweep.expand().unwrap();
    let methods: Vec<&str> = runs.iter().map(|r| r.config.adaptation.method.name()).collect();
    assert_eq!(
        methods,
        ["full-finetune", "partial-finetune", "frozen", "bitfit", "lora", "prefix", "houlsby", "adapters", "adapters", "adapters"]
    );
    let inner_only = &runs[7].config.adaptation;
    let inter_only = &runs[8].config.adaptation;
    assert!(inner_only.inner_enabled() && !inner_only.inter_enabled());
    assert!(!inter_only.inner_enabled() && inter_only.inter_enabled());
}
