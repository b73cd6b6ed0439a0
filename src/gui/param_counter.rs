//! Checking an edited config off the UI thread: one worker validates every version (validation looks at the
//! disk: do the corpus, trial list and checkpoint exist?), another builds the model and counts its parameters,
//! but only when a field that changes the model changed (backbone, adaptation, aggregation, head), never on a
//! keystroke in the description. Each worker skips to the newest request; stale answers are dropped by the
//! panel, which compares them with what it shows.

use crate::config::{AdaptationConfig, AggregationConfig, ConfigProblem, ExperimentConfig, HeadConfig, ModelConfig};
use crate::model::param_report::{count, ParamReport};
use crossbeam_channel::{unbounded, Receiver, Sender};

/// Classes assumed for the classifier (left out of the share shown anyway).
const PLACEHOLDER_SPEAKERS: usize = 2;

/// The parts of a config that decide the model's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPart {
    model: ModelConfig,
    adaptation: AdaptationConfig,
    aggregation: AggregationConfig,
    head: HeadConfig,
}

impl ModelPart {
    pub fn of(c: &ExperimentConfig) -> Self {
        Self {
            model: c.model.clone(),
            adaptation: c.adaptation.clone(),
            aggregation: c.aggregation.clone(),
            head: c.head.clone(),
        }
    }
}

pub struct ConfigChecker {
    validate: Sender<ExperimentConfig>,
    problems: Receiver<(ExperimentConfig, Vec<ConfigProblem>)>,
    count: Sender<ExperimentConfig>,
    counts: Receiver<(ModelPart, Result<ParamReport, String>)>,
    /// The newest validation answer and the config it is about.
    pub checked: Option<(ExperimentConfig, Vec<ConfigProblem>)>,
    /// The newest count and the model it is about.
    pub counted: Option<(ModelPart, Result<ParamReport, String>)>,
    asked_check: Option<ExperimentConfig>,
    asked_count: Option<ModelPart>,
}

/// Runs `work` on a named thread over the newest of its requests.
fn worker<In: Send + 'static, Out: Send + 'static>(
    name: &str,
    work: impl Fn(In) -> Out + Send + 'static,
) -> (Sender<In>, Receiver<Out>) {
    let (tx, rx) = unbounded::<In>();
    let (out_tx, out_rx) = unbounded();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Ok(mut request) = rx.recv() {
                while let Ok(newer) = rx.try_recv() {
                    request = newer;
                }
                if out_tx.send(work(request)).is_err() {
                    return;
                }
            }
        })
        .expect("spawning a thread succeeds");
    (tx, out_rx)
}

impl Default for ConfigChecker {
    fn default() -> Self {
        let (validate, problems) = worker("config-check", |c: ExperimentConfig| {
            let mut problems = c.validate().err().unwrap_or_default();
            problems.extend(c.check_paths());
            (c, problems)
        });
        let (count_tx, counts) = worker("param-counter", |c: ExperimentConfig| {
            let part = ModelPart::of(&c);
            // Building a model from odd sizes may trip an assertion inside Burn: that is an answer, not a crash.
            let report = c.into_valid().map_err(|p| format!("{} problem(s) in the config: fix them to count", p.len())).and_then(|c| {
                std::panic::catch_unwind(|| count(&c, PLACEHOLDER_SPEAKERS))
                    .map_err(|p| format!("building the model failed: {}", crate::device::panic_message(p.as_ref()).unwrap_or_default()))
                    .and_then(|r| r.map_err(|e| format!("{e:#}")))
            });
            (part, report)
        });
        Self {
            validate,
            problems,
            count: count_tx,
            counts,
            checked: None,
            counted: None,
            asked_check: None,
            asked_count: None,
        }
    }
}

impl ConfigChecker {
    /// Asks for the problems of `config`, and for its counts if its model differs from the last one asked.
    pub fn request(&mut self, config: &ExperimentConfig) {
        if self.asked_check.as_ref() != Some(config) {
            self.asked_check = Some(config.clone());
            let _ = self.validate.send(config.clone());
        }
        let part = ModelPart::of(config);
        if self.asked_count.as_ref() != Some(&part) {
            self.asked_count = Some(part);
            let _ = self.count.send(config.clone());
        }
    }

    /// Takes answers that arrived; true while one is outstanding.
    pub fn poll(&mut self) -> bool {
        while let Ok(a) = self.problems.try_recv() {
            self.checked = Some(a);
        }
        while let Ok(a) = self.counts.try_recv() {
            self.counted = Some(a);
        }
        self.problems_for(self.asked_check.as_ref()).is_none() || self.count_pending()
    }

    /// The problems of `config`, once checked.
    pub fn problems_for(&self, config: Option<&ExperimentConfig>) -> Option<&[ConfigProblem]> {
        let (c, p) = self.checked.as_ref()?;
        (Some(c) == config).then_some(p.as_slice())
    }

    fn count_pending(&self) -> bool {
        self.asked_count.is_some() && self.counted.as_ref().map(|(p, _)| p) != self.asked_count.as_ref()
    }

    /// The counts of `config`'s model, once known.
    pub fn report_for(&self, config: &ExperimentConfig) -> Option<&Result<ParamReport, String>> {
        let (part, report) = self.counted.as_ref()?;
        (*part == ModelPart::of(config)).then_some(report)
    }
}

/// The one-line summary of a report, with the definition of the share it states.
pub fn summary_line(r: &ParamReport) -> String {
    format!(
        "{:.2} % trainable ({} of {} parameters) · adapter checkpoint {:.1} MB",
        r.trainable_percent_without_classifier(),
        r.total.trainable - r.classifier.trainable,
        r.total.total - r.classifier.total,
        r.checkpoint_bytes() as f64 / 1e6
    )
}

/// What "trainable share" means, everywhere in adaptsv.
pub const SHARE_DEFINITION: &str = "Trainable share = parameters that receive gradients ÷ all parameters, both without the \
speaker classifier (verification discards it). Batch-norm statistics are not parameters. The checkpoint holds the \
trainable tensors in f32 (the frozen backbone is saved once per run).";
