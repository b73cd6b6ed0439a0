//! Training-time augmentation (off by default): additive noise from a MUSAN-style folder, room
//! reverberation from impulse responses, and speed perturbation.
//!
//! - **Noise**: the folder holds `noise/`, `music/` and `speech/` sub-folders (MUSAN's own layout;
//!   files are found recursively). One category present is picked uniformly; `speech` becomes
//!   babble (3–7 speakers summed). The SNR is drawn uniformly from the category's range, with
//!   WeSpeaker's defaults (noise 0–15 dB, music 5–15 dB, babble 13–20 dB) and its level
//!   formula (`10·log10(mean(x²) + 1e-4)`). Long 16 kHz WAV noise files are read only where needed.
//! - **Reverb**: an impulse response from the RIR folder (e.g. RIRS_NOISES' simulated rooms),
//!   normalised to unit energy and aligned on its direct-path peak so speech is not delayed, is
//!   convolved with the crop by FFT (realfft); the result keeps the crop's RMS level.
//! - **Speed**: the crop is resampled by a factor drawn from `speeds` (0.9 / 1.1 by default),
//!   like `sox speed`, which also shifts pitch and formants. Unlike WeSpeaker, which treats each
//!   speed as a new speaker (tripling the classes), the speaker label is kept, so speed
//!   perturbation here is plain augmentation and the classifier size does not change.
//!
//! Each of the three is applied independently with its own probability, in the order speed →
//! reverb → noise. All randomness comes from the caller's RNG, so augmented batches stay a pure
//! function of the run seed.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{Rng, RngExt};
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use super::audio::{load_audio, load_window};
use super::resample::resample;
use super::{is_audio_path, DataError, LoadReport, SAMPLE_RATE};

/// Augmentation settings; every field has a default so a config may name only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Master switch; nothing below is used when false.
    pub enabled: bool,
    /// MUSAN-style folder with `noise/`, `music/`, `speech/` sub-folders (any may be missing).
    pub noise_dir: Option<PathBuf>,
    /// Probability of adding noise to a crop.
    pub noise_prob: f32,
    /// SNR range in dB for `noise/` files.
    pub noise_snr_db: [f32; 2],
    /// SNR range in dB for `music/` files.
    pub music_snr_db: [f32; 2],
    /// SNR range in dB for babble made of `speech/` files.
    pub speech_snr_db: [f32; 2],
    /// Number of babble speakers, inclusive range.
    pub babble_speakers: [usize; 2],
    /// Folder of room impulse responses (found recursively).
    pub rir_dir: Option<PathBuf>,
    /// Probability of reverberating a crop.
    pub rir_prob: f32,
    /// Probability of speed-perturbing a crop.
    pub speed_prob: f32,
    /// Speed factors to pick from when perturbing.
    pub speeds: Vec<f32>,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            noise_dir: None,
            noise_prob: 0.6,
            noise_snr_db: [0.0, 15.0],
            music_snr_db: [5.0, 15.0],
            speech_snr_db: [13.0, 20.0],
            babble_speakers: [3, 7],
            rir_dir: None,
            rir_prob: 0.6,
            speed_prob: 0.0,
            speeds: vec![0.9, 1.1],
        }
    }
}

/// Noise categories, in the order of [`Augmenter`]'s lists.
const CATEGORIES: [&str; 3] = ["noise", "music", "speech"];

/// Indexed augmentation sources; cheap to clone and share between loader workers.
#[derive(Debug, Clone)]
pub struct Augmenter {
    config: AugmentConfig,
    /// Files per category (noise, music, speech).
    noise: Arc<[Vec<PathBuf>; 3]>,
    rirs: Arc<Vec<PathBuf>>,
}

impl Augmenter {
    /// Validates `config` and indexes its folders (no decoding).
    pub fn new(config: &AugmentConfig) -> Result<Self, DataError> {
        let prob = |key: &'static str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(DataError::Config {
                    key,
                    reason: format!("{p} is not a probability in [0, 1]"),
                })
            }
        };
        prob("augment.noise_prob", config.noise_prob)?;
        prob("augment.rir_prob", config.rir_prob)?;
        prob("augment.speed_prob", config.speed_prob)?;
        if config.babble_speakers[0] == 0 || config.babble_speakers[0] > config.babble_speakers[1] {
            return Err(DataError::Config {
                key: "augment.babble_speakers",
                reason: "needs 1 <= min <= max".into(),
            });
        }
        if let Some(s) = config.speeds.iter().find(|s| !(0.5..=2.0).contains(*s)) {
            return Err(DataError::Config {
                key: "augment.speeds",
                reason: format!("{s} is outside 0.5–2.0"),
            });
        }
        let mut noise: [Vec<PathBuf>; 3] = Default::default();
        let mut rirs = Vec::new();
        if config.enabled {
            if let Some(dir) = &config.noise_dir {
                for (i, cat) in CATEGORIES.iter().enumerate() {
                    let sub = dir.join(cat);
                    if sub.is_dir() {
                        collect_audio(&sub, &mut noise[i])?;
                    }
                }
                if noise.iter().all(Vec::is_empty) {
                    return Err(DataError::Layout {
                        root: dir.clone(),
                        reason: "no audio in noise/, music/ or speech/ sub-folders (MUSAN layout expected)".into(),
                    });
                }
            }
            if let Some(dir) = &config.rir_dir {
                collect_audio(dir, &mut rirs)?;
                if rirs.is_empty() {
                    return Err(DataError::Layout {
                        root: dir.clone(),
                        reason: "no impulse-response audio files found".into(),
                    });
                }
            }
        }
        Ok(Self {
            config: config.clone(),
            noise: Arc::new(noise),
            rirs: Arc::new(rirs),
        })
    }

    /// Whether any augmentation can happen.
    pub fn is_active(&self) -> bool {
        self.config.enabled
            && ((self.config.noise_prob > 0.0 && self.noise.iter().any(|v| !v.is_empty()))
                || (self.config.rir_prob > 0.0 && !self.rirs.is_empty())
                || (self.config.speed_prob > 0.0 && !self.config.speeds.is_empty()))
    }

    /// Draws a speed factor for the next crop, or `None` for no speed change. Always consumes
    /// the same number of random draws, so later draws do not depend on the outcome.
    pub fn draw_speed<R: Rng>(&self, rng: &mut R) -> Option<f32> {
        let (u, k) = (rng.random::<f32>(), rng.random::<u32>());
        let speeds = &self.config.speeds;
        (self.config.enabled && u < self.config.speed_prob && !speeds.is_empty())
            .then(|| speeds[k as usize % speeds.len()])
    }

    /// Applies reverb and noise to `wave` in place (each with its probability). A noise or RIR
    /// file that fails to load is recorded in `report` and that augmentation is left out.
    pub fn apply<R: Rng>(&self, wave: &mut [f32], rng: &mut R, report: &mut LoadReport) {
        if !self.config.enabled || wave.is_empty() {
            return;
        }
        let (u_rir, u_noise) = (rng.random::<f32>(), rng.random::<f32>());
        if u_rir < self.config.rir_prob && !self.rirs.is_empty() {
            let path = &self.rirs[rng.random_range(0..self.rirs.len())];
            match load_audio(path) {
                Ok(rir) => reverberate(wave, &rir),
                Err(e) => report.record_skip(path.clone(), None, &e),
            }
        }
        let present: Vec<usize> = (0..3).filter(|&i| !self.noise[i].is_empty()).collect();
        if u_noise < self.config.noise_prob && !present.is_empty() {
            let cat = present[rng.random_range(0..present.len())];
            let (range, count) = match cat {
                0 => (self.config.noise_snr_db, 1),
                1 => (self.config.music_snr_db, 1),
                _ => {
                    let [lo, hi] = self.config.babble_speakers;
                    (self.config.speech_snr_db, rng.random_range(lo..=hi))
                }
            };
            let snr = range[0] + (range[1] - range[0]) * rng.random::<f32>();
            let mut noise = vec![0.0f32; wave.len()];
            for _ in 0..count {
                let files = &self.noise[cat];
                let path = &files[rng.random_range(0..files.len())];
                match noise_segment(path, wave.len(), rng) {
                    Ok(seg) => noise.iter_mut().zip(&seg).for_each(|(n, s)| *n += s),
                    Err(e) => report.record_skip(path.clone(), None, &e),
                }
            }
            add_at_snr(wave, &noise, snr);
        }
    }
}

/// Applies a speed factor to a waveform (length becomes `len / factor`), as `sox speed` does.
pub fn change_speed(wave: &[f32], factor: f32) -> Result<Vec<f32>, DataError> {
    let from = (SAMPLE_RATE as f32 * factor).round() as u32;
    resample(wave, from, SAMPLE_RATE, Path::new("(speed perturbation)"))
}

/// Adds `noise` to `wave` scaled so that the SNR is `snr_db` (WeSpeaker's level formula).
pub fn add_at_snr(wave: &mut [f32], noise: &[f32], snr_db: f32) {
    let level = |x: &[f32]| 10.0 * (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32 + 1e-4).log10();
    let (clean_db, noise_db) = (level(wave), level(noise));
    let scale = 10f32.powf((clean_db - noise_db - snr_db) / 20.0);
    wave.iter_mut().zip(noise).for_each(|(w, n)| *w += scale * n);
}

/// A `len`-sample noise segment from a random place in `path` (tiled when the file is shorter).
fn noise_segment<R: Rng>(path: &Path, len: usize, rng: &mut R) -> Result<Vec<f32>, DataError> {
    load_window(path, len, &mut |total| {
        rng.random_range(0..=total.saturating_sub(len).min(total.saturating_sub(1)))
    })
}

thread_local! {
    /// One FFT planner per thread; it caches plans by length.
    static FFT: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
}

/// Convolves `wave` with the impulse response `rir` in place (FFT, same length, RMS kept).
pub fn reverberate(wave: &mut [f32], rir: &[f32]) {
    let energy: f32 = rir.iter().map(|v| v * v).sum();
    if rir.is_empty() || energy <= 0.0 || !energy.is_finite() {
        return;
    }
    // Align on the direct path: drop what precedes the strongest tap.
    let peak = rir
        .iter()
        .enumerate()
        .fold(
            (0, 0.0f32),
            |best, (i, v)| {
                if v.abs() > best.1 {
                    (i, v.abs())
                } else {
                    best
                }
            },
        )
        .0;
    let rir = &rir[peak..];
    let norm = 1.0 / energy.sqrt();
    let n = (wave.len() + rir.len()).next_power_of_two();
    let rms_before = rms(wave);
    let out = FFT.with(|cell| {
        let mut planner = cell.borrow_mut();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let mut a = vec![0.0f32; n];
        a[..wave.len()].copy_from_slice(wave);
        let mut b = vec![0.0f32; n];
        b[..rir.len()].iter_mut().zip(rir).for_each(|(d, s)| *d = s * norm);
        let mut fa = fwd.make_output_vec();
        let mut fb = fwd.make_output_vec();
        // Lengths match the plan, so these cannot fail; on error keep the dry signal.
        if fwd.process(&mut a, &mut fa).is_err() || fwd.process(&mut b, &mut fb).is_err() {
            return None;
        }
        fa.iter_mut().zip(&fb).for_each(|(x, y)| *x *= y);
        // DC and Nyquist bins of a real signal's spectrum are real.
        if let Some(first) = fa.first_mut() {
            *first = Complex::new(first.re, 0.0);
        }
        if let Some(last) = fa.last_mut() {
            *last = Complex::new(last.re, 0.0);
        }
        let mut y = inv.make_output_vec();
        inv.process(&mut fa, &mut y).ok()?;
        Some(y)
    });
    if let Some(y) = out {
        let rms_after = rms(&y[..wave.len()]);
        let gain = if rms_after > 0.0 {
            rms_before / rms_after
        } else {
            1.0 / n as f32
        };
        wave.iter_mut().zip(&y).for_each(|(w, v)| *w = v * gain);
    }
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

fn collect_audio(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_audio(&p, out)?;
        } else if is_audio_path(&p) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snr_is_what_was_asked() {
        let mut wave: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.1).sin()).collect();
        let clean = wave.clone();
        let noise: Vec<f32> = (0..16000).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        add_at_snr(&mut wave, &noise, 10.0);
        let added: Vec<f32> = wave.iter().zip(&clean).map(|(w, c)| w - c).collect();
        let snr = 20.0 * (rms(&clean) / rms(&added)).log10();
        assert!((snr - 10.0).abs() < 0.1, "snr {snr}");
    }

    #[test]
    fn unit_impulse_rir_leaves_signal_unchanged() {
        let mut wave: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.3).sin()).collect();
        let clean = wave.clone();
        // A delayed unit impulse: alignment removes the delay.
        reverberate(&mut wave, &[0.0, 0.0, 0.0, 1.0]);
        assert!(wave.iter().zip(&clean).all(|(a, b)| (a - b).abs() < 1e-4));
        // A two-tap RIR adds an echo.
        let mut echo = clean.clone();
        reverberate(&mut echo, &[1.0, 0.0, 0.5]);
        assert!(echo.iter().zip(&clean).any(|(a, b)| (a - b).abs() > 0.1));
    }

    #[test]
    fn speed_changes_length() {
        let wave = vec![0.1f32; 16000];
        let fast = change_speed(&wave, 1.1).unwrap();
        assert!((fast.len() as i64 - 14545).abs() <= 2, "{}", fast.len());
    }

    #[test]
    fn defaults_are_off_and_bad_probabilities_rejected() {
        let c: AugmentConfig = toml::from_str("").unwrap();
        assert!(!c.enabled);
        assert!(!Augmenter::new(&c).unwrap().is_active());
        let bad = AugmentConfig {
            rir_prob: 1.5,
            ..AugmentConfig::default()
        };
        assert!(Augmenter::new(&bad).unwrap_err().to_string().contains("rir_prob"));
    }
}
