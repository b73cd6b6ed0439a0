//! What goes into batch `b` of epoch `e`: a pure function of `(seed, epoch, b)` and the files on
//! disk, so a run is reproducible whatever the number of loader threads or their timing.
//!
//! - The epoch order is a Fisher–Yates shuffle of all utterances with a ChaCha8 generator seeded
//!   from `(seed, epoch)`; batches are consecutive slices of it, and the last incomplete batch is
//!   dropped (every batch has the same shape).
//! - Each slot of a batch has its own generator seeded from `(seed, epoch, batch, slot, attempt)`
//!   that draws the crop offset and the augmentation.
//! - Crops: a random window of `crop_samples` from the utterance; an utterance shorter than that is
//!   repeated end to end from a random start until long enough (the "wrap" padding of
//!   WeSpeaker/ECAPA recipes), so short files give speech, not silence. 16 kHz WAV files are read
//!   only inside the window (see [`load_window`]).
//! - A file that fails to load is recorded in the slot's [`LoadReport`] and replaced by a
//!   utterance drawn from the slot's generator on the next attempt (deterministic too, since the
//!   same files fail every time). After [`MAX_ATTEMPTS`] failures in one slot the batch fails.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::audio::load_window;
use super::augment::{change_speed, Augmenter};
use super::{Corpus, DataError, LoadReport};

/// How many files one batch slot may try before the batch fails.
pub const MAX_ATTEMPTS: usize = 20;

/// A batch of crops, ready to become tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Epoch it belongs to.
    pub epoch: usize,
    /// Index of the batch within its epoch.
    pub index: usize,
    /// Crops, row-major `[batch_size, crop_samples]`, 16 kHz.
    pub samples: Vec<f32>,
    /// Speaker label (index into `Corpus::speakers`) per row, `[batch_size]`.
    pub labels: Vec<usize>,
    /// Corpus utterance index per row, `[batch_size]` (after any replacement of a bad file).
    pub utterances: Vec<usize>,
    /// Rows.
    pub batch_size: usize,
    /// Samples per row.
    pub crop_samples: usize,
}

/// The shuffled utterance order of one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPlan {
    /// Epoch number.
    pub epoch: usize,
    order: Vec<usize>,
    batch_size: usize,
}

impl EpochPlan {
    /// The order of `num_utterances` utterances in `epoch` for `seed`.
    pub fn new(num_utterances: usize, batch_size: usize, seed: u64, epoch: usize) -> Self {
        let mut order: Vec<usize> = (0..num_utterances).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, epoch as u64, 0xE90C]));
        order.shuffle(&mut rng);
        Self {
            epoch,
            order,
            batch_size: batch_size.max(1),
        }
    }

    /// Full batches in the epoch (the last partial one is dropped).
    pub fn num_batches(&self) -> usize {
        self.order.len() / self.batch_size
    }

    /// Utterance indices of batch `b` (empty past the end).
    pub fn batch(&self, b: usize) -> &[usize] {
        let start = b * self.batch_size;
        self.order.get(start..start + self.batch_size).unwrap_or(&[])
    }
}

/// Everything that decides a batch besides the plan.
#[derive(Debug, Clone)]
pub struct BatchRecipe<'a> {
    pub corpus: &'a Corpus,
    pub seed: u64,
    pub crop_samples: usize,
    pub augmenter: Option<&'a Augmenter>,
    /// The crop start depends on the utterance only, not on the epoch (see `LoaderConfig::fixed_crops`).
    pub fixed_crops: bool,
}

impl BatchRecipe<'_> {
    /// Builds batch `b` of `plan`, recording skipped files in `report`.
    pub fn make_batch(&self, plan: &EpochPlan, b: usize, report: &mut LoadReport) -> Result<Batch, DataError> {
        let members = plan.batch(b);
        let mut batch = Batch {
            epoch: plan.epoch,
            index: b,
            samples: Vec::with_capacity(members.len() * self.crop_samples),
            labels: Vec::with_capacity(members.len()),
            utterances: Vec::with_capacity(members.len()),
            batch_size: members.len(),
            crop_samples: self.crop_samples,
        };
        for (slot, &first) in members.iter().enumerate() {
            let (utt, crop) = self.fill_slot(plan.epoch, b, slot, first, report)?;
            batch.samples.extend_from_slice(&crop);
            batch.labels.push(self.corpus.utterances[utt].speaker);
            batch.utterances.push(utt);
        }
        Ok(batch)
    }

    fn fill_slot(
        &self,
        epoch: usize,
        b: usize,
        slot: usize,
        first: usize,
        report: &mut LoadReport,
    ) -> Result<(usize, Vec<f32>), DataError> {
        let mut utt = first;
        for attempt in 0..MAX_ATTEMPTS {
            let mut rng =
                ChaCha8Rng::seed_from_u64(mix(&[self.seed, epoch as u64, b as u64, slot as u64, attempt as u64]));
            if attempt > 0 {
                utt = rng.random_range(0..self.corpus.utterances.len());
            }
            let u = &self.corpus.utterances[utt];
            let speaker = &self.corpus.speakers[u.speaker];
            let speed = self.augmenter.and_then(|a| a.draw_speed(&mut rng));
            // A sped-up crop needs `crop × speed` input samples to come out `crop` long.
            let want = speed.map_or(self.crop_samples, |s| (self.crop_samples as f32 * s).ceil() as usize);
            let mut fixed = self
                .fixed_crops
                .then(|| ChaCha8Rng::seed_from_u64(mix(&[self.seed, 0xC209, utt as u64])));
            let mut pick = |total: usize| random_start(total, want, fixed.as_mut().unwrap_or(&mut rng));
            let loaded = load_window(&u.path, want, &mut pick).and_then(|crop| match speed {
                Some(s) => change_speed(&crop, s),
                None => Ok(crop),
            });
            match loaded {
                Ok(mut crop) => {
                    report.record_ok(speaker);
                    crop.resize(self.crop_samples, 0.0);
                    if let Some(a) = self.augmenter {
                        a.apply(&mut crop, &mut rng, report);
                    }
                    return Ok((utt, crop));
                }
                Err(e) => report.record_skip(u.path.clone(), Some(speaker), &e),
            }
        }
        Err(DataError::Unusable {
            root: self.corpus.root.clone(),
            reason: format!(
                "{MAX_ATTEMPTS} audio files in a row failed to load for epoch {epoch} batch {b}; \
                 see the load report for the files"
            ),
        })
    }
}

/// A random first sample for a `len`-sample crop of a `total`-sample utterance: uniform over the
/// whole crops that fit, or anywhere in a short utterance (which is then repeated to length).
pub fn random_start(total: usize, len: usize, rng: &mut ChaCha8Rng) -> usize {
    match total {
        0 => 0,
        t if t >= len => rng.random_range(0..=t - len),
        t => rng.random_range(0..t),
    }
}

/// Mixes integers into one well-spread seed (SplitMix64 steps).
pub fn mix(parts: &[u64]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        h ^= p
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(h << 6)
            .wrapping_add(h >> 2);
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_a_seeded_permutation() {
        let a = EpochPlan::new(10, 3, 7, 0);
        assert_eq!(a, EpochPlan::new(10, 3, 7, 0));
        assert_ne!(a.order, EpochPlan::new(10, 3, 7, 1).order);
        assert_eq!(a.num_batches(), 3);
        let mut all: Vec<usize> = (0..3).flat_map(|b| a.batch(b).to_vec()).collect();
        all.extend(&a.order[9..]);
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(a.batch(3).is_empty());
    }

    #[test]
    fn crop_starts_stay_inside() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            assert!(random_start(100, 10, &mut rng) <= 90);
            assert!(random_start(7, 10, &mut rng) < 7);
        }
        assert_eq!(random_start(10, 10, &mut rng), 0);
    }
}
