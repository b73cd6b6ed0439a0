//! Frame time of the Monitor tab on a long run: a run folder with 100,000 training steps (and layer weights
//! every 10 steps, an evaluation every 10,000), read by the app's own watcher, shown in the Monitor at
//! 1600 × 1000 points. A frame is the app's UI pass plus egui's tessellation (what the CPU does before the
//! GPU draws); the same with 1,000 steps is the reference.
//!
//! Run with `cargo bench --bench gui`; prints one row per run length: median, 90th percentile and worst of
//! 60 frames after 10 warm-up frames.

use adaptsv::config::ExperimentConfig;
use adaptsv::gui::{AdaptsvApp, AppOptions, Remembered, Tab};
use adaptsv::runs::{EndStatus, EventRecord, RunEvent, CONFIG_FILE, METRICS_FILE};
use eframe::egui;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Writes a finished run of `steps` steps under `root`; returns its folder.
fn write_run(root: &Path, steps: u64) -> PathBuf {
    let dir = root.join(format!("20261203T000000Z-bench-{steps}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = ExperimentConfig::builtin_default();
    std::fs::write(dir.join(CONFIG_FILE), config.to_toml_string()).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join(METRICS_FILE)).unwrap());
    let mut emit = |t: f64, event: RunEvent| {
        let rec = EventRecord {
            t,
            utc: "2026-12-03T00:00:00Z".into(),
            event,
        };
        serde_json::to_writer(&mut out, &rec).unwrap();
        out.write_all(b"\n").unwrap();
    };
    emit(
        0.0,
        RunEvent::Started {
            run_id: "bench".into(),
            device: "cpu".into(),
            host: "bench-host".into(),
            pid: 1,
            total_params: None,
            trainable_params: None,
        },
    );
    let lrs: BTreeMap<String, f64> = ["adapters", "aggregation", "head"].iter().map(|g| (g.to_string(), 1e-3)).collect();
    for s in 1..=steps {
        let x = s as f64;
        emit(
            x * 0.5,
            RunEvent::Step {
                step: s,
                epoch: x / 1000.0,
                loss: 8.0 * (-x / steps as f64 * 3.0).exp() + 0.5 * ((x * 12.9898).sin() * 43758.5453).fract().abs(),
                lr: 1e-3,
                accuracy: Some((x / steps as f64).min(1.0)),
                margin: Some(0.2),
                samples_per_sec: Some(40.0 + (x * 0.37).sin()),
                lrs: lrs.clone(),
                grad_norm: Some(1.0),
                eta_seconds: Some((steps - s) as f64 * 0.5),
            },
        );
        if s % 10 == 0 {
            let w: Vec<f64> = (0..13).map(|i| (1.0 + 0.1 * ((i as f64) * x / steps as f64)) / 13.0).collect();
            emit(x * 0.5, RunEvent::LayerWeights { step: s, weights: w });
        }
        if s % (steps / 10).max(1) == 0 {
            let det: Vec<[f64; 2]> = (0..200).map(|i| [i as f64 / 200.0, 1.0 - i as f64 / 200.0]).collect();
            emit(
                x * 0.5,
                RunEvent::Eval {
                    step: s,
                    epoch: x / 1000.0,
                    trials: "trials.txt".into(),
                    n_target: 100,
                    n_nontarget: 100,
                    eer: 0.1,
                    min_dcf: [("0.01".to_string(), 0.5), ("0.05".to_string(), 0.4)].into_iter().collect(),
                    det,
                    scores_file: None,
                },
            );
        }
    }
    emit(
        steps as f64 * 0.5,
        RunEvent::Ended {
            status: EndStatus::Finished,
            message: "done".into(),
            step: Some(steps),
        },
    );
    dir
}

fn input() -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1600.0, 1000.0))),
        ..Default::default()
    }
}

fn frame_times(steps: u64) -> Vec<Duration> {
    let root = tempfile::tempdir().unwrap();
    let dir = write_run(root.path(), steps);
    let ctx = egui::Context::default();
    let options = AppOptions {
        examples_dir: PathBuf::from("experiments"),
        runs_root: root.path().to_path_buf(),
        initial_config: None,
        initial_tab: Some(Tab::Monitor),
        fresh: true,
    };
    let mut app = AdaptsvApp::new(&ctx, options, Remembered::default());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut out = ctx.run_ui(input(), |ui| app.show(ui));
        out.textures_delta.clear();
        if app.runs.get(&dir).is_some_and(|r| r.steps.len() as u64 == steps) {
            break;
        }
        assert!(Instant::now() < deadline, "the watcher did not read the run");
        std::thread::sleep(Duration::from_millis(10));
    }
    app.monitor.selected = Some(dir);
    let mut frame = || {
        let start = Instant::now();
        let mut out = ctx.run_ui(input(), |ui| app.show(ui));
        let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
        out.textures_delta.clear();
        std::hint::black_box(prims);
        start.elapsed()
    };
    for _ in 0..10 {
        frame();
    }
    let mut times: Vec<Duration> = (0..60).map(|_| frame()).collect();
    times.sort();
    times
}

fn main() {
    println!("Monitor frame time (UI pass + tessellation), 1600x1000, {} threads available", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("{:>10} {:>12} {:>12} {:>12}", "steps", "median ms", "p90 ms", "worst ms");
    for steps in [1_000u64, 100_000] {
        let t = frame_times(steps);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("{steps:>10} {:>12.2} {:>12.2} {:>12.2}", ms(t[t.len() / 2]), ms(t[t.len() * 9 / 10]), ms(t[t.len() - 1]));
    }
}
