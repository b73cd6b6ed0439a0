//! Speaker-verification data: corpus layouts, trial lists, audio decoding and resampling, the
//! background batch loader with augmentation, and a synthetic corpus for tests and demos.
//!
//! Everything here is independent of Burn: the loader hands over plain row-major `Vec<f32>`
//! batches (`[batch, samples]`, 16 kHz mono) with speaker labels, and the trainer turns them into
//! tensors.
//!
//! | module       | job                                                                    |
//! |--------------|------------------------------------------------------------------------|
//! | [`error`]    | [`DataError`], the one error type of this module                       |
//! | [`audio`]    | decode WAV/FLAC/OGG to 16 kHz mono `f32`, write 16-bit WAV             |
//! | [`resample`] | sample-rate conversion (rubato FFT resampler), cached per thread       |
//! | [`corpus`]   | index VoxCeleb / Kaldi / folder-per-speaker corpora into a [`Corpus`]  |
//! | [`trials`]   | read VoxCeleb and Kaldi trial lists, check them against a corpus       |
//! | [`sampler`]  | which utterances and crops make batch `b` of epoch `e` (pure function) |
//! | [`loader`]   | worker threads that prepare batches in order through bounded channels  |
//! | [`augment`]  | MUSAN-style noise, room impulse responses, speed perturbation          |
//! | [`report`]   | [`LoadReport`]: files skipped during loading, by reason, with paths    |
//! | [`synthetic`]| a seeded source-filter "speaker" generator and corpus writer           |

pub mod audio;
pub mod augment;
pub mod corpus;
pub mod error;
pub mod loader;
pub mod mfcc;
pub mod report;
pub mod resample;
pub mod sampler;
pub mod synthetic;
pub mod trials;

pub use augment::{AugmentConfig, Augmenter};
pub use corpus::{Corpus, CorpusLayout, Utterance};
pub use error::DataError;
pub use loader::{Loader, LoaderConfig};
pub use report::LoadReport;
pub use sampler::Batch;
pub use trials::{Trial, TrialFormat, TrialList};

/// The sample rate every waveform in this module is converted to, in Hz.
pub const SAMPLE_RATE: u32 = 16_000;

/// File extensions (lower case) treated as audio when indexing folders.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "flac", "ogg"];

/// Whether `path` has one of the [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_path(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}
