//! Audio file decoding to what every model here consumes: mono `f32` at 16 kHz in [-1, 1].
//!
//! WAV goes through `hound` (8/16/24/32-bit integer and 32-bit float PCM, including
//! WAVE_FORMAT_EXTENSIBLE); other WAV codings hound rejects (A-law, µ-law, ADPCM) and FLAC/OGG
//! Vorbis go through `symphonia`. Channels are averaged to mono, then the signal is resampled to
//! [`SAMPLE_RATE`] (see [`super::resample`]). A file that stops before its header says it should is
//! reported as [`DataError::Truncated`] rather than silently shortened, so partial copies are
//! found; empty and non-audio files give [`DataError::Empty`] / [`DataError::Decode`]. Nothing here
//! panics on bad input.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use super::{resample::resample, DataError, SAMPLE_RATE};

/// Decoded audio before resampling: mono samples and their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct MonoAudio {
    /// Mono samples in [-1, 1] (channels averaged).
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// Decodes `path` and returns 16 kHz mono samples.
pub fn load_audio(path: &Path) -> Result<Vec<f32>, DataError> {
    let audio = decode_mono(path)?;
    resample(&audio.samples, audio.sample_rate, SAMPLE_RATE, path)
}

/// Decodes `path` to mono at its own sample rate.
pub fn decode_mono(path: &Path) -> Result<MonoAudio, DataError> {
    let mut head = [0u8; 12];
    let n = File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map_err(|e| DataError::io(path, e))?;
    if n == 0 {
        return Err(DataError::Empty { path: path.into() });
    }
    let audio = if n == 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        match decode_wav_hound(path) {
            // Codings hound does not read (A-law, µ-law, ADPCM…) may still be read by symphonia.
            Err(hound::Error::Unsupported) => decode_symphonia(path)?,
            Err(e) => return Err(hound_error(path, e)),
            Ok(audio) => audio,
        }
    } else {
        decode_symphonia(path)?
    };
    if audio.samples.is_empty() {
        return Err(DataError::Empty { path: path.into() });
    }
    Ok(audio)
}

/// Reads a `len`-sample window of 16 kHz mono audio from `path`.
///
/// `start_of(total)` picks the first sample given the file's length in 16 kHz samples; it must
/// return at most `total - len` when `total >= len`, and less than `total` otherwise. A file
/// shorter than `len` is repeated end to end from that start (see [`window`]).
///
/// 16 kHz WAV files hound reads are read only inside the window (a 3 s crop of an 8 s VoxCeleb file
/// decodes 3 s), after checking the file is as long as its header says, so truncated files are
/// still reported; everything else is decoded in full by [`load_audio`].
pub fn load_window(path: &Path, len: usize, start_of: &mut dyn FnMut(usize) -> usize) -> Result<Vec<f32>, DataError> {
    if let Some(mut reader) = open_wav_16k(path)? {
        let total = reader.duration() as usize;
        if total >= len && total > 0 {
            let start = start_of(total).min(total - len);
            reader.seek(start as u32).map_err(|e| DataError::io(path, e))?;
            let channels = reader.spec().channels as usize;
            let interleaved = read_samples(&mut reader, Some(len * channels)).map_err(|e| hound_error(path, e))?;
            let mono = mix_down(&interleaved, channels);
            if mono.len() == len {
                return Ok(mono);
            }
            return Err(DataError::Truncated {
                path: path.into(),
                reason: "the data ends before the length in its header".into(),
            });
        }
    }
    let wave = load_audio(path)?;
    let start = start_of(wave.len());
    Ok(window(&wave, len, start))
}

/// `len` samples of `wave` from `start`, wrapping around to the beginning when `wave` is too short
/// (short utterances are repeated to length, as WeSpeaker/ECAPA recipes do, rather than padded
/// with silence). An empty `wave` gives silence.
pub fn window(wave: &[f32], len: usize, start: usize) -> Vec<f32> {
    if wave.is_empty() {
        return vec![0.0; len];
    }
    if start + len <= wave.len() {
        return wave[start..start + len].to_vec();
    }
    (0..len).map(|i| wave[(start + i) % wave.len()]).collect()
}

/// Opens `path` with hound if it is a 16 kHz integer/float PCM WAV whose file is at least as long
/// as its header promises; `None` for anything else (other formats and rates take the full path).
fn open_wav_16k(path: &Path) -> Result<Option<hound::WavReader<BufReader<File>>>, DataError> {
    let Ok(reader) = hound::WavReader::open(path) else {
        return Ok(None);
    };
    let spec = reader.spec();
    if spec.sample_rate != SAMPLE_RATE {
        return Ok(None);
    }
    let file_len = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?.len();
    let data_len = reader.len() as u64 * spec.bits_per_sample.div_ceil(8) as u64;
    // The smallest WAV header is 44 bytes; a shorter file cannot hold the data it declares.
    if file_len < data_len + 44 {
        return Err(DataError::Truncated {
            path: path.into(),
            reason: format!("the header declares {data_len} bytes of audio but the file has {file_len} bytes in all"),
        });
    }
    Ok(Some(reader))
}

/// Writes mono 16 kHz samples as a 16-bit PCM WAV (values clipped to [-1, 1]).
pub fn write_wav_16k(path: &Path, samples: &[f32]) -> Result<(), DataError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let write_err = |e: hound::Error| DataError::Write {
        path: path.into(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    {
        let mut w = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16);
        }
        w.flush().map_err(write_err)?;
    }
    writer.finalize().map_err(write_err)
}

/// Averages interleaved frames of `channels` samples into one channel.
pub fn mix_down(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    let scale = 1.0 / channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * scale)
        .collect()
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn decode_wav_hound(path: &Path) -> Result<MonoAudio, hound::Error> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let interleaved = read_samples(&mut reader, None)?;
    Ok(MonoAudio {
        samples: mix_down(&interleaved, spec.channels as usize),
        sample_rate: spec.sample_rate,
    })
}

/// Reads up to `limit` interleaved samples (all when `None`) as `f32` in [-1, 1].
fn read_samples(
    reader: &mut hound::WavReader<BufReader<File>>,
    limit: Option<usize>,
) -> Result<Vec<f32>, hound::Error> {
    let spec = reader.spec();
    let limit = limit.unwrap_or(usize::MAX);
    match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().take(limit).collect(),
        hound::SampleFormat::Int => {
            if spec.bits_per_sample == 0 || spec.bits_per_sample > 32 {
                return Err(hound::Error::Unsupported);
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            if spec.bits_per_sample <= 16 {
                reader
                    .samples::<i16>()
                    .take(limit)
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect()
            } else {
                reader
                    .samples::<i32>()
                    .take(limit)
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect()
            }
        }
    }
}

fn hound_error(path: &Path, e: hound::Error) -> DataError {
    match e {
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => DataError::Truncated {
            path: path.into(),
            reason: "the data ends before the length in its header".into(),
        },
        // hound reports a short read of the sample data as a plain `Other` I/O error.
        hound::Error::IoError(io) if io.to_string().contains("Failed to read enough bytes") => DataError::Truncated {
            path: path.into(),
            reason: "the data ends before the length in its header".into(),
        },
        hound::Error::IoError(io) => DataError::io(path, io),
        hound::Error::UnfinishedSample => DataError::Truncated {
            path: path.into(),
            reason: "the data ends in the middle of a sample".into(),
        },
        other => DataError::Decode {
            path: path.into(),
            reason: other.to_string(),
        },
    }
}

fn sym_error(path: &Path, e: SymError) -> DataError {
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => DataError::Truncated {
            path: path.into(),
            reason: "the stream ends unexpectedly".into(),
        },
        SymError::Unsupported(what) => DataError::Decode {
            path: path.into(),
            reason: format!("not a supported audio format ({what})"),
        },
        other => DataError::Decode {
            path: path.into(),
            reason: other.to_string(),
        },
    }
}

fn decode_symphonia(path: &Path) -> Result<MonoAudio, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| sym_error(path, e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| DataError::Decode {
            path: path.into(),
            reason: "the file has no audio track".into(),
        })?;
    let track_id = track.id;
    let expected_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| DataError::Decode {
            path: path.into(),
            reason: "the audio track has no codec parameters".into(),
        })?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| sym_error(path, e))?;

    let mut samples = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut sample_rate = params.sample_rate;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(sym_error(path, e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(|e| sym_error(path, e))?;
        let spec = buf.spec();
        sample_rate = Some(spec.rate());
        let channels = spec.channels().count().max(1);
        interleaved.clear();
        buf.copy_to_vec_interleaved(&mut interleaved);
        samples.extend(mix_down(&interleaved, channels));
    }
    // Readers stop quietly at a cut; the frame count in the header tells a partial file apart.
    if let Some(expected) = expected_frames {
        let tolerance = (expected / 100).max(64);
        if (samples.len() as u64) + tolerance < expected {
            return Err(DataError::Truncated {
                path: path.into(),
                reason: format!(
                    "{} of the {expected} sample frames its header declares could be decoded",
                    samples.len()
                ),
            });
        }
    }
    let sample_rate = sample_rate.ok_or_else(|| DataError::Decode {
        path: path.into(),
        reason: "the sample rate is not given".into(),
    })?;
    Ok(MonoAudio { samples, sample_rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_down_averages_frames() {
        assert_eq!(mix_down(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
    }

    #[test]
    fn wav_round_trip_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        let x: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let p16 = dir.path().join("a.wav");
        write_wav_16k(&p16, &x).unwrap();
        let y = load_audio(&p16).unwrap();
        assert_eq!(y.len(), x.len());
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-4));

        // 24-bit int and 32-bit float at 16 kHz decode to the same values.
        for (bits, format) in [(24, hound::SampleFormat::Int), (32, hound::SampleFormat::Float)] {
            let p = dir.path().join(format!("b{bits}.wav"));
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 16_000,
                bits_per_sample: bits,
                sample_format: format,
            };
            let mut w = hound::WavWriter::create(&p, spec).unwrap();
            for &s in &x {
                match format {
                    hound::SampleFormat::Float => w.write_sample(s).unwrap(),
                    hound::SampleFormat::Int => w.write_sample((s * 8_388_607.0) as i32).unwrap(),
                }
            }
            w.finalize().unwrap();
            let y = load_audio(&p).unwrap();
            assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-5), "{bits}-bit");
        }
    }

    #[test]
    fn empty_and_text_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.wav");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(load_audio(&empty), Err(DataError::Empty { .. })));
        let text = dir.path().join("notes.flac");
        std::fs::write(&text, b"this is not audio at all, just words\n").unwrap();
        let err = load_audio(&text).unwrap_err();
        assert!(matches!(err, DataError::Decode { .. }), "{err}");
        assert!(err.to_string().contains("notes.flac"));
    }

    #[test]
    fn windows_read_only_what_is_asked_and_wrap_short_files() {
        assert_eq!(window(&[1.0, 2.0, 3.0], 5, 1), vec![2.0, 3.0, 1.0, 2.0, 3.0]);
        let dir = tempfile::tempdir().unwrap();
        let x: Vec<f32> = (0..1000).map(|i| i as f32 / 2000.0).collect();
        let p = dir.path().join("ramp.wav");
        write_wav_16k(&p, &x).unwrap();
        let w = load_window(&p, 100, &mut |total| {
            assert_eq!(total, 1000);
            250
        })
        .unwrap();
        assert!(w.iter().zip(&x[250..350]).all(|(a, b)| (a - b).abs() < 1e-4));
        let w = load_window(&p, 1500, &mut |_| 900).unwrap();
        assert_eq!(w.len(), 1500);
        assert!((w[100] - x[0]).abs() < 1e-4, "wraps to the start");

        // Cut the file short: the window read notices even where the window itself is intact.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
        let err = load_window(&p, 10, &mut |_| 0).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    }
}
