//! Writes a synthetic corpus as a VoxCeleb-style folder plus a VoxCeleb-format trial list, so the
//! real indexing, trial and loading code runs on it.
//!
//! Layout under `out`:
//! - `train/idXXXXX/<video>/NNNNN.wav` for the training speakers (16-bit, 16 kHz, mono);
//! - `test/idXXXXX/<video>/NNNNN.wav` for the last `test_speakers` speakers when that is above 0
//!   (held out, as VoxCeleb1's test speakers are); with 0 there is no `test/`;
//! - `trials.txt`: `1|0 enroll test` lines with ids relative to `test/` (or to `train/` when
//!   there are no held-out speakers, i.e. a closed-set check). For each enrolment utterance,
//!   `trials_per_utterance / 2` target trials (same speaker, another utterance) and as many
//!   non-target trials (another test speaker) are drawn, so the list is balanced.
//!
//! Speaker ids are `id10001`, `id10002`, …; each speaker's utterances are spread over
//! `videos_per_speaker` videos with 11-character YouTube-like ids, numbered from `00001.wav` within
//! each video, as in VoxCeleb. Utterance durations are uniform in [0.5, 1.5] × `seconds`.
//! Generation runs on all cores; every file depends only on the seed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::super::audio::write_wav_16k;
use super::super::sampler::mix;
use super::super::{DataError, SAMPLE_RATE};
use super::utterance;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Number of speakers in all.
    pub speakers: usize,
    /// Utterances per speaker.
    pub utterances: usize,
    /// Mean utterance duration in seconds.
    pub seconds: f32,
    /// Seed; the same seed writes the same files.
    pub seed: u64,
    /// The last this-many speakers are held out as test speakers (0: none).
    pub test_speakers: usize,
    /// Sessions ("videos") per speaker.
    pub videos_per_speaker: usize,
    /// Trials per enrolment utterance (half target, half non-target).
    pub trials_per_utterance: usize,
}

impl SynthConfig {
    /// `speakers` × `utterances` of about `seconds` each, with defaults for the rest (no held-out
    /// speakers, 3 videos per speaker, 4 trials per utterance).
    pub fn new(speakers: usize, utterances: usize, seconds: f32, seed: u64) -> Self {
        Self {
            speakers,
            utterances,
            seconds,
            seed,
            test_speakers: 0,
            videos_per_speaker: 3,
            trials_per_utterance: 4,
        }
    }

    fn validate(&self) -> Result<(), DataError> {
        let bad = |key, reason: &str| {
            Err(DataError::Config {
                key,
                reason: reason.into(),
            })
        };
        if self.speakers < 2 {
            return bad("synth.speakers", "needs at least 2 speakers");
        }
        if self.utterances < 2 {
            return bad(
                "synth.utterances",
                "needs at least 2 utterances per speaker for target trials",
            );
        }
        if !(self.seconds >= 0.2 && self.seconds <= 120.0) {
            return bad("synth.seconds", "must be between 0.2 and 120 seconds");
        }
        if self.test_speakers == 1 || self.test_speakers >= self.speakers {
            return bad(
                "synth.test_speakers",
                "must be 0, or at least 2 and fewer than the speakers",
            );
        }
        if self.videos_per_speaker == 0 {
            return bad("synth.videos_per_speaker", "must be at least 1");
        }
        Ok(())
    }

    /// Speaker id of speaker index `s`.
    pub fn speaker_id(s: usize) -> String {
        format!("id{}", 10001 + s)
    }

    /// Video index of utterance `u` of a speaker (utterances are split evenly over videos).
    fn video_of(&self, u: usize) -> usize {
        u * self.videos_per_speaker.min(self.utterances) / self.utterances
    }

    /// VoxCeleb id (`idXXXXX/<video>/NNNNN.wav`) and duration in samples of utterance `u` of `s`.
    pub fn utterance_id(&self, s: usize, u: usize) -> (String, usize) {
        let video = self.video_of(u);
        let first_of_video = (0..u).rev().take_while(|&p| self.video_of(p) == video).count();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[self.seed, 0x1D, s as u64, u as u64]));
        let samples = (self.seconds * rng.random_range(0.5..1.5) * SAMPLE_RATE as f32) as usize;
        (
            format!(
                "{}/{}/{:05}.wav",
                Self::speaker_id(s),
                video_id(self.seed, s, video),
                first_of_video + 1
            ),
            samples.max(1),
        )
    }
}

/// What [`write_corpus`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSummary {
    /// Folder of the training speakers.
    pub train_root: PathBuf,
    /// Folder of the held-out speakers, if any.
    pub test_root: Option<PathBuf>,
    /// The trial list (ids relative to `test_root`, or `train_root` when there is none).
    pub trials_path: PathBuf,
    /// Files written.
    pub files: usize,
    /// Total audio in seconds.
    pub seconds: f64,
    /// Target and non-target trials written.
    pub target_trials: usize,
    pub nontarget_trials: usize,
}

/// Writes the corpus and trial list under `out` (see the module docs). `progress` is called on
/// the calling thread with `(files written, files in all)`.
pub fn write_corpus(
    out: &Path,
    config: &SynthConfig,
    mut progress: Option<&mut dyn FnMut(usize, usize)>,
) -> Result<SynthSummary, DataError> {
    config.validate()?;
    let n_train = config.speakers - config.test_speakers;
    let train_root = out.join("train");
    let test_root = (config.test_speakers > 0).then(|| out.join("test"));
    let root_of = |s: usize| {
        if s < n_train {
            &train_root
        } else {
            test_root.as_ref().unwrap_or(&train_root)
        }
    };

    let jobs: Vec<(usize, usize)> = (0..config.speakers)
        .flat_map(|s| (0..config.utterances).map(move |u| (s, u)))
        .collect();
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let (tx, rx) = crossbeam_channel::unbounded::<Result<usize, DataError>>();
    let (mut written, mut total_samples) = (0, 0usize);
    let mut first_error = None;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (jobs, next) = (&jobs, &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(s, u)) = jobs.get(i) else { break };
                let (id, samples) = config.utterance_id(s, u);
                let path = root_of(s).join(&id);
                let result = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .map_err(|e| DataError::Write {
                        path: path.clone(),
                        source: e,
                    })
                    .and_then(|_| write_wav_16k(&path, &utterance(config.seed, s, config.video_of(u), u, samples)))
                    .map(|_| samples);
                let failed = result.is_err();
                if tx.send(result).is_err() || failed {
                    next.store(jobs.len(), Ordering::Relaxed); // stop everyone on the first error
                    break;
                }
            });
        }
        drop(tx);
        for result in rx {
            match result {
                Ok(samples) => {
                    written += 1;
                    total_samples += samples;
                    if let Some(cb) = progress.as_deref_mut() {
                        cb(written, total);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let seconds = total_samples as f64 / SAMPLE_RATE as f64;

    let test_speakers: Vec<usize> = if config.test_speakers > 0 {
        (n_train..config.speakers).collect()
    } else {
        (0..config.speakers).collect()
    };
    let (text, target_trials, nontarget_trials) = make_trials(config, &test_speakers);
    let trials_path = out.join("trials.txt");
    std::fs::write(&trials_path, text).map_err(|e| DataError::Write {
        path: trials_path.clone(),
        source: e,
    })?;
    Ok(SynthSummary {
        train_root,
        test_root,
        trials_path,
        files: written,
        seconds,
        target_trials,
        nontarget_trials,
    })
}

/// A balanced VoxCeleb-format trial list among `speakers`.
fn make_trials(config: &SynthConfig, speakers: &[usize]) -> (String, usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(&[config.seed, 0x7A1]));
    let per_side = (config.trials_per_utterance / 2).max(1).min(config.utterances - 1);
    let mut seen = BTreeSet::new();
    let (mut text, mut targets, mut nontargets) = (String::new(), 0, 0);
    let id = |s, u| config.utterance_id(s, u).0;
    for &s in speakers {
        for u in 0..config.utterances {
            let mut written = 0;
            for _ in 0..per_side * 20 {
                if written == per_side {
                    break;
                }
                let other = rng.random_range(0..config.utterances);
                let key = (s, u.min(other), s, u.max(other));
                if other != u && seen.insert(key) {
                    let _ = writeln!(text, "1 {} {}", id(s, u), id(s, other));
                    written += 1;
                }
            }
            // As many non-target trials as target ones were found.
            let mut wanted = written;
            for _ in 0..per_side * 20 {
                if wanted == 0 {
                    break;
                }
                let t = speakers[rng.random_range(0..speakers.len())];
                let other = rng.random_range(0..config.utterances);
                let key = if (s, u) < (t, other) {
                    (s, u, t, other)
                } else {
                    (t, other, s, u)
                };
                if t != s && seen.insert(key) {
                    let _ = writeln!(text, "0 {} {}", id(s, u), id(t, other));
                    wanted -= 1;
                }
            }
            targets += written;
            nontargets += written - wanted;
        }
    }
    (text, targets, nontargets)
}

/// An 11-character YouTube-like id for `video` of `speaker`.
fn video_id(seed: u64, speaker: usize, video: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, 0x71D, speaker as u64, video as u64]));
    // Video ids of one speaker must differ: fold the index into the first character.
    let mut id: String = (0..11)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    id.replace_range(0..1, &((b'A' + (video % 26) as u8) as char).to_string());
    id
}
