//! The run folder: writing, status detection (running / finished / stopped / failed / crashed), damaged files.

use adaptsv::config::ExperimentConfig;
use adaptsv::runs::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;

fn config() -> ExperimentConfig {
    ExperimentConfig::builtin_default()
}

fn step(step: u64, loss: f64) -> RunEvent {
    RunEvent::Step {
        step,
        epoch: step as f64 / 10.0,
        loss,
        lr: 1e-3,
        accuracy: None,
        margin: None,
        samples_per_sec: None,
        lrs: Default::default(),
        grad_norm: None,
        eta_seconds: None,
    }
}

/// An evaluation on the run's own list: 10 target and 90 non-target trials, minDCF(0.01) twice the EER.
pub fn own_eval(step: u64, eer: f64) -> RunEvent {
    RunEvent::Eval {
        step,
        epoch: 1.0,
        trials: "trials.txt".into(),
        list: None,
        n_target: 10,
        n_nontarget: 90,
        eer,
        min_dcf: BTreeMap::from([("0.01".to_string(), 2.0 * eer)]),
        det: vec![],
        scores_file: None,
    }
}

fn started(host: &str) -> RunEvent {
    RunEvent::Started {
        run_id: "x".into(),
        device: "cpu".into(),
        host: host.into(),
        pid: std::process::id(),
        total_params: Some(1000),
        trainable_params: Some(50),
    }
}

#[test]
fn a_finished_run_has_every_file_and_its_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = RunWriter::create(tmp.path(), &config()).unwrap();
    let id = w.id().to_string();
    assert!(id.ends_with("-default-inner-inter"), "{id}");
    w.emit(started(&local_host())).unwrap();
    for s in 1..=5 {
        w.emit(step(s, 10.0 - s as f64)).unwrap();
    }
    let mut dcf = BTreeMap::new();
    dcf.insert("0.01".to_string(), 0.31);
    for (s, eer) in [(3, 0.12), (5, 0.08)] {
        w.emit(RunEvent::Eval {
            step: s,
            epoch: 0.5,
            trials: "trials.txt".into(),
            list: None,
            n_target: 10,
            n_nontarget: 10,
            eer,
            min_dcf: dcf.clone(),
            det: vec![],
            scores_file: None,
        })
        .unwrap();
    }
    w.log("all good").unwrap();
    let dir = w.dir().to_path_buf();
    let summary = w.end(EndStatus::Finished, "done", None).unwrap();
    assert_eq!(summary.status, RunStatus::Finished);

    for f in [CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, LOG_FILE] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(dir.join(CHECKPOINTS_DIR).is_dir() && dir.join(SCORES_DIR).is_dir());
    assert!(fs::read_to_string(dir.join(LOG_FILE)).unwrap().contains("all good"));

    let runs = RunStore::new(tmp.path()).list().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.id, id);
    assert_eq!(run.status, RunStatus::Finished);
    assert!(run.damage.is_empty(), "{:?}", run.damage);
    assert_eq!(run.config.as_ref().unwrap(), &config());
    assert_eq!(run.events.len(), 10);
    assert_eq!(run.summary.steps, 5);
    assert_eq!(run.summary.final_loss, Some(5.0));
    assert_eq!(run.summary.eer, Some(0.08));
    assert_eq!(run.summary.best_eer, Some(0.08));
    assert_eq!(run.summary.trainable_percent(), Some(5.0));
}

#[test]
fn stopped_and_failed_runs_keep_their_status() {
    let tmp = tempfile::tempdir().unwrap();
    for status in [EndStatus::Stopped, EndStatus::Failed] {
        let mut w = RunWriter::create(tmp.path(), &config()).unwrap();
        w.emit(started(&local_host())).unwrap();
        w.emit(step(1, 3.0)).unwrap();
        w.end(status, "bye", None).unwrap();
    }
    let statuses: Vec<RunStatus> = RunStore::new(tmp.path())
        .list()
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![RunStatus::Stopped, RunStatus::Failed]);
}

#[test]
fn a_live_run_is_running_and_a_dead_one_crashed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RunStore::new(tmp.path());
    let mut w = RunWriter::create(tmp.path(), &config()).unwrap();
    w.emit(started(&local_host())).unwrap();
    w.emit(step(1, 3.0)).unwrap();
    let id = w.id().to_string();
    assert_eq!(store.load(&id).unwrap().status, RunStatus::Running);
    assert!(matches!(store.delete(&id), Err(RunError::StillRunning(_))));

    // The process "dies": the writer goes away without an end event, the OS releases the lock.
    drop(w);
    let run = store.load(&id).unwrap();
    assert_eq!(run.status, RunStatus::Crashed);
    assert_eq!(run.summary.steps, 1, "what was written before the crash is kept");
    store.delete(&id).unwrap();
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn a_run_killed_in_another_process_is_crashed() {
    // A real process holds the lock and is killed: exactly what happens to a training process that dies.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("20260101T000000Z-killed");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(CONFIG_FILE), config().to_toml_string()).unwrap();
    let rec = EventRecord {
        t: 0.0,
        utc: Utc::now().rfc3339(),
        event: started(&local_host()),
    };
    fs::write(
        dir.join(METRICS_FILE),
        format!("{}\n", serde_json::to_string(&rec).unwrap()),
    )
    .unwrap();
    fs::write(dir.join(LOCK_FILE), "").unwrap();
    // `--no-fork`: flock execs `sleep` itself, so the killed pid is the one holding the lock.
    let mut child = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(dir.join(LOCK_FILE))
        .args(["sleep", "30"])
        .spawn()
        .expect("the flock utility (util-linux) runs");
    let store = RunStore::new(tmp.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.load("20260101T000000Z-killed").unwrap().status != RunStatus::Running {
        assert!(std::time::Instant::now() < deadline, "the child never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        store.load("20260101T000000Z-killed").unwrap().status,
        RunStatus::Crashed
    );
}

#[test]
fn a_truncated_metrics_file_still_loads_what_is_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = RunWriter::create(tmp.path(), &config()).unwrap();
    w.emit(started(&local_host())).unwrap();
    for s in 1..=3 {
        w.emit(step(s, 4.0 - s as f64)).unwrap();
    }
    let dir = w.dir().to_path_buf();
    drop(w);
    // The process died mid-write: half a line at the end.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join(METRICS_FILE))
        .unwrap();
    f.write_all(br#"{"t":9.0,"utc":"2026-11-27T10:00:00Z","event":"step","step":4,"ep"#)
        .unwrap();
    drop(f);

    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Crashed);
    assert_eq!(run.events.len(), 4);
    assert_eq!(run.summary.steps, 3);
    assert_eq!(run.damage.len(), 1, "{:?}", run.damage);
    let d = run.damage[0].to_string();
    assert!(
        d.contains("metrics.jsonl line 5") && d.contains("truncated last line"),
        "{d}"
    );
}

#[test]
fn damaged_summary_and_config_are_reported_and_the_rest_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = RunWriter::create(tmp.path(), &config()).unwrap();
    w.emit(started(&local_host())).unwrap();
    w.emit(step(7, 1.5)).unwrap();
    let dir = w.dir().to_path_buf();
    w.end(EndStatus::Finished, "ok", None).unwrap();
    fs::write(dir.join(SUMMARY_FILE), "{ not json").unwrap();
    fs::write(dir.join(CONFIG_FILE), "name = \n").unwrap();
    // A line in the middle from a newer version of adaptsv, and a garbage line.
    let text = fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, r#"{"t":1.0,"utc":"2026-11-27T10:00:00Z","event":"from_the_future"}"#);
    fs::write(dir.join(METRICS_FILE), lines.join("\n") + "\n").unwrap();

    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    assert!(run.config.is_none());
    assert_eq!(run.summary.steps, 7, "summary re-derived from the events");
    let damage: Vec<String> = run.damage.iter().map(|d| d.to_string()).collect();
    assert_eq!(damage.len(), 3, "{damage:#?}");
    assert!(damage.iter().any(|d| d.contains("config.toml")));
    assert!(damage.iter().any(|d| d.contains("summary.json")));
    assert!(damage
        .iter()
        .any(|d| d.contains("metrics.jsonl line 2") && d.contains("unreadable event")));
}

#[test]
fn runs_from_another_host_are_judged_by_their_last_event() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, utc) in [
        ("20260101T000000Z-remote-old", "2026-01-01T00:00:00Z".to_string()),
        ("20260101T000001Z-remote-live", Utc::now().rfc3339()),
    ] {
        let dir = tmp.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        let rec = EventRecord {
            t: 0.0,
            utc,
            event: started("gpu-server-7"),
        };
        fs::write(
            dir.join(METRICS_FILE),
            format!("{}\n", serde_json::to_string(&rec).unwrap()),
        )
        .unwrap();
    }
    let store = RunStore::new(tmp.path());
    assert_eq!(
        store.load("20260101T000000Z-remote-old").unwrap().status,
        RunStatus::Crashed
    );
    assert_eq!(
        store.load("20260101T000001Z-remote-live").unwrap().status,
        RunStatus::Running
    );
}

#[test]
fn a_missing_root_is_an_empty_list_and_bad_ids_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RunStore::new(tmp.path().join("nothing-here"));
    assert!(store.list().unwrap().is_empty());
    assert!(matches!(store.load("../etc"), Err(RunError::NoSuchRun { .. })));
}

#[test]
fn two_runs_started_in_the_same_second_get_distinct_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let a = RunWriter::create(tmp.path(), &config()).unwrap();
    let b = RunWriter::create(tmp.path(), &config()).unwrap();
    assert_ne!(a.dir(), b.dir());
}

#[test]
fn a_crashed_run_reopens_after_its_cut_off_last_line_and_reads_as_running() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = RunWriter::create(tmp.path(), &config()).unwrap();
    w.emit(step(1, 2.0)).unwrap();
    let dir = w.dir().to_path_buf();
    drop(w); // the process "dies"
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join(METRICS_FILE))
        .unwrap();
    f.write_all(br#"{"t":3.0,"utc":"2026-"#).unwrap(); // a line cut off mid-write
    drop(f);
    assert_eq!(load_dir(&dir).status, RunStatus::Crashed);

    let mut w = RunWriter::reopen(&dir).unwrap();
    assert_eq!(load_dir(&dir).status, RunStatus::Running, "the lock is held again");
    assert!(RunWriter::reopen(&dir).is_err(), "a second writer is refused");
    w.emit(step(2, 1.5)).unwrap();
    w.end(EndStatus::Finished, "done", Some(2)).unwrap();
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    let steps: Vec<u64> = run
        .events
        .iter()
        .filter_map(|r| match r.event {
            RunEvent::Step { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, vec![1, 2], "the event after the cut line is read whole");
    assert_eq!(run.damage.len(), 1, "the cut line is reported: {:?}", run.damage);
}

/// `adaptsv compare --group-by-except seed --json`: runs that differ only in their seed are one group, whose n,
/// mean and sample std are those of the runs' own summaries; another method is another group.
#[test]
fn compare_groups_seeds_with_the_mean_and_std_of_their_summaries() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = [("adapters", 1, 0.081), ("adapters", 2, 0.095), ("adapters", 3, 0.074), ("lora", 1, 0.120), ("lora", 2, 0.101)];
    for (method, seed, eer) in runs {
        let mut c = config();
        c.name = format!("{method}-seed{seed}");
        c.seed = seed;
        if method == "lora" {
            c.adaptation.method = adaptsv::config::Method::Lora;
        }
        let mut w = RunWriter::create(tmp.path(), &c).unwrap();
        w.emit(step(1, 2.0 + eer)).unwrap();
        w.emit(own_eval(1, eer)).unwrap();
        w.end(EndStatus::Finished, "done", None).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["compare", "--group-by-except", "seed", "--json", "--root"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let groups: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let store = RunStore::new(tmp.path()).list().unwrap();
    for g in &groups {
        let ids: Vec<&str> = g["runs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let members: Vec<&LoadedRun> = store.iter().filter(|r| ids.contains(&r.id.as_str())).collect();
        assert_eq!(members.len(), ids.len());
        let method = members[0].method();
        assert!(members.iter().all(|r| r.method() == method), "one method per group");
        assert_eq!(g["n"], if method == "adapters" { 3 } else { 2 });
        assert_eq!(g["identity"]["adaptation.method"], format!("\"{method}\""));
        // The figures, from the summaries the runs wrote, computed here independently.
        let eers: Vec<f64> = members.iter().map(|r| 100.0 * r.summary.eer.unwrap()).collect();
        let n = eers.len() as f64;
        let mean = eers.iter().sum::<f64>() / n;
        let std = (eers.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / (n - 1.0)).sqrt();
        let f = &g["figures"]["eer_percent"];
        assert_eq!(f["n"], eers.len());
        assert!((f["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{f} vs {mean}");
        assert!((f["std"].as_f64().unwrap() - std).abs() < 1e-9, "{f} vs {std}");
        assert_eq!(f["min"].as_f64().unwrap(), eers.iter().cloned().fold(f64::MAX, f64::min));
        let dcf = &g["figures"]["min_dcf_0.01"];
        let dcf_mean = members.iter().map(|r| r.summary.min_dcf["0.01"]).sum::<f64>() / n;
        assert!((dcf["mean"].as_f64().unwrap() - dcf_mean).abs() < 1e-12);
    }
    // Seeds kept apart (only the names, which never split a group, left out): every run alone.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adaptsv"))
        .args(["compare", "--group-by-except", "name", "--csv", "--root"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1 + runs.len(), "{text}");
    assert!(text.lines().next().unwrap().contains("eer_percent_mean,eer_percent_std,eer_percent_n"));
}

/// `adaptsv note` tags runs and sets notes in their folders; `runs --filter "#tag"` and `compare --filter` pick
/// the tagged runs; a bad tag is refused naming it, and writes nothing.
#[test]
fn runs_are_tagged_and_annotated_from_the_command_line_and_filtered_by_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for seed in [1, 2, 3] {
        let mut c = config();
        c.name = format!("tagged-seed{seed}");
        c.seed = seed;
        let mut w = RunWriter::create(tmp.path(), &c).unwrap();
        w.emit(own_eval(1, 0.1 + 0.01 * seed as f64)).unwrap();
        dirs.push(w.dir().to_path_buf());
        w.end(EndStatus::Finished, "done", None).unwrap();
    }
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_adaptsv")).args(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (d0, d1) = (dirs[0].to_str().unwrap(), dirs[1].to_str().unwrap());
    let (ok, out, err) = cli(&["note", d0, d1, "--tag", "paper", "--tag", "#keep", "--text", "lr too high\nrerun at 1e-3"]);
    assert!(ok, "{err}");
    assert!(out.contains("tags: #keep #paper") && out.contains("note: lr too high"), "{out}");
    let (ok, _, err) = cli(&["note", d1, "--untag", "keep"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["note", d0, "--tag", "not ok"]);
    assert!(!ok && err.contains("\"not ok\"") && err.contains("one word"), "{err}");

    let root = tmp.path().to_str().unwrap();
    let (ok, out, err) = cli(&["runs", "--root", root, "--json", "--filter", "#keep"]);
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["id"], dirs[0].file_name().unwrap().to_str().unwrap());
    assert_eq!(listed[0]["tags"], serde_json::json!(["keep", "paper"]));
    assert_eq!(listed[0]["note"], "lr too high\nrerun at 1e-3");
    let (ok, out, _) = cli(&["runs", "--root", root, "--filter", "#paper"]);
    assert!(ok && out.contains("#paper") && out.contains("note ") && out.lines().filter(|l| l.contains("finished")).count() == 2, "{out}");
    // The filter's plain words search the note too.
    let (ok, out, _) = cli(&["compare", "--root", root, "--json", "--filter", "rerun #paper"]);
    assert!(ok);
    let groups: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(groups.len(), 1, "{out}");
    assert_eq!(groups[0]["n"], 2);
    let (ok, out, _) = cli(&["note", d0, "--history"]);
    assert!(ok && out.lines().filter(|l| l.contains("tag #")).count() == 2, "{out}");
    assert!(adaptsv::runs::notes::read(&dirs[0]).0.tags.contains("keep"), "the bad tag wrote nothing else");
}
