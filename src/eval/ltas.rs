//! A model-free baseline embedder: the log long-term average spectrum (LTAS) of an utterance.
//!
//! LTAS is a classic voice-quality feature: vocal-tract length, spectral tilt and breathiness shape it, so it
//! carries some speaker information with no training at all. adaptsv uses it as the floor a trained model must
//! beat, and to run the evaluation pipeline end to end without a network. Frames of 512 samples (32 ms at
//! 16 kHz) with a Hann window and a hop of 256 are averaged in power over the utterance, in 40 linear bands from
//! 31 Hz to 7.5 kHz; the embedding is the log of the band powers (floored 80 dB below the loudest band), minus their
//! mean (so overall level does not matter). Score with mean subtraction (`evaluate_trials(.., subtract_mean = true)`), as the common spectral
//! shape of speech otherwise dominates the cosine.

use super::extract::Embedder;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

const FRAME: usize = 512;
const HOP: usize = 256;
const BANDS: usize = 40;
const BINS_PER_BAND: usize = 6;

pub struct LtasEmbedder {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
}

impl Default for LtasEmbedder {
    fn default() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FRAME);
        let window = (0..FRAME)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / FRAME as f32).cos())
            .collect();
        Self { fft, window }
    }
}

impl Embedder for LtasEmbedder {
    fn dim(&self) -> usize {
        BANDS
    }

    fn cache_key(&self) -> String {
        "ltas40".into()
    }

    /// `[samples]` at 16 kHz → `[40]`. Utterances shorter than one frame are zero-padded to one frame.
    fn embed(&mut self, wave: &[f32]) -> Result<Vec<f32>, String> {
        let mut spectrum = self.fft.make_output_vec();
        let mut frame = vec![0.0f32; FRAME];
        let mut acc = [0.0f64; BANDS];
        let starts: Vec<usize> = if wave.len() <= FRAME {
            vec![0]
        } else {
            (0..=wave.len() - FRAME).step_by(HOP).collect()
        };
        for &start in &starts {
            let end = (start + FRAME).min(wave.len());
            frame.fill(0.0);
            for (i, (f, x)) in frame.iter_mut().zip(&wave[start..end]).enumerate() {
                *f = x * self.window[i];
            }
            self.fft.process(&mut frame, &mut spectrum).map_err(|e| e.to_string())?;
            for (band, a) in acc.iter_mut().enumerate() {
                let bins = &spectrum[1 + band * BINS_PER_BAND..1 + (band + 1) * BINS_PER_BAND];
                *a += bins.iter().map(|c| f64::from(c.norm_sqr())).sum::<f64>();
            }
        }
        // An 80 dB floor relative to the loudest band keeps silent bands finite without making level matter.
        let loudest = acc.iter().fold(0.0f64, |m, a| m.max(*a)) / starts.len() as f64;
        let floor = loudest * 1e-8 + 1e-30;
        let logs: Vec<f64> = acc.iter().map(|a| (a / starts.len() as f64 + floor).ln()).collect();
        let mean = logs.iter().sum::<f64>() / BANDS as f64;
        Ok(logs.iter().map(|l| (l - mean) as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_does_not_matter_and_spectrum_does() {
        let tone = |f: f32, amp: f32| -> Vec<f32> {
            (0..16_000)
                .map(|i| amp * (2.0 * std::f32::consts::PI * f * i as f32 / 16_000.0).sin())
                .collect()
        };
        let mut e = LtasEmbedder::default();
        let a = e.embed(&tone(500.0, 0.5)).unwrap();
        let b = e.embed(&tone(500.0, 0.05)).unwrap();
        let c = e.embed(&tone(3000.0, 0.5)).unwrap();
        let diff = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff(&a, &b) < 1e-3, "level changed the embedding by {}", diff(&a, &b));
        assert!(diff(&a, &c) > 1.0);
        // The loudest band of a 500 Hz tone is band 500 / (16000/512 * 6) ≈ 2.7 → band 2.
        let argmax = a.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).unwrap().0;
        assert_eq!(argmax, 2);
    }
}
