//! The real app driven like a user drives it (egui_kittest, no window): build a config by clicking, launch
//! tiny runs on the CPU, watch the Monitor fill, pause / resume / stop, queue two runs, compare them.
//! Waiting is on the app's state (bounded by a deadline), never on fixed sleeps.

use super::train::tiny_config;
use adaptsv::config::{LayerSelection, Method};
use adaptsv::gui::{AdaptsvApp, AppOptions, Remembered, RunOn, Tab};
use adaptsv::runs::RunStatus;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The app, created on the first frame (it needs the harness's egui context).
struct Shell {
    options: Option<AppOptions>,
    app: Option<AdaptsvApp>,
}

impl Shell {
    fn app(&self) -> &AdaptsvApp {
        self.app.as_ref().expect("the first frame created the app")
    }
    fn app_mut(&mut self) -> &mut AdaptsvApp {
        self.app.as_mut().expect("the first frame created the app")
    }
}

fn harness(runs_root: &Path, config_toml: String, tab: Tab) -> Harness<'static, Shell> {
    let options = AppOptions {
        examples_dir: PathBuf::from("experiments"),
        runs_root: runs_root.to_path_buf(),
        initial_config: Some(("test config".into(), config_toml)),
        initial_tab: Some(tab),
        fresh: true,
    };
    let mut h = Harness::builder().with_size([1600.0, 1400.0]).build_ui_state(
        |ui, shell: &mut Shell| {
            if shell.app.is_none() {
                let options = shell.options.take().expect("options for the first frame");
                shell.app = Some(AdaptsvApp::new(ui.ctx(), options, Remembered::default()));
            }
            shell.app_mut().show(ui);
        },
        Shell {
            options: Some(options),
            app: None,
        },
    );
    h.step();
    h
}

/// Steps frames until `done` holds (or fails the test after `secs`).
fn wait_for(h: &mut Harness<'static, Shell>, secs: u64, what: &str, done: impl Fn(&AdaptsvApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        h.step();
        if done(h.state().app()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two frames: one to take the input, one to show its effect.
fn step(h: &mut Harness<'static, Shell>) {
    h.step();
    h.step();
}

fn share(app: &AdaptsvApp) -> Option<f64> {
    app.configure.report().map(|r| r.trainable_percent_without_classifier())
}

#[test]
fn a_config_is_built_by_clicking_and_the_share_follows() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let mut h = harness(dir.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 60, "the first parameter count", |a| share(a).is_some());
    let all_layers = share(h.state().app()).unwrap();

    // Layer 4's adapters off, by clicking its MHSA cell in the stack picture.
    h.get_by_label("layer 4 MHSA").click();
    wait_for(&mut h, 60, "the recount after removing layer 4", |a| {
        share(a).is_some_and(|s| s < all_layers)
    });
    let draft = h.state().app().configure.draft().unwrap().clone();
    assert_eq!(draft.adaptation.inner.layers, LayerSelection::Range(1, 3), "the TOML says what was clicked");
    assert!(h.state().app().configure.current().1.contains("layers = \"1-3\""));
    let three_layers = share(h.state().app()).unwrap();

    // A wider inner bottleneck trains more.
    h.get_by_role_and_label(eframe::egui::accesskit::Role::Slider, "inner bottleneck").set_value_accesskit(64.0);
    wait_for(&mut h, 60, "the recount after a wider bottleneck", |a| {
        share(a).is_some_and(|s| s > three_layers)
    });
    assert_eq!(h.state().app().configure.draft().unwrap().adaptation.inner.bottleneck, 64);
    assert!(h.query_by_label_contains("% trainable").is_some(), "the share is on screen");

    // Another method shows only its own options: LoRA has a rank, no inner bottleneck.
    h.get_by_label("lora").click();
    step(&mut h);
    assert_eq!(h.state().app().configure.draft().unwrap().adaptation.method, Method::Lora);
    assert!(h.query_by_label_contains("inner bottleneck").is_none());
    assert!(h.query_by_label("layer 2 LoRA").is_some(), "the stack picks LoRA's layers");

    // An invalid value is shown beside its field and Launch is refused.
    h.get_by_label("adapters").click();
    step(&mut h);
    assert_eq!(
        h.state().app().configure.draft().unwrap().adaptation.inner.layers,
        LayerSelection::Range(1, 3),
        "the adapters' settings come back when the method does"
    );
    h.get_by_label("no layer").click();
    step(&mut h);
    h.get_by_label("inter adapter").click();
    step(&mut h);
    wait_for(&mut h, 30, "the problem of a method with no adapter", |a| {
        a.configure.draft().is_some() && a.configure.valid_config().is_none() && a.configure.problems_known()
    });
    h.get_by_label("Launch").click();
    h.step();
    assert!(h.state().app().queue.entries.is_empty(), "an invalid config is not launched");
}

#[test]
fn a_launched_run_is_watched_paused_resumed_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(dir.path());
    config.name = "long".into();
    config.optim.epochs = 200;
    let mut h = harness(dir.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 30, "a valid config", |a| a.configure.valid_config().is_some());
    h.get_by_label("Launch").click();
    wait_for(&mut h, 60, "loss and layer weights in the Monitor", |a| {
        a.tab == Tab::Monitor
            && a.monitor.selected.as_ref().and_then(|d| a.runs.get(d)).is_some_and(|r| {
                r.steps.len() >= 3 && !r.layer_weights.is_empty() && r.status == RunStatus::Running
            })
    });
    assert!(h.query_by_label("Training loss").is_some());
    assert!(h.query_by_label("Layer weights over training").is_some());
    let dir_of_run = h.state().app().monitor.selected.clone().unwrap();
    let steps = |a: &AdaptsvApp| a.runs.get(&dir_of_run).map_or(0, |r| r.steps.len());

    h.get_by_label("Pause").click();
    wait_for(&mut h, 30, "the run to pause", |a| a.runs.get(&dir_of_run).is_some_and(|r| r.paused));
    let held = steps(h.state().app());
    for _ in 0..15 {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(steps(h.state().app()) <= held + 1, "a paused run takes no more steps");
    assert!(h.query_all_by_label_contains("paused").next().is_some());

    h.get_by_label("Resume").click();
    wait_for(&mut h, 30, "steps after resuming", |a| steps(a) > held + 2);

    h.get_by_label("Stop").click();
    wait_for(&mut h, 60, "the run to show stopped", |a| {
        a.runs.get(&dir_of_run).is_some_and(|r| r.status == RunStatus::Stopped)
    });
    assert!(h.query_by_label_contains("stopped · adapters").is_some(), "the run list says stopped");
    assert!(h.query_by_label("Continue training").is_some());
}

/// A config whose `output_dir` is not the runs folder the app shows: the launched run stays listed with its
/// method after it ends (the app watches where it was written), and is listed once.
#[test]
fn a_run_written_outside_the_shown_folder_stays_listed_after_it_ends() {
    let (shown, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = tiny_config(elsewhere.path());
    config.optim.epochs = 1;
    let mut h = harness(shown.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 30, "a valid config", |a| a.configure.valid_config().is_some());
    h.get_by_label("Launch").click();
    wait_for(&mut h, 120, "the run to finish and be read back from its folder", |a| {
        a.runs.runs.len() == 1
            && a.runs.runs[0].dir.starts_with(elsewhere.path())
            && a.runs.runs[0].status == RunStatus::Finished
            && a.runs.runs[0].summary.eer.is_some()
            && a.runs.runs[0].config.is_some()
    });
    // A few more listings: the run is not dropped once it is no longer live.
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    h.state_mut().app_mut().tab = Tab::Monitor;
    step(&mut h);
    let app = h.state().app();
    assert_eq!(app.runs.runs.len(), 1, "listed once");
    assert_eq!(app.runs.runs[0].method(), "adapters");
    assert!(h.query_by_label_contains("finished · adapters").is_some(), "the run list names its method");
}

#[test]
fn two_queued_runs_train_in_turn_and_meet_in_compare() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(dir.path());
    config.name = "first".into();
    config.optim.epochs = 2;
    let mut h = harness(dir.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 30, "a valid config", |a| a.configure.valid_config().is_some());
    h.get_by_label("Launch").click();
    h.step();
    // The second: another method, launched while the first trains on the same device.
    let mut second = config.clone();
    second.name = "second".into();
    h.state_mut().app_mut().configure.set_config(second);
    h.get_by_label("Configure").click();
    step(&mut h);
    h.get_by_label("frozen").click();
    step(&mut h);
    wait_for(&mut h, 30, "the second config checked", |a| {
        a.configure.valid_config().is_some_and(|c| c.name == "second" && c.adaptation.method == Method::Frozen)
    });
    h.get_by_label("Launch").click();
    wait_for(&mut h, 30, "the second run queued behind the first", |a| {
        a.queue.entries.len() == 1 && a.runs.runs.len() == 1
    });
    step(&mut h);
    assert!(h.query_by_label_contains("queued #1 on cpu").is_some(), "the Monitor lists the queued run");
    let started_second = |a: &AdaptsvApp| a.runs.runs.len() == 2;
    assert!(!started_second(h.state().app()));
    wait_for(&mut h, 120, "both runs to finish, one after the other", |a| {
        a.queue.entries.is_empty()
            && a.runs.runs.len() == 2
            && a.runs.runs.iter().all(|r| r.status == RunStatus::Finished && r.summary.eer.is_some())
    });
    let app = h.state().app();
    let (a, b) = (&app.runs.runs[0], &app.runs.runs[1]);
    assert_eq!((a.name(), b.name()), ("first", "second"));
    let first_end = a.events.last().unwrap().utc.clone();
    let second_start = b.events.first().unwrap().utc.clone();
    assert!(second_start >= first_end, "the second started after the first ended ({second_start} < {first_end})");
    let ids = [a.id.clone(), b.id.clone()];

    h.get_by_label("Compare").click();
    h.step();
    for r in &ids {
        assert!(h.query_by_label(r).is_some(), "{r} in the table");
    }
    h.get_by_label("tick shown").click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("EER vs trainable share").is_some());
    for name in ["first (adapters)", "second (frozen)"] {
        assert!(h.query_by_label_contains(name).is_some(), "{name} on the EER / share plot");
    }
    // The filter narrows the table; a ticked run it hides stays plotted, and the count says so.
    h.state_mut().app_mut().compare.filter = "SECOND frozen".into();
    h.step();
    h.step();
    assert!(h.query_by_label(&ids[0]).is_none(), "the first run is filtered out of the table");
    assert!(h.query_by_label(&ids[1]).is_some());
    assert!(h
        .query_by_label_contains("1 of 2 runs shown · 2 ticked (1 of them hidden by the filter, still plotted)")
        .is_some());
    assert!(h.query_by_label_contains("first (adapters)").is_some(), "still on the plot");
}

#[test]
fn compare_methods_queues_one_run_per_method_and_queued_runs_can_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(dir.path());
    config.name = "cm".into();
    config.optim.epochs = 200;
    let mut h = harness(dir.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 30, "a valid config", |a| a.configure.valid_config().is_some());
    h.get_by_label("Compare methods").click();
    wait_for(&mut h, 30, "the first method training, nine queued", |a| {
        a.queue.entries.len() == 9 && a.runs.runs.len() == 1 && a.runs.runs[0].config.is_some()
    });
    let queued: Vec<String> = h.state().app().queue.entries.iter().map(|e| e.name.clone()).collect();
    assert_eq!(queued[0], "cm-partial-finetune");
    assert_eq!(queued[8], "cm-inner-inter");
    assert_eq!(h.state().app().runs.runs[0].name(), "cm-full-finetune");
    step(&mut h);
    // Take every queued run out, from the Monitor's list.
    for name in &queued {
        h.get_by_label(&format!("remove {name} from the queue")).click();
        step(&mut h);
    }
    assert!(h.state().app().queue.entries.is_empty());
    h.get_by_label("Stop").click();
    wait_for(&mut h, 60, "the running method to stop", |a| a.runs.runs.iter().all(|r| r.status == RunStatus::Stopped));
    step(&mut h);
    assert_eq!(h.state().app().runs.runs.len(), 1, "no removed run started");
    h.get_by_label("Compare").click();
    step(&mut h);
    assert!(h.state().app().compare.ticked.contains(&h.state().app().runs.runs[0].dir), "the sweep's run is ticked");
}

/// Monitor opens on the newest run, and its filter narrows the run list.
#[test]
fn monitor_shows_the_newest_run_and_filters_the_list() {
    use adaptsv::runs::{EndStatus, RunWriter};
    let dir = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for name in ["alpha", "beta"] {
        let mut config = tiny_config(dir.path());
        config.name = name.into();
        let w = RunWriter::create(dir.path(), &config).unwrap();
        dirs.push(w.dir().to_path_buf());
        w.end(EndStatus::Finished, "done", None).unwrap();
        // Folder names start with a UTC timestamp to the second: the second run is the newer one.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let ids: Vec<String> = dirs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let mut h = harness(dir.path(), tiny_config(dir.path()).to_toml_string(), Tab::Monitor);
    wait_for(&mut h, 30, "both runs listed", |a| a.runs.runs.len() == 2);
    step(&mut h);
    assert_eq!(h.state().app().monitor.selected.as_ref(), Some(&dirs[1]), "the newest run is shown");
    assert!(h.query_by_label(&ids[0]).is_some() && h.query_by_label(&ids[1]).is_some());
    h.state_mut().app_mut().monitor.filter = "ALPHA finished".into();
    step(&mut h);
    assert!(h.query_by_label(&ids[0]).is_some());
    assert!(h.query_by_label(&ids[1]).is_none(), "beta is filtered out of the list");
    assert!(h.query_by_label_contains("1 of 2 runs").is_some());
}

/// The device field offers what the machine has once the worker probed it: picking the wgpu adapter in the
/// drop-down sets `device = "wgpu:0"`, and a device this build lacks is listed but cannot be picked.
#[cfg(feature = "wgpu")]
#[test]
fn the_device_list_offers_the_probed_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let mut h = harness(dir.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 60, "the device probe", |app| app.configure.devices_probed());
    step(&mut h);
    // The device drop-down of the form's Experiment section; open it.
    h.get_by_role_and_label(eframe::egui::accesskit::Role::ComboBox, "device").click();
    step(&mut h);
    if !adaptsv::device::cuda_compiled() {
        assert!(h.query_by_label_contains("cuda:0 · CUDA — unavailable").is_some(), "CUDA is listed as unavailable");
    }
    h.get_by_label_contains("wgpu:0 · ").click();
    step(&mut h);
    assert_eq!(h.state().app().configure.draft().unwrap().device, "wgpu:0");
}

/// Launch on the local Slurm cluster (`.ci/slurm/`; skipped with a line where none answers): the run is listed
/// queued, then running, with its job and the scheduler's state, and Cancel job stops it with a checkpoint.
#[test]
fn a_run_launched_on_slurm_shows_its_job_and_cancel_stops_it() {
    let up = std::process::Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| o.status.success());
    if !up {
        eprintln!("skipped a_run_launched_on_slurm_shows_its_job_and_cancel_stops_it: no Slurm cluster answers `sinfo` here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(dir.path());
    config.optim.epochs = 100_000;
    config.slurm = Some(adaptsv::config::SlurmConfig {
        cpus: 1,
        mem: "1G".into(),
        // The test binary is not adaptsv: name the program the node runs.
        program: env!("CARGO_BIN_EXE_adaptsv").into(),
        ..Default::default()
    });
    let mut h = harness(dir.path(), config.to_toml_string(), Tab::Configure);
    wait_for(&mut h, 30, "sbatch to be found", |a| a.cluster.available() == Some(true));
    h.get_by_role_and_label(eframe::egui::accesskit::Role::ComboBox, "on").click();
    step(&mut h);
    h.get_by_label("Slurm cluster").click();
    step(&mut h);
    assert_eq!(h.state().app().configure.run_on, RunOn::Slurm);
    wait_for(&mut h, 60, "the config check", |a| a.configure.valid_config().is_some());
    h.get_by_label("Launch").click();
    // Other tests' jobs may hold the node's CPUs for a while.
    wait_for(&mut h, 300, "the job to run", |a| {
        a.cluster.states.values().any(|(_, s)| s.as_ref().is_some_and(|s| s.state == "RUNNING"))
    });
    step(&mut h);
    let run_dir = h.state().app().cluster.states.keys().next().unwrap().clone();
    assert_eq!(h.state().app().monitor.selected.as_ref(), Some(&run_dir), "the submitted run is shown");
    assert!(h.query_all_by_label_contains("running on").next().is_some(), "the scheduler's state is shown");
    assert!(h.query_by_label_contains("On the cluster (1)").is_some());
    wait_for(&mut h, 120, "a few steps", |a| a.runs.get(&run_dir).is_some_and(|r| r.steps.len() >= 5));
    h.get_by_label("Cancel job").click();
    wait_for(&mut h, 90, "the cancelled run to stop", |a| {
        a.runs.get(&run_dir).is_some_and(|r| r.status == RunStatus::Stopped) && !a.cluster.active(&run_dir)
    });
}

/// Finished runs of two methods × two seeds, written as training writes them.
fn write_seed_runs(root: &Path) -> Vec<(String, u64, f64)> {
    use adaptsv::runs::{EndStatus, RunWriter};
    let mut out = Vec::new();
    for (method, seed, eer) in [(Method::Adapters, 1, 0.081), (Method::Lora, 1, 0.122), (Method::Adapters, 2, 0.097), (Method::Lora, 2, 0.151)] {
        let mut c = tiny_config(root);
        c.name = format!("{}-s{seed}", method.name());
        c.seed = seed;
        c.adaptation.method = method;
        let mut w = RunWriter::create(root, &c).unwrap();
        let id = w.id().to_string();
        w.emit(super::runs::own_eval(4, eer)).unwrap();
        w.end(EndStatus::Finished, "done", None).unwrap();
        out.push((id, seed, eer));
    }
    out
}

#[test]
fn compare_groups_seeds_with_mean_and_std_and_sorts_by_a_config_column() {
    let dir = tempfile::tempdir().unwrap();
    let runs = write_seed_runs(dir.path());
    let mut h = harness(dir.path(), tiny_config(dir.path()).to_toml_string(), Tab::Compare);
    wait_for(&mut h, 30, "the four runs read", |a| {
        a.runs.runs.len() == 4 && a.runs.runs.iter().all(|r| r.status == RunStatus::Finished && r.summary.eer.is_some())
    });
    // Grouped by everything but the seed: one row per method, its EER the mean ± std of the runs' summaries.
    h.get_by_label("group runs differing only in").click();
    step(&mut h);
    for method in ["adapters", "lora"] {
        let eers: Vec<f64> = h
            .state()
            .app()
            .runs
            .runs
            .iter()
            .filter(|r| r.method() == method)
            .map(|r| 100.0 * r.summary.eer.unwrap())
            .collect();
        assert_eq!(eers.len(), 2);
        let mean = (eers[0] + eers[1]) / 2.0;
        let std = ((eers[0] - mean).powi(2) + (eers[1] - mean).powi(2)).sqrt();
        let cell = format!("{mean:.2} ± {std:.2}");
        assert!(h.query_by_label(&cell).is_some(), "{method}: {cell} in the grouped table");
        assert!(h.query_by_label_contains(&format!("method={method} (2 runs)")).is_some());
    }
    assert!(h.query_by_label(&runs[0].0).is_none(), "grouped: the runs are folded into their group");
    h.get_by_label_contains("method=adapters (2 runs)").click();
    step(&mut h);
    assert!(h.query_by_label(&format!("    {}", runs[0].0)).is_some(), "an opened group lists its runs");
    assert!(h.query_by_label(&format!("    {}", runs[1].0)).is_none(), "the other group stays folded");

    // Ungrouped, with the seed as a column picked from the keys that differ, sorted by it both ways.
    h.get_by_label("group runs differing only in").click();
    step(&mut h);
    h.get_by_label("config columns (0)").click();
    step(&mut h);
    h.get_by_label("seed").click();
    step(&mut h);
    // Close the menu.
    h.key_press(eframe::egui::Key::Escape);
    step(&mut h);
    let order = |h: &Harness<'static, Shell>| {
        let mut ys: Vec<(f32, u64)> = runs.iter().map(|(id, seed, _)| (h.get_by_label(id).rect().top(), *seed)).collect();
        ys.sort_by(|a, b| a.0.total_cmp(&b.0));
        ys.into_iter().map(|(_, s)| s).collect::<Vec<_>>()
    };
    h.get_by_role_and_label(eframe::egui::accesskit::Role::Button, "seed").click();
    step(&mut h);
    assert_eq!(order(&h), [1, 1, 2, 2], "ascending by seed");
    h.get_by_role_and_label(eframe::egui::accesskit::Role::Button, "seed ^").click();
    step(&mut h);
    assert_eq!(order(&h), [2, 2, 1, 1], "descending by seed");
}

/// The Monitor's "add tag" field.
fn tag_field<'a>(h: &'a Harness<'static, Shell>) -> egui_kittest::Node<'a> {
    h.get_by_role_and_label(eframe::egui::accesskit::Role::TextInput, "add tag")
}

/// A tag typed in the Monitor is written to the run folder (beside a tag another process adds at the same time),
/// read back by the watcher, shown in Compare's table, and clicking it filters the table to the tagged runs; the
/// typed filter `#tag` does the same in the Monitor's list.
#[test]
fn a_run_tagged_in_the_monitor_is_found_by_its_tag_in_compare() {
    use adaptsv::runs::notes::{self, NoteEdit};
    let dir = tempfile::tempdir().unwrap();
    let runs = write_seed_runs(dir.path());
    let (tagged, other) = (&runs[1].0, &runs[2].0);
    let tagged_dir = dir.path().join(tagged);
    let mut h = harness(dir.path(), tiny_config(dir.path()).to_toml_string(), Tab::Monitor);
    wait_for(&mut h, 30, "the four runs read", |a| a.runs.runs.len() == 4);
    h.get_by_label(tagged).click();
    step(&mut h);
    assert_eq!(h.state().app().monitor.selected.as_ref(), Some(&tagged_dir));

    tag_field(&h).click();
    step(&mut h);
    tag_field(&h).type_text("baseline");
    step(&mut h);
    // Another process tags the same run meanwhile.
    notes::append(&tagged_dir, &[NoteEdit::Tag { tag: "from-cli".into() }]).unwrap();
    h.key_press(eframe::egui::Key::Enter);
    let has = |a: &AdaptsvApp, tag: &str| a.runs.get(&tagged_dir).is_some_and(|r| r.notes.tags.contains(tag));
    wait_for(&mut h, 10, "both tags read back from the run folder", |a| has(a, "baseline") && has(a, "from-cli"));
    let (on_disk, damage) = notes::read(&tagged_dir);
    assert!(damage.is_empty());
    assert_eq!(on_disk.tags.iter().map(String::as_str).collect::<Vec<_>>(), ["baseline", "from-cli"]);

    // A bad tag is refused with a reason, and nothing is written.
    tag_field(&h).click();
    step(&mut h);
    tag_field(&h).type_text("two words");
    h.key_press(eframe::egui::Key::Enter);
    step(&mut h);
    assert!(h.query_by_label_contains("a tag is one word").is_some());
    assert_eq!(notes::read(&tagged_dir).0, on_disk);

    // The Monitor's list filtered by the tag.
    h.state_mut().app_mut().monitor.filter = "#baseline".into();
    step(&mut h);
    assert!(h.query_by_label(tagged).is_some());
    assert!(h.query_by_label(other).is_none(), "an untagged run is filtered out of the list");

    // Compare: the tag in the run's row; clicking it shows only the tagged runs.
    h.state_mut().app_mut().tab = Tab::Compare;
    step(&mut h);
    assert!(h.query_by_label(other).is_some(), "unfiltered, every run is in the table");
    h.get_by_label("show only runs tagged baseline").click();
    step(&mut h);
    assert_eq!(h.state().app().compare.filter, "#baseline");
    assert!(h.query_by_label(tagged).is_some());
    for (id, _, _) in runs.iter().filter(|(id, _, _)| id != tagged) {
        assert!(h.query_by_label(id).is_none(), "{id} has no tag baseline");
    }
    assert!(h.query_by_label_contains("1 of 4 runs shown").is_some());

    // Removing the tag in the Monitor (its chip) leaves the other process's tag.
    h.state_mut().app_mut().tab = Tab::Monitor;
    step(&mut h);
    h.get_by_label("remove tag baseline").click();
    wait_for(&mut h, 10, "the tag removed on disk", |a| !has(a, "baseline") && has(a, "from-cli"));
    assert!(!notes::read(&tagged_dir).0.tags.contains("baseline"));
}

/// The sweep view picks the newest sweep's runs (config `sweep`), makes one axis per key they vary, and ranks
/// them by EER; a run of another sweep is left out.
#[test]
fn the_sweep_view_shows_one_sweeps_runs_ranked_by_eer_over_the_keys_it_varies() {
    use adaptsv::runs::{EndStatus, RunWriter};
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for (sweep, bottleneck, seed, eer) in [("old", 8, 1, 0.05), ("grid", 8, 1, 0.20), ("grid", 32, 1, 0.10), ("grid", 16, 2, 0.15)] {
        let mut c = tiny_config(dir.path());
        c.name = format!("{sweep}-b{bottleneck}-s{seed}");
        c.sweep = Some(sweep.into());
        c.seed = seed;
        c.adaptation.inner.bottleneck = bottleneck;
        let mut w = RunWriter::create(dir.path(), &c).unwrap();
        ids.push((w.id().to_string(), eer));
        w.emit(super::runs::own_eval(4, eer)).unwrap();
        w.end(EndStatus::Finished, "done", None).unwrap();
        if sweep == "old" {
            // Folder names start with their UTC second: the grid is the newer sweep.
            std::thread::sleep(Duration::from_millis(1100));
        }
    }
    let mut h = harness(dir.path(), tiny_config(dir.path()).to_toml_string(), Tab::Compare);
    wait_for(&mut h, 30, "the runs read", |a| a.runs.runs.len() == 4 && a.runs.runs.iter().all(|r| r.summary.eer.is_some()));
    h.get_by_label("Sweep").click();
    step(&mut h);
    assert_eq!(h.state().app().compare.sweep.sweep.as_deref(), Some("grid"));
    assert!(h.query_by_label_contains("3 runs with an EER · 2 varied keys").is_some());
    for key in ["adaptation.inner.bottleneck", "seed"] {
        assert!(h.query_by_label(key).is_some(), "{key} is a column of the ranking");
    }
    assert!(h.query_by_label(&ids[0].0).is_none(), "the other sweep's run is not shown");
    let top = |id: &str| h.get_by_label(id).rect().top();
    assert!(top(&ids[2].0) < top(&ids[3].0) && top(&ids[3].0) < top(&ids[1].0), "ranked by EER, best first");
}
