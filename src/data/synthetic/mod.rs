//! A seeded generator of synthetic "speakers" whose voices differ the way real ones do, for
//! tests, benchmarks and demos without a real corpus.
//!
//! Source–filter synthesis: a Rosenberg glottal pulse train (with jitter, shimmer, a per-speaker
//! open quotient and spectral tilt, and flow-modulated aspiration noise for breathiness) drives a
//! cascade of five Klatt formant resonators. Per speaker ([`Voice`]): F0 mean and contour range,
//! vocal-tract length (all formants scaled together, as between short and long vocal tracts),
//! an idiolect (small per-vowel formant offsets), bandwidths, tilt, breathiness, speaking rate and
//! the centre of its fricative noise. Per utterance: phone-like content (a random sequence of
//! vowel targets with smooth formant transitions, fricative noise bursts and pauses), an F0
//! contour with declination and accents, a session channel (a random peaking EQ of ±6 dB and band
//! limits; one
//! per "video", so utterances of a video share it), additive noise at a random SNR and a random
//! level. Verification is therefore learnable (speaker traits persist) but not trivial (content,
//! channel and noise vary), which [`corpus::write_corpus`] turns into a VoxCeleb-style folder.
//!
//! Every utterance is a pure function of `(seed, speaker, video, utterance)`.

pub mod corpus;
pub mod dsp;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use self::dsp::{Biquad, Resonator};
use super::sampler::mix;
use super::SAMPLE_RATE;

pub use corpus::{write_corpus, SynthConfig, SynthSummary};

const FS: f32 = SAMPLE_RATE as f32;

/// Adult-male vowel formants F1–F3 in Hz (Peterson & Barney 1952): i ɪ ɛ æ ɑ ɔ ʊ u ʌ ɝ.
const VOWELS: [[f32; 3]; 10] = [
    [270.0, 2290.0, 3010.0],
    [390.0, 1990.0, 2550.0],
    [530.0, 1840.0, 2480.0],
    [660.0, 1720.0, 2410.0],
    [730.0, 1090.0, 2440.0],
    [570.0, 840.0, 2410.0],
    [440.0, 1020.0, 2240.0],
    [300.0, 870.0, 2240.0],
    [640.0, 1190.0, 2390.0],
    [490.0, 1350.0, 1690.0],
];

/// Base bandwidths of F1–F5 in Hz.
const BANDWIDTHS: [f32; 5] = [60.0, 90.0, 150.0, 200.0, 250.0];

/// Samples per control block (formant and amplitude updates).
const BLOCK: usize = 32;

/// A speaker's voice: what stays the same across its utterances.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// Mean fundamental frequency in Hz.
    pub f0_mean: f32,
    /// Half-range of the F0 contour in semitones.
    pub f0_range: f32,
    /// Formant scale factor (inverse vocal-tract length relative to an adult male).
    pub vtl_scale: f32,
    /// Idiolect: multiplicative offsets of F1–F3 per vowel.
    pub vowel_shift: [[f32; 3]; 10],
    /// Bandwidth scale.
    pub bw_scale: f32,
    /// Glottal open quotient (0.4–0.75; higher is softer, breathier phonation).
    pub open_quotient: f32,
    /// One-pole low-pass coefficient on the source (spectral tilt; higher is darker).
    pub tilt: f32,
    /// Aspiration-noise level relative to the voiced source.
    pub breathiness: f32,
    /// Syllables per second.
    pub rate: f32,
    /// Centre of fricative noise in Hz.
    pub fricative_hz: f32,
    /// Fricative level relative to vowels.
    pub fricative_level: f32,
    /// Period-to-period F0 jitter (relative standard deviation).
    pub jitter: f32,
    /// Period-to-period amplitude shimmer.
    pub shimmer: f32,
}

impl Voice {
    /// The voice of speaker `speaker` for `seed`.
    pub fn new(seed: u64, speaker: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, 0x501CE, speaker as u64]));
        let female = rng.random_bool(0.5);
        let (f0_mean, vtl_mean) = if female {
            (rng.random_range(165.0..255.0), 1.17)
        } else {
            (rng.random_range(85.0..150.0), 1.0)
        };
        let vtl_scale = vtl_mean * (1.0 + 0.08 * normal(&mut rng));
        let mut vowel_shift = [[1.0; 3]; 10];
        for v in &mut vowel_shift {
            for f in v.iter_mut() {
                *f = 1.0 + 0.05 * normal(&mut rng);
            }
        }
        Voice {
            f0_mean,
            f0_range: rng.random_range(1.0..5.0),
            vtl_scale,
            vowel_shift,
            bw_scale: rng.random_range(0.8..1.5),
            open_quotient: rng.random_range(0.4..0.75),
            tilt: rng.random_range(0.2..0.85),
            breathiness: rng.random_range(0.0..0.35),
            rate: rng.random_range(3.0..6.0),
            fricative_hz: rng.random_range(3500.0..6500.0),
            fricative_level: rng.random_range(0.15..0.5),
            jitter: rng.random_range(0.003..0.02),
            shimmer: rng.random_range(0.02..0.08),
        }
    }

    /// Formants F1–F5 of vowel `v` for this voice.
    fn formants(&self, v: usize) -> [f32; 5] {
        let s = self.vtl_scale;
        let [f1, f2, f3] = VOWELS[v];
        let sh = self.vowel_shift[v];
        [f1 * s * sh[0], f2 * s * sh[1], f3 * s * sh[2], 3300.0 * s, 4300.0 * s]
    }
}

/// A recording session ("video"): the channel every utterance of it goes through.
#[derive(Debug, Clone)]
pub struct Channel {
    filters: Vec<Biquad>,
}

impl Channel {
    /// The channel of `video` of `speaker` for `seed`.
    pub fn new(seed: u64, speaker: usize, video: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, 0xC4A, speaker as u64, video as u64]));
        let mut filters = vec![
            Biquad::highpass(rng.random_range(50.0..200.0)),
            Biquad::lowpass(rng.random_range(4000.0..7600.0)),
        ];
        let freq = 200.0 * 25f32.powf(rng.random::<f32>()); // 200 Hz – 5 kHz, log-uniform
        filters.push(Biquad::peaking(
            freq,
            rng.random_range(-6.0..6.0),
            rng.random_range(0.7..2.0),
        ));
        Channel { filters }
    }

    /// Filters `signal` in place (fresh filter state each call).
    pub fn apply(&self, signal: &mut [f32]) {
        for f in &self.filters {
            f.clone().run(signal);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phone {
    Vowel(usize),
    Fricative,
    Pause,
}

/// Synthesises `samples` samples (16 kHz) of `voice` speaking random content drawn from `rng`,
/// dry (no channel, noise or level normalisation).
pub fn speak(voice: &Voice, samples: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    // Plan the phones.
    let mut phones: Vec<(Phone, usize, usize, f32)> = Vec::new(); // (phone, start, len, stress)
    let mut t = rng.random_range(0..(0.15 * FS) as usize);
    while t < samples {
        if rng.random_bool(0.12) {
            let len = (rng.random_range(0.08..0.35) * FS) as usize;
            phones.push((Phone::Pause, t, len, 0.0));
            t += len;
        }
        if rng.random_bool(0.45) {
            let len = (rng.random_range(0.05..0.12) * FS) as usize;
            phones.push((Phone::Fricative, t, len, 1.0));
            t += len;
        }
        let syllable = 1.0 / voice.rate * rng.random_range(0.55..0.9);
        let len = (syllable * FS) as usize;
        phones.push((
            Phone::Vowel(rng.random_range(0..VOWELS.len())),
            t,
            len,
            rng.random_range(0.6..1.0),
        ));
        t += len;
    }

    let mut voiced = vec![0.0f32; samples];
    let mut fric = vec![0.0f32; samples];
    let mut res = [Resonator::default(); 5];
    let mut fric_res = Resonator::default();
    fric_res.set(voice.fricative_hz, 1800.0);
    let mut formants = voice.formants(4);
    let bws: Vec<f32> = BANDWIDTHS.iter().map(|b| b * voice.bw_scale).collect();
    let (mut phase, mut period_f0, mut period_amp) = (0.0f32, voice.f0_mean, 1.0f32);
    let (mut flow_prev, mut tilt_state, mut fric_prev) = (0.0f32, 0.0f32, 0.0f32);
    let mut accent = 0.0f32;
    let oq = voice.open_quotient;
    let (tp, tn) = (0.6 * oq, 0.4 * oq);
    let total = samples as f32;

    for &(phone, start, len, stress) in &phones {
        let end = (start + len).min(samples);
        if start >= end {
            continue;
        }
        let from = formants;
        let target = match phone {
            Phone::Vowel(v) => voice.formants(v),
            _ => formants,
        };
        let target_accent = if let Phone::Vowel(_) = phone {
            voice.f0_range * rng.random_range(-1.0..1.0)
        } else {
            accent
        };
        let ramp = (0.015 * FS) as usize;
        let mut i = start;
        while i < end {
            let block_end = (i + BLOCK).min(end);
            // Formants glide to the target over the first 30 % of the phone.
            let progress = ((i - start) as f32 / (0.3 * len as f32)).min(1.0);
            for k in 0..5 {
                formants[k] = from[k] + (target[k] - from[k]) * progress;
                res[k].set(formants[k], bws[k]);
            }
            accent += (target_accent - accent) * 0.05;
            for n in i..block_end {
                let env_in = ((n - start) as f32 / ramp as f32).min(1.0);
                let env_out = ((end - n) as f32 / ramp as f32).min(1.0);
                let env = env_in * env_out;
                match phone {
                    Phone::Vowel(_) => {
                        // F0: declination over the utterance plus the syllable accent.
                        let decl = 1.5 - 3.0 * n as f32 / total;
                        let f0 = voice.f0_mean * 2f32.powf((decl + accent) / 12.0);
                        phase += period_f0 / FS;
                        if phase >= 1.0 {
                            phase -= 1.0;
                            period_f0 = f0 * (1.0 + voice.jitter * normal(rng));
                            period_amp = 1.0 + voice.shimmer * normal(rng);
                        }
                        // Rosenberg glottal flow, differentiated (lip radiation).
                        let flow = if phase < tp {
                            0.5 * (1.0 - (std::f32::consts::PI * phase / tp).cos())
                        } else if phase < tp + tn {
                            (std::f32::consts::FRAC_PI_2 * (phase - tp) / tn).cos()
                        } else {
                            0.0
                        };
                        let source = (flow - flow_prev) * period_amp;
                        flow_prev = flow;
                        let aspiration = voice.breathiness * 0.04 * (0.3 + flow) * uniform(rng);
                        tilt_state = (1.0 - voice.tilt) * (source + aspiration) + voice.tilt * tilt_state;
                        let mut y = tilt_state * env * stress;
                        for r in res.iter_mut() {
                            y = r.tick(y);
                        }
                        voiced[n] = y;
                    }
                    Phone::Fricative => {
                        let y = fric_res.tick(uniform(rng));
                        fric[n] = (y - fric_prev) * env; // first difference: tilt towards highs
                        fric_prev = y;
                        voiced[n] = ring_out(&mut res); // let the vowel resonances decay
                    }
                    Phone::Pause => {
                        voiced[n] = ring_out(&mut res);
                    }
                }
            }
            i = block_end;
        }
    }
    // Fricatives at the voice's level relative to the vowels.
    let (rv, rf) = (rms(&voiced), rms(&fric));
    let g = if rf > 0.0 { voice.fricative_level * rv / rf } else { 0.0 };
    voiced.iter_mut().zip(&fric).for_each(|(v, f)| *v += g * f);
    voiced
}

/// One utterance: `speak` through the video's channel, with noise at a random SNR (15–40 dB) and
/// a random level (RMS −26 to −18 dBFS), clipped to [-1, 1].
pub fn utterance(seed: u64, speaker: usize, video: usize, index: usize, samples: usize) -> Vec<f32> {
    let voice = Voice::new(seed, speaker);
    let channel = Channel::new(seed, speaker, video);
    let mut rng = ChaCha8Rng::seed_from_u64(mix(&[seed, 0x077E, speaker as u64, video as u64, index as u64]));
    let mut x = speak(&voice, samples, &mut rng);
    channel.apply(&mut x);
    // Coloured background noise: white mixed with a one-pole low-passed copy.
    let snr_db: f32 = rng.random_range(15.0..40.0);
    let colour: f32 = rng.random_range(0.0..0.95);
    let mut state = 0.0f32;
    let noise: Vec<f32> = (0..samples)
        .map(|_| {
            state = colour * state + (1.0 - colour) * uniform(&mut rng);
            state
        })
        .collect();
    let scale = rms(&x) / rms(&noise).max(1e-9) * 10f32.powf(-snr_db / 20.0);
    x.iter_mut().zip(&noise).for_each(|(s, n)| *s += scale * n);
    let level_db: f32 = rng.random_range(-26.0..-18.0);
    let gain = 10f32.powf(level_db / 20.0) / rms(&x).max(1e-9);
    x.iter_mut().for_each(|s| *s = (*s * gain).clamp(-1.0, 1.0));
    x
}

/// One sample of the formant cascade with no input (its resonances decaying).
fn ring_out(res: &mut [Resonator; 5]) -> f32 {
    res.iter_mut().fold(0.0, |y, r| r.tick(y))
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

#[inline]
fn uniform<R: Rng>(rng: &mut R) -> f32 {
    rng.random::<f32>() * 2.0 - 1.0
}

/// A standard normal draw (Box–Muller), enough for voice parameters.
fn normal<R: Rng>(rng: &mut R) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-12);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utterances_are_deterministic_and_sane() {
        let a = utterance(3, 1, 0, 0, 16000);
        assert_eq!(a, utterance(3, 1, 0, 0, 16000));
        assert_ne!(a, utterance(3, 1, 0, 1, 16000));
        assert_eq!(a.len(), 16000);
        assert!(a.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
        let r = rms(&a);
        assert!(r > 0.03 && r < 0.15, "rms {r}");
    }

    #[test]
    fn voices_differ() {
        assert_ne!(Voice::new(0, 0), Voice::new(0, 1));
        assert_eq!(Voice::new(0, 0), Voice::new(0, 0));
    }
}
