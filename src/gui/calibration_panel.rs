//! The Monitor's "Score calibration" beside a run's evaluations: the run's `calibration.json` if it has one
//! (scale and offset, Cllr before and after, min Cllr, Bayes thresholds), and a form to calibrate it on a
//! held-out trial list, which runs `engine::calibrate::calibrate_run` (the same as `adaptsv calibrate --run`) on
//! a worker, embedding on the CPU; the list's own EER then appears among the run's other lists as `calibration`.

use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::jobs::Jobs;
use super::run_view::RunView;
use super::theme;
use crate::device::DeviceChoice;
use crate::engine::calibrate::{calibrate_run, read_record, CalibrationRecord, DEFAULT_PRIOR, DEFAULT_THRESHOLD_PRIORS};
use crate::runs::RunStatus;
use eframe::egui::{self, RichText};
use std::path::{Path, PathBuf};

/// A worker's answer: the run folder, and its record (or why there is none).
type Answer = (PathBuf, Result<Option<CalibrationRecord>, String>);

pub struct CalibrationPanel {
    /// The run whose record is shown (or being read).
    shown_for: Option<PathBuf>,
    record: Option<Result<Option<CalibrationRecord>, String>>,
    /// The calibration trial list and its corpus folder, as typed or picked.
    pub trials: String,
    pub corpus: String,
    /// A calibration is running for this run folder.
    running: Option<PathBuf>,
    dialog: Option<PendingDialog>,
    notice: Option<String>,
    work: Jobs<Answer>,
}

impl Default for CalibrationPanel {
    fn default() -> Self {
        Self {
            shown_for: None,
            record: None,
            trials: String::new(),
            corpus: String::new(),
            running: None,
            dialog: None,
            notice: None,
            work: Jobs::spawn("calibration"),
        }
    }
}

impl CalibrationPanel {
    fn poll(&mut self) {
        while let Some((dir, answer)) = self.work.poll() {
            if self.running.as_ref() == Some(&dir) {
                self.running = None;
            }
            if self.shown_for.as_ref() == Some(&dir) {
                self.record = Some(answer);
            }
        }
        if let Some(picked) = self.dialog.as_ref().and_then(PendingDialog::poll) {
            let unseen = self.dialog.as_ref().is_some_and(PendingDialog::closed_unseen);
            self.dialog = None;
            match picked {
                Some(p) => self.trials = p.display().to_string(),
                None if unseen => self.notice = Some(NO_DIALOG_HINT.into()),
                None => {}
            }
        }
    }

    /// The section for `run`.
    pub fn ui(&mut self, ui: &mut egui::Ui, run: &RunView) {
        self.poll();
        if self.shown_for.as_deref() != Some(run.dir.as_path()) {
            self.shown_for = Some(run.dir.clone());
            self.record = None;
            let dir = run.dir.clone();
            self.work.submit(move || {
                let record = read_record(&dir).map_err(|e| format!("{e:#}"));
                (dir, record)
            });
        }
        match &self.record {
            None => {
                ui.weak("reading calibration.json …");
            }
            Some(Err(e)) => {
                ui.colored_label(theme::ERROR, e);
            }
            Some(Ok(None)) => {
                ui.weak("Not calibrated yet: fit scale and offset on a held-out trial list to get scores you can threshold.");
            }
            Some(Ok(Some(r))) => record_ui(ui, r),
        }
        self.form_ui(ui, run);
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, run: &RunView) {
        let width = (ui.available_width() - 190.0).max(120.0);
        egui::Grid::new("calibration_form").num_columns(2).show(ui, |ui| {
            ui.label("calibration list");
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut self.trials)
                        .hint_text("held-out trials.txt")
                        .desired_width(width),
                )
                .on_hover_text(
                    "a trial list the run was not evaluated on (`label enroll test`): the fit is made on it",
                );
                if ui
                    .add_enabled(self.dialog.is_none(), egui::Button::new("Browse…"))
                    .clicked()
                {
                    let start = Path::new(&self.trials)
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default();
                    self.dialog = Some(PendingDialog::open(DialogPurpose::PickTrials, start));
                }
            });
            ui.end_row();
            ui.label("its audio folder");
            ui.add(
                egui::TextEdit::singleline(&mut self.corpus)
                    .hint_text("empty: the run's own evaluation audio")
                    .desired_width(width),
            )
            .on_hover_text("the folder the list's ids are relative to");
            ui.end_row();
        });
        let busy = self.running.is_some();
        let can =
            !busy && !self.trials.trim().is_empty() && run.status != RunStatus::Running && run.summary.eer.is_some();
        ui.horizontal(|ui| {
            let why = if run.status == RunStatus::Running {
                "the run is still training: calibrate it when it has ended"
            } else if run.summary.eer.is_none() {
                "the run has no evaluation of its own list yet"
            } else {
                "embed the list with the run's latest checkpoint on the CPU, fit, and calibrate the run's own scores"
            };
            if ui
                .add_enabled(can, egui::Button::new("Calibrate"))
                .on_hover_text(why)
                .on_disabled_hover_text(why)
                .clicked()
            {
                self.start(run);
            }
            if self.running.as_ref() == Some(&run.dir) {
                ui.spinner();
                ui.weak("calibrating: embedding the calibration list …");
            }
            if let Some(n) = &self.notice {
                ui.colored_label(theme::WARN, n);
            }
        });
    }

    fn start(&mut self, run: &RunView) {
        let dir = run.dir.clone();
        let trials = PathBuf::from(self.trials.trim());
        let corpus = Some(self.corpus.trim()).filter(|c| !c.is_empty()).map(PathBuf::from);
        self.running = Some(dir.clone());
        self.notice = None;
        self.work.submit(move || {
            let mut quiet = |_: &str, _: usize, _: usize, _: Option<f64>| {};
            let result = calibrate_run(
                &dir,
                &trials,
                corpus.as_deref(),
                DeviceChoice::Cpu,
                DEFAULT_PRIOR,
                &DEFAULT_THRESHOLD_PRIORS,
                &mut quiet,
            )
            .map(Some)
            .map_err(|e| format!("calibration failed: {e:#}"));
            (dir, result)
        });
    }
}

/// The figures of a calibration, as the CLI prints them.
fn record_ui(ui: &mut egui::Ui, r: &CalibrationRecord) {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    ui.label(
        RichText::new(format!(
            "llr = {:.4} × score {} {:.4}",
            r.scale,
            if r.offset < 0.0 { "−" } else { "+" },
            r.offset.abs()
        ))
        .strong(),
    )
    .on_hover_text(format!(
        "fitted at prior {} on {} ({} target, {} non-target trials)",
        r.prior,
        r.fitted_on.display(),
        r.n_target,
        r.n_nontarget
    ));
    ui.label(format!(
        "Cllr {:.4} bits before, {:.4} after (min Cllr {:.4}: the best any monotone calibration reaches), on {}",
        r.cllr_before,
        r.cllr_after,
        r.min_cllr,
        name(&r.measured_on)
    ));
    for t in &r.thresholds {
        ui.label(format!(
            "P(target) = {}: accept when llr ≥ {:.3} (raw score ≥ {:.4})",
            t.p_target, t.llr, t.score
        ));
    }
    if r.scale <= 0.0 {
        ui.colored_label(
            theme::WARN,
            "the scale is not positive: on the calibration list higher scores mean less likely the same speaker",
        );
    }
    if let Some(out) = &r.calibrated_scores {
        ui.weak(format!("calibrated scores: {}", out.display()));
    }
}
