//! MFCC frames aligned with the SSL models' CNN frames, the features HuBERT's first pre-training iteration
//! clusters into targets: frame `i` covers samples `[320 i, 320 i + 400)` of 16 kHz audio (the receptive field
//! and stride of the wav2vec 2.0 / HuBERT / WavLM conv stack), so there is exactly one target per model frame.
//! Per frame: Hamming window, 512-point power spectrum, 40 triangular mel filters (0–8 kHz), log, DCT-II →
//! 13 cepstra, plus their deltas over ±2 frames → 26 values ([`Mfcc::compute`]); or the 40 log-mel energies
//! themselves ([`Mfcc::compute_log_mel`]), which keep the spectral detail (harmonics of low voices, tilt) the
//! cepstral truncation smooths away.

use realfft::RealFftPlanner;

/// Samples per frame (25 ms) and hop (20 ms) at 16 kHz: the CNN's receptive field and stride.
pub const WINDOW: usize = 400;
pub const HOP: usize = 320;
const FFT: usize = 512;
const MELS: usize = 40;
pub const CEPSTRA: usize = 13;
/// Values per frame: cepstra and their deltas.
pub const DIM: usize = 2 * CEPSTRA;
/// Values per frame of [`Mfcc::compute_log_mel`].
pub const LOG_MEL_DIM: usize = MELS;

/// Frames of a crop of `samples` samples (what the CNN makes of it).
pub fn frames(samples: usize) -> usize {
    if samples < WINDOW {
        0
    } else {
        (samples - WINDOW) / HOP + 1
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// Computes MFCC + delta frames.
pub struct Mfcc {
    window: Vec<f32>,
    /// `[MELS][FFT/2 + 1]` filter weights.
    filters: Vec<Vec<f32>>,
    /// `[CEPSTRA][MELS]` DCT-II basis.
    dct: Vec<Vec<f32>>,
    planner: RealFftPlanner<f32>,
}

impl Default for Mfcc {
    fn default() -> Self {
        let window = (0..WINDOW)
            .map(|n| (0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / (WINDOW - 1) as f64).cos()) as f32)
            .collect();
        let bins = FFT / 2 + 1;
        let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(8000.0));
        let edges: Vec<f64> = (0..MELS + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (MELS + 1) as f64) * FFT as f64 / 16000.0)
            .collect();
        let filters = (0..MELS)
            .map(|m| {
                (0..bins)
                    .map(|b| {
                        let b = b as f64;
                        let (l, c, r) = (edges[m], edges[m + 1], edges[m + 2]);
                        let w = if b > l && b <= c {
                            (b - l) / (c - l)
                        } else if b > c && b < r {
                            (r - b) / (r - c)
                        } else {
                            0.0
                        };
                        w as f32
                    })
                    .collect()
            })
            .collect();
        let dct = (0..CEPSTRA)
            .map(|k| {
                (0..MELS)
                    .map(|n| {
                        ((std::f64::consts::PI * k as f64 * (n as f64 + 0.5) / MELS as f64).cos()
                            * (2.0 / MELS as f64).sqrt()) as f32
                    })
                    .collect()
            })
            .collect();
        Self {
            window,
            filters,
            dct,
            planner: RealFftPlanner::new(),
        }
    }
}

impl Mfcc {
    /// `[frames(samples.len())][LOG_MEL_DIM]` log-mel energies of one crop, row-major.
    pub fn compute_log_mel(&mut self, samples: &[f32]) -> Vec<f32> {
        let n = frames(samples.len());
        let fft = self.planner.plan_fft_forward(FFT);
        let mut input = fft.make_input_vec();
        let mut spectrum = fft.make_output_vec();
        let mut out = vec![0f32; n * MELS];
        let mut power = vec![0f32; FFT / 2 + 1];
        for f in 0..n {
            let frame = &samples[f * HOP..f * HOP + WINDOW];
            let mean = frame.iter().sum::<f32>() / WINDOW as f32;
            input.iter_mut().for_each(|x| *x = 0.0);
            for (i, (x, w)) in frame.iter().zip(&self.window).enumerate() {
                input[i] = (x - mean) * w;
            }
            // The buffers are sized by the plan, so this cannot fail.
            let _ = fft.process(&mut input, &mut spectrum);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (o, w) in out[f * MELS..(f + 1) * MELS].iter_mut().zip(&self.filters) {
                *o = (w.iter().zip(&power).map(|(a, b)| a * b).sum::<f32>() + 1e-10).ln();
            }
        }
        out
    }

    /// `[frames(samples.len())][DIM]` features of one crop, row-major.
    pub fn compute(&mut self, samples: &[f32]) -> Vec<f32> {
        let logmel = self.compute_log_mel(samples);
        let n = logmel.len() / MELS;
        let mut cep = vec![0f32; n * CEPSTRA];
        for (f, frame) in logmel.chunks(MELS).enumerate() {
            for (k, basis) in self.dct.iter().enumerate() {
                cep[f * CEPSTRA + k] = basis.iter().zip(frame).map(|(a, b)| a * b).sum();
            }
        }
        // Deltas over ±2 frames (HTK's regression formula), edges repeated.
        let mut out = vec![0f32; n * DIM];
        for f in 0..n {
            out[f * DIM..f * DIM + CEPSTRA].copy_from_slice(&cep[f * CEPSTRA..(f + 1) * CEPSTRA]);
            for k in 0..CEPSTRA {
                let at = |d: isize| cep[(f as isize + d).clamp(0, n as isize - 1) as usize * CEPSTRA + k];
                out[f * DIM + CEPSTRA + k] = ((at(1) - at(-1)) + 2.0 * (at(2) - at(-2))) / 10.0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_per_cnn_frame() {
        assert_eq!(frames(399), 0);
        assert_eq!(frames(400), 1);
        assert_eq!(frames(16_000), 49, "HF's conv stack gives 49 frames for 1 s");
        let wave: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin()).collect();
        assert_eq!(Mfcc::default().compute(&wave).len(), 49 * DIM);
    }

    #[test]
    fn different_sounds_give_different_cepstra_and_steady_sounds_no_deltas() {
        let tone = |hz: f32| -> Vec<f32> {
            (0..8000).map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 16000.0).sin()).collect()
        };
        let mut m = Mfcc::default();
        let low = m.compute(&tone(300.0));
        let high = m.compute(&tone(3000.0));
        let f = 10 * DIM;
        let dist: f32 = (0..CEPSTRA).map(|k| (low[f + k] - high[f + k]).powi(2)).sum();
        assert!(dist > 10.0, "a 300 Hz and a 3 kHz tone differ ({dist})");
        let delta: f32 = (CEPSTRA..DIM).map(|k| low[f + k].abs()).sum();
        assert!(delta < 0.1, "a steady tone has no deltas ({delta})");
    }

    #[test]
    fn log_mel_frames_peak_at_the_tone_and_give_the_cepstra_by_dct() {
        let wave: Vec<f32> = (0..16_000).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin()).collect();
        let mut m = Mfcc::default();
        let mel = m.compute_log_mel(&wave);
        assert_eq!(mel.len(), 49 * LOG_MEL_DIM);
        let frame = &mel[20 * LOG_MEL_DIM..21 * LOG_MEL_DIM];
        let peak = (0..LOG_MEL_DIM).max_by(|&a, &b| frame[a].total_cmp(&frame[b])).unwrap();
        let centre = |m: usize| mel_to_hz(hz_to_mel(8000.0) * (m + 1) as f64 / (MELS + 1) as f64);
        assert!((centre(peak) - 1000.0).abs() < 150.0, "a 1 kHz tone peaks in the filter at {} Hz", centre(peak));
        let cep = m.compute(&wave);
        for k in 0..CEPSTRA {
            let by_dct: f32 = m.dct[k].iter().zip(frame).map(|(a, b)| a * b).sum();
            assert!((by_dct - cep[20 * DIM + k]).abs() < 1e-3);
        }
    }
}
