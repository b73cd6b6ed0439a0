//! Sample-rate conversion with rubato's synchronous FFT resampler.
//!
//! Why this resampler: corpus files have a fixed rate (8, 22.05, 44.1, 48 kHz…) that never drifts,
//! which is the case rubato's `Fft` resampler is built for. It is its highest-quality mode (same
//! quality as the cubic-sinc asynchronous resampler, anti-aliasing with a Blackman-Harris window)
//! and several times faster. `process_all` trims the filter delay so output sample `k` lines up
//! with input time `k / rate_out`, and the output holds `ceil(len · out / in)` samples.
//!
//! Building a resampler plans FFTs, so one is cached per thread and per rate pair; loader workers
//! therefore pay that cost once. Speed perturbation (see `augment`) uses the same path with rates
//! such as 17 600 → 16 000 Hz.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::DataError;

/// Chunk size hint for the FFT resampler; rounded by rubato to a multiple fitting the ratio.
const CHUNK: usize = 1024;

thread_local! {
    static CACHE: RefCell<HashMap<(u32, u32), Fft<f32>>> = RefCell::new(HashMap::new());
}

/// Resamples mono `samples` from `from` Hz to `to` Hz. `path` is only used in error messages.
///
/// Returns the input unchanged when the rates are equal.
pub fn resample(samples: &[f32], from: u32, to: u32, path: &Path) -> Result<Vec<f32>, DataError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let err = |reason: String| DataError::Resample {
        path: path.to_path_buf(),
        from,
        to,
        reason,
    };
    if from == 0 || to == 0 {
        return Err(err("a sample rate of 0 Hz is invalid".into()));
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let resampler = match cache.entry((from, to)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let r = Fft::<f32>::new(from as usize, to as usize, CHUNK, 1, FixedSync::Both)
                    .map_err(|e| err(e.to_string()))?;
                v.insert(r)
            }
        };
        let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(e.to_string()))?;
        let out = resampler
            .process_all(&input, samples.len(), None)
            .map_err(|e| err(e.to_string()))?;
        Ok(out.take_data())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn length_and_amplitude_survive_48k_to_16k() {
        let x = sine(1000.0, 48_000, 0.5);
        let y = resample(&x, 48_000, 16_000, Path::new("mem")).unwrap();
        assert!((y.len() as i64 - 8000).abs() <= 1, "len {}", y.len());
        // Away from the edges the 1 kHz tone keeps unit amplitude and its phase.
        let reference = sine(1000.0, 16_000, 0.5);
        let err = y[500..7500]
            .iter()
            .zip(&reference[500..7500])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.01, "max deviation {err}");
    }

    #[test]
    fn equal_rates_are_a_copy() {
        let x = vec![0.1, -0.2, 0.3];
        assert_eq!(resample(&x, 16_000, 16_000, Path::new("mem")).unwrap(), x);
    }
}
