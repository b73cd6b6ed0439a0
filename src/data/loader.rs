//! The training loader: N worker threads prepare batches ahead of the trainer and hand them over
//! in order.
//!
//! Worker `w` builds batches `first + w`, `first + w + N`, … (each a pure function of the seed,
//! epoch and batch index, see [`super::sampler`]) and sends them through its own bounded crossbeam
//! channel; the [`Loader`] iterator receives batch `b` from worker `b mod N`, so batches arrive in
//! order with no re-ordering buffer, and at most `prefetch` batches (split evenly over the workers,
//! at least one each) wait in memory. Dropping the loader stops the workers: it raises a stop
//! flag, drops the receivers (a blocked `send` then fails) and joins the threads.
//!
//! Files that fail to load are skipped and replaced (see the sampler); each batch carries the
//! skips it saw and the loader merges them, in batch order, into [`Loader::report`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver};
use serde::{Deserialize, Serialize};

use super::augment::{AugmentConfig, Augmenter};
use super::sampler::{Batch, BatchRecipe, EpochPlan};
use super::{Corpus, DataError, LoadReport, SAMPLE_RATE};

/// Loader settings (all with defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    /// Crops per batch.
    pub batch_size: usize,
    /// Crop length in seconds (16 kHz samples = round(seconds × 16000)).
    pub crop_seconds: f32,
    /// Background threads decoding audio.
    pub workers: usize,
    /// Batches prepared ahead of the trainer, in total.
    pub prefetch: usize,
    /// Seed of the shuffle, crops and augmentation.
    pub seed: u64,
    /// Augmentation (off by default).
    pub augment: AugmentConfig,
    /// Every epoch takes the same crop of each utterance (its start drawn once from the seed and the
    /// utterance), so a crop's backbone states can be cached (`optim.backbone_cache_mib`); off: a new crop
    /// each epoch.
    pub fixed_crops: bool,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            crop_seconds: 3.0,
            workers: 4,
            prefetch: 8,
            seed: 42,
            augment: AugmentConfig::default(),
            fixed_crops: false,
        }
    }
}

impl LoaderConfig {
    /// Crop length in samples at 16 kHz.
    pub fn crop_samples(&self) -> usize {
        (self.crop_seconds * SAMPLE_RATE as f32).round() as usize
    }

    fn validate(&self, corpus: &Corpus) -> Result<(), DataError> {
        let bad = |key, reason: String| Err(DataError::Config { key, reason });
        if self.batch_size == 0 {
            return bad("loader.batch_size", "must be at least 1".into());
        }
        if !(self.crop_seconds > 0.0 && self.crop_seconds <= 60.0) {
            return bad(
                "loader.crop_seconds",
                format!("{} is not in (0, 60] seconds", self.crop_seconds),
            );
        }
        if self.workers == 0 {
            return bad("loader.workers", "must be at least 1".into());
        }
        if corpus.utterances.len() < self.batch_size {
            return bad(
                "loader.batch_size",
                format!(
                    "{} is more than the {} utterances in {}",
                    self.batch_size,
                    corpus.utterances.len(),
                    corpus.root.display()
                ),
            );
        }
        Ok(())
    }
}

/// A batch (or why it could not be made) and the files skipped while making it.
type Message = (Result<Batch, DataError>, LoadReport);

/// Iterator over one epoch's batches, prepared in the background.
pub struct Loader {
    receivers: Vec<Receiver<Message>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    next: usize,
    end: usize,
    first: usize,
    report: LoadReport,
    finished: bool,
}

impl Loader {
    /// Starts loading epoch `epoch` from its first batch.
    pub fn start(corpus: Arc<Corpus>, config: &LoaderConfig, epoch: usize) -> Result<Self, DataError> {
        Self::resume(corpus, config, epoch, 0)
    }

    /// Starts loading epoch `epoch` at batch `first_batch` (for resuming from a checkpoint; the
    /// batches are the same ones an uninterrupted run would have seen).
    pub fn resume(
        corpus: Arc<Corpus>,
        config: &LoaderConfig,
        epoch: usize,
        first_batch: usize,
    ) -> Result<Self, DataError> {
        config.validate(&corpus)?;
        let augmenter = Augmenter::new(&config.augment)?;
        let augmenter = augmenter.is_active().then_some(augmenter);
        let plan = Arc::new(EpochPlan::new(
            corpus.utterances.len(),
            config.batch_size,
            config.seed,
            epoch,
        ));
        let end = plan.num_batches();
        let first = first_batch.min(end);
        let workers = config.workers;
        let depth = config.prefetch.div_ceil(workers).max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = bounded::<Message>(depth);
            receivers.push(rx);
            let (corpus, plan, stop, augmenter) = (corpus.clone(), plan.clone(), stop.clone(), augmenter.clone());
            let (seed, crop_samples, fixed_crops) = (config.seed, config.crop_samples(), config.fixed_crops);
            let handle = std::thread::Builder::new()
                .name(format!("adaptsv-loader-{w}"))
                .spawn(move || {
                    let recipe = BatchRecipe {
                        corpus: &corpus,
                        seed,
                        crop_samples,
                        augmenter: augmenter.as_ref(),
                        fixed_crops,
                    };
                    let mut b = first + w;
                    while b < end && !stop.load(Ordering::Relaxed) {
                        let mut report = LoadReport::default();
                        let batch = recipe.make_batch(&plan, b, &mut report);
                        let failed = batch.is_err();
                        if tx.send((batch, report)).is_err() || failed {
                            break; // receiver dropped (shutdown) or nothing more to do
                        }
                        b += workers;
                    }
                })
                .map_err(|e| DataError::Config {
                    key: "loader.workers",
                    reason: format!("cannot start a thread: {e}"),
                })?;
            handles.push(handle);
        }
        Ok(Self {
            receivers,
            handles,
            stop,
            next: first,
            end,
            first,
            report: LoadReport::default(),
            finished: false,
        })
    }

    /// Batches this loader yields in total (from its first batch to the end of the epoch).
    pub fn len_batches(&self) -> usize {
        self.end - self.first
    }

    /// Skipped files so far (merged in batch order).
    pub fn report(&self) -> &LoadReport {
        &self.report
    }
}

impl Iterator for Loader {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished || self.next >= self.end {
            return None;
        }
        let worker = (self.next - self.first) % self.receivers.len();
        let msg = match self.receivers[worker].recv() {
            Ok(m) => m,
            Err(_) => {
                // The worker is gone without sending (it panicked): end the epoch with an error.
                self.finished = true;
                return Some(Err(DataError::Config {
                    key: "loader.workers",
                    reason: format!("loader thread {worker} stopped unexpectedly at batch {}", self.next),
                }));
            }
        };
        self.next += 1;
        let (batch, report) = msg;
        self.report.merge(&report);
        self.finished = batch.is_err();
        Some(batch)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.receivers.clear(); // unblocks any worker waiting in `send`
        for h in self.handles.drain(..) {
            let _ = h.join(); // a panicked worker has nothing left to clean up
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{CorpusLayout, Utterance};

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let c: LoaderConfig =
            toml::from_str("batch_size = 8\n[augment]\nenabled = true\nnoise_dir = \"/musan\"\nspeed_prob = 0.3\n")
                .unwrap();
        assert_eq!(c.batch_size, 8);
        assert_eq!(c.crop_samples(), 48_000);
        assert!(c.augment.enabled);
        assert_eq!(c.augment.noise_snr_db, [0.0, 15.0]);
        assert!(
            toml::from_str::<LoaderConfig>("batchsize = 8").is_err(),
            "typos are rejected"
        );
    }

    #[test]
    fn batch_larger_than_corpus_is_a_config_error() {
        let corpus = Corpus {
            root: "/c".into(),
            layout: CorpusLayout::Folders,
            speakers: vec!["s".into()],
            utterances: vec![Utterance {
                id: "s/a.wav".into(),
                speaker: 0,
                path: "/c/s/a.wav".into(),
            }],
        };
        let config = LoaderConfig {
            batch_size: 2,
            ..LoaderConfig::default()
        };
        let err = Loader::start(Arc::new(corpus), &config, 0).err().unwrap();
        assert!(err.to_string().contains("loader.batch_size"), "{err}");
    }
}
