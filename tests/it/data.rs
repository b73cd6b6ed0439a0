//! Integration tests of `adaptsv::data` on a synthetic corpus written to a temporary folder:
//! layouts, trial lists, bad files, resampling, loader determinism, FLAC/OGG decoding, and that
//! the synthetic corpus is learnable but not trivially so.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use adaptsv::data::audio::{load_audio, write_wav_16k};
use adaptsv::data::report::SkipReason;
use adaptsv::data::synthetic::{write_corpus, SynthConfig, SynthSummary};
use adaptsv::data::{AugmentConfig, Corpus, CorpusLayout, DataError, Loader, LoaderConfig, TrialFormat, TrialList};
use adaptsv::eval::Embedder;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/data")
        .join(name)
}

fn small_corpus(dir: &Path, test_speakers: usize) -> SynthSummary {
    let config = SynthConfig {
        test_speakers,
        ..SynthConfig::new(6, 4, 0.6, 11)
    };
    write_corpus(dir, &config, None).unwrap()
}

/// Magnitude of the DFT of `x` at `freq` Hz (Goertzel).
fn goertzel(x: &[f32], freq: f32, rate: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / rate;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2).sqrt()
}

/// Checks a 16 kHz signal is a 440 Hz tone: 440 Hz beats every other probe frequency by far.
fn assert_dominant_440(x: &[f32]) {
    let at_440 = goertzel(x, 440.0, 16_000.0);
    for f in [220.0, 400.0, 480.0, 880.0, 1000.0, 2000.0, 4000.0, 7000.0] {
        let other = goertzel(x, f, 16_000.0);
        assert!(at_440 > 10.0 * other, "440 Hz {at_440} vs {f} Hz {other}");
    }
}

#[test]
fn voxceleb_kaldi_and_folder_layouts_index_the_same_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let summary = small_corpus(dir.path(), 0);
    let mut seen = Vec::new();
    let vox = Corpus::index(&summary.train_root, CorpusLayout::Auto, Some(&mut |n| seen.push(n))).unwrap();
    assert_eq!(vox.layout, CorpusLayout::VoxCeleb);
    assert_eq!(vox.speakers.len(), 6);
    assert_eq!(vox.utterances.len(), 24);
    assert_eq!(seen.last(), Some(&24), "progress reports the final count");

    // Kaldi lists naming the same files, keyed by VoxCeleb ids as WeSpeaker does.
    let kaldi_dir = dir.path().join("kaldi");
    std::fs::create_dir_all(&kaldi_dir).unwrap();
    let scp: String = vox
        .utterances
        .iter()
        .map(|u| format!("{} {}\n", u.id, u.path.display()))
        .collect();
    let u2s: String = vox
        .utterances
        .iter()
        .map(|u| format!("{} {}\n", u.id, vox.speakers[u.speaker]))
        .collect();
    std::fs::write(kaldi_dir.join("wav.scp"), scp).unwrap();
    std::fs::write(kaldi_dir.join("utt2spk"), u2s).unwrap();
    let kaldi = Corpus::index(&kaldi_dir, CorpusLayout::Auto, None).unwrap();
    assert_eq!(kaldi.layout, CorpusLayout::Kaldi);
    assert_eq!(kaldi.speakers, vox.speakers);
    assert_eq!(kaldi.utterances, vox.utterances);

    // One folder per speaker, files named `<video>_<file>`.
    let flat = dir.path().join("flat");
    for u in &vox.utterances {
        let mut parts = u.id.split('/');
        let (spk, video, file) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        std::fs::create_dir_all(flat.join(spk)).unwrap();
        std::fs::copy(&u.path, flat.join(spk).join(format!("{video}_{file}"))).unwrap();
    }
    let folders = Corpus::index(&flat, CorpusLayout::Auto, None).unwrap();
    assert_eq!(folders.layout, CorpusLayout::Folders);
    assert_eq!(folders.speakers, vox.speakers);
    let as_flat: Vec<String> = vox
        .utterances
        .iter()
        .map(|u| u.id.replacen('/', "\u{0}", 1).replace('/', "_").replace('\u{0}', "/"))
        .collect();
    let ids: Vec<String> = folders.utterances.iter().map(|u| u.id.clone()).collect();
    let mut expected = as_flat.clone();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(folders.utterances_per_speaker(), vox.utterances_per_speaker());

    // Forcing a layout that does not match finds nothing and says so.
    let err = Corpus::index(&flat, CorpusLayout::VoxCeleb, None).unwrap_err();
    assert!(matches!(err, DataError::Layout { .. }), "{err}");
}

#[test]
fn trial_lists_parse_in_both_formats_and_are_checked_against_the_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let summary = small_corpus(dir.path(), 3);
    let test_root = summary.test_root.clone().unwrap();
    let corpus = Corpus::index(&test_root, CorpusLayout::VoxCeleb, None).unwrap();
    assert_eq!(corpus.speakers, vec!["id10004", "id10005", "id10006"]);

    let vox = TrialList::read(&summary.trials_path).unwrap();
    assert_eq!(vox.format, TrialFormat::VoxCeleb);
    assert_eq!(vox.trials.len(), summary.target_trials + summary.nontarget_trials);
    assert_eq!(summary.target_trials, summary.nontarget_trials);
    assert!(summary.target_trials > 0);
    vox.check_against(&corpus).unwrap();
    // Targets are same-speaker pairs, non-targets are not.
    for t in &vox.trials {
        assert_eq!(t.target, t.enroll[..7] == t.test[..7], "line {}", t.line);
    }

    // The same list in Kaldi/WeSpeaker format.
    let kaldi_text: String = vox
        .trials
        .iter()
        .map(|t| {
            format!(
                "{} {} {}\n",
                t.enroll,
                t.test,
                if t.target { "target" } else { "nontarget" }
            )
        })
        .collect();
    let kaldi_path = dir.path().join("trials.kaldi");
    std::fs::write(&kaldi_path, &kaldi_text).unwrap();
    let kaldi = TrialList::read(&kaldi_path).unwrap();
    assert_eq!(kaldi.format, TrialFormat::Kaldi);
    let strip = |l: &TrialList| {
        l.trials
            .iter()
            .map(|t| (t.enroll.clone(), t.test.clone(), t.target))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&kaldi), strip(&vox));

    // A trial naming an utterance that is not in the corpus.
    let mut text = std::fs::read_to_string(&summary.trials_path).unwrap();
    let n = text.lines().count();
    text.push_str("0 id10004/x6uYqmx31kE/00009.wav id10270/x6uYqmx31kE/00009.wav\n");
    let bad_path = dir.path().join("bad_trials.txt");
    std::fs::write(&bad_path, &text).unwrap();
    let err = TrialList::read(&bad_path).unwrap().check_against(&corpus).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("line {}", n + 1)), "{msg}");
    assert!(
        msg.contains("id10004/x6uYqmx31kE/00009.wav") && msg.contains(&test_root.display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("2 trial-list entries are missing"), "{msg}");
    // Checking against the training speakers fails on the first line.
    let train = Corpus::index(&summary.train_root, CorpusLayout::Auto, None).unwrap();
    assert!(vox.check_against(&train).unwrap_err().to_string().contains("line 1 "));

    // A malformed line stops parsing with its number.
    text.push_str("1 only-two-fields\n");
    std::fs::write(&bad_path, &text).unwrap();
    let err = TrialList::read(&bad_path).unwrap_err();
    assert!(err.to_string().contains(&format!("line {}", n + 2)), "{err}");
}

#[test]
fn bad_files_are_skipped_and_reported_and_stereo_44k_is_resampled() {
    let dir = tempfile::tempdir().unwrap();
    let spk = dir.path().join("corpus/spk1");
    std::fs::create_dir_all(&spk).unwrap();
    let good: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.07).sin() * 0.3).collect();
    write_wav_16k(&spk.join("good.wav"), &good).unwrap();
    write_wav_16k(&spk.join("truncated.wav"), &good).unwrap();
    let bytes = std::fs::read(spk.join("truncated.wav")).unwrap();
    std::fs::write(spk.join("truncated.wav"), &bytes[..bytes.len() / 2 + 1]).unwrap();
    std::fs::write(spk.join("notes.wav"), "these are my notes, not audio\n").unwrap();
    // 0.5 s of 440 Hz at 44.1 kHz, 16-bit stereo, the same tone in both channels.
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(spk.join("stereo44k.wav"), spec).unwrap();
    for i in 0..22_050 {
        let v = ((2.0 * std::f32::consts::PI * 440.0 * i as f32 / 44_100.0).sin() * 0.5 * 32767.0) as i16;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();

    assert!(matches!(
        load_audio(&spk.join("truncated.wav")),
        Err(DataError::Truncated { .. })
    ));
    let err = load_audio(&spk.join("notes.wav")).unwrap_err();
    assert!(
        matches!(err, DataError::Decode { .. }) && err.to_string().contains("notes.wav"),
        "{err}"
    );
    let stereo = load_audio(&spk.join("stereo44k.wav")).unwrap();
    assert!((stereo.len() as i64 - 8000).abs() <= 2, "length {}", stereo.len());
    assert_dominant_440(&stereo);
    let peak = stereo[1000..7000].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!((peak - 0.5).abs() < 0.02, "amplitude {peak}");

    // Through the loader: every batch is full, the bad files are reported with their reasons.
    let corpus = Arc::new(Corpus::index(&dir.path().join("corpus"), CorpusLayout::Auto, None).unwrap());
    assert_eq!(corpus.utterances.len(), 4);
    let config = LoaderConfig {
        batch_size: 2,
        crop_seconds: 0.25,
        workers: 2,
        prefetch: 2,
        seed: 5,
        ..LoaderConfig::default()
    };
    let mut report = adaptsv::data::LoadReport::default();
    for epoch in 0..4 {
        let mut loader = Loader::start(corpus.clone(), &config, epoch).unwrap();
        assert_eq!(loader.len_batches(), 2);
        for batch in loader.by_ref() {
            let batch = batch.unwrap();
            assert_eq!(batch.samples.len(), 2 * 4000);
            for &u in &batch.utterances {
                let id = &corpus.utterances[u].id;
                assert!(id == "spk1/good.wav" || id == "spk1/stereo44k.wav", "{id}");
            }
        }
        report.merge(loader.report());
    }
    let by_reason = report.by_reason();
    assert_eq!(by_reason[&SkipReason::Truncated], vec![&spk.join("truncated.wav")]);
    assert_eq!(by_reason[&SkipReason::NotAudio], vec![&spk.join("notes.wav")]);
    assert!(report.loaded >= 16);
    assert!(report.speakers_without_audio().is_empty());
    assert!(report.to_string().contains("truncated.wav"));
}

#[test]
fn a_speaker_with_only_bad_files_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (spk, file) in [("alice", "a.wav"), ("alice", "b.wav"), ("bob", "c.wav")] {
        std::fs::create_dir_all(root.join(spk)).unwrap();
        write_wav_16k(&root.join(spk).join(file), &[0.1; 800]).unwrap();
    }
    std::fs::create_dir_all(root.join("carol")).unwrap();
    std::fs::write(root.join("carol/x.wav"), "not audio").unwrap();
    let corpus = Arc::new(Corpus::index(root, CorpusLayout::Folders, None).unwrap());
    let config = LoaderConfig {
        batch_size: 4,
        crop_seconds: 0.1,
        workers: 1,
        ..LoaderConfig::default()
    };
    let mut loader = Loader::start(corpus, &config, 0).unwrap();
    assert!(loader.next().unwrap().is_ok());
    assert_eq!(loader.report().speakers_without_audio(), vec!["carol"]);
}

#[test]
fn a_corpus_of_bad_files_ends_the_epoch_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for spk in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(spk)).unwrap();
        std::fs::write(dir.path().join(spk).join("x.wav"), "text").unwrap();
    }
    let corpus = Arc::new(Corpus::index(dir.path(), CorpusLayout::Auto, None).unwrap());
    let config = LoaderConfig {
        batch_size: 1,
        workers: 2,
        ..LoaderConfig::default()
    };
    let mut loader = Loader::start(corpus, &config, 0).unwrap();
    let err = loader.next().unwrap().unwrap_err();
    assert!(matches!(err, DataError::Unusable { .. }), "{err}");
    assert!(loader.next().is_none(), "the epoch stops after the error");
    assert_eq!(loader.report().skipped_files(), 2);
    assert_eq!(loader.report().speakers_without_audio().len(), 2);
}

fn write_augmentation_folders(dir: &Path) -> (PathBuf, PathBuf) {
    let musan = dir.join("musan");
    for cat in ["noise", "music", "speech"] {
        std::fs::create_dir_all(musan.join(cat)).unwrap();
    }
    let hiss: Vec<f32> = (0..48_000)
        .map(|i| (((i * 7919) % 1013) as f32 / 506.0 - 1.0) * 0.2)
        .collect();
    write_wav_16k(&musan.join("noise/hiss.wav"), &hiss).unwrap();
    let tune: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.2).collect();
    write_wav_16k(&musan.join("music/tune.wav"), &tune).unwrap();
    for s in 0..3 {
        write_wav_16k(
            &musan.join(format!("speech/s{s}.wav")),
            &adaptsv::data::synthetic::utterance(9, 50 + s, 0, 0, 32_000),
        )
        .unwrap();
    }
    let rirs = dir.join("rirs");
    std::fs::create_dir_all(&rirs).unwrap();
    let rir: Vec<f32> = (0..4000)
        .map(|i| (-(i as f32) / 600.0).exp() * if i % 3 == 0 { 1.0 } else { -0.5 })
        .collect();
    write_wav_16k(&rirs.join("room1.wav"), &rir).unwrap();
    (musan, rirs)
}

#[test]
fn loader_batches_depend_only_on_seed_epoch_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let summary = small_corpus(dir.path(), 0);
    let (musan, rirs) = write_augmentation_folders(dir.path());
    let corpus = Arc::new(Corpus::index(&summary.train_root, CorpusLayout::Auto, None).unwrap());
    let augment = AugmentConfig {
        enabled: true,
        noise_dir: Some(musan),
        rir_dir: Some(rirs),
        speed_prob: 0.5,
        ..AugmentConfig::default()
    };
    let base = LoaderConfig {
        batch_size: 5,
        crop_seconds: 0.5,
        prefetch: 2,
        seed: 123,
        augment,
        ..LoaderConfig::default()
    };
    let run = |workers: usize, seed: u64, epoch: usize| {
        let config = LoaderConfig {
            workers,
            seed,
            ..base.clone()
        };
        Loader::start(corpus.clone(), &config, epoch)
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    };
    let one = run(1, 123, 0);
    assert_eq!(one.len(), 24 / 5);
    assert_eq!(one, run(3, 123, 0), "1 vs 3 workers");
    assert_ne!(one, run(1, 124, 0), "another seed");
    assert_ne!(one, run(1, 123, 1), "another epoch");
    for (b, batch) in one.iter().enumerate() {
        assert_eq!(batch.index, b);
        assert_eq!((batch.batch_size, batch.crop_samples), (5, 8000));
        assert_eq!(
            batch.labels,
            batch
                .utterances
                .iter()
                .map(|&u| corpus.utterances[u].speaker)
                .collect::<Vec<_>>()
        );
        assert!(batch.samples.iter().all(|v| v.is_finite()));
    }
    // Resuming mid-epoch yields the same batches as an uninterrupted run.
    let config = LoaderConfig {
        workers: 2,
        ..base.clone()
    };
    let resumed: Vec<_> = Loader::resume(corpus.clone(), &config, 0, 2)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(resumed, one[2..]);
    // Dropping a loader mid-epoch stops its threads (the drop joins them; this must not hang).
    let mut loader = Loader::start(corpus.clone(), &config, 0).unwrap();
    assert!(loader.next().is_some());
    drop(loader);
}

#[test]
fn flac_and_ogg_fixtures_decode_and_resample() {
    for name in ["sine_440_22k.flac", "sine_440_22k.ogg"] {
        let x = load_audio(&fixture(name)).unwrap();
        // 0.25 s at 22.05 kHz → 4000 samples at 16 kHz (Vorbis may pad a little).
        assert!((x.len() as i64 - 4000).abs() <= 40, "{name}: {} samples", x.len());
        assert_dominant_440(&x[200..3800]);
    }
    // A FLAC file cut short is reported as truncated, not decoded as a shorter signal.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("sine_440_22k.flac")).unwrap();
    let cut = dir.path().join("cut.flac");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = load_audio(&cut).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
}

#[test]
fn synthetic_corpus_is_learnable_but_not_trivial() {
    let dir = tempfile::tempdir().unwrap();
    let config = SynthConfig {
        test_speakers: 16,
        trials_per_utterance: 10,
        ..SynthConfig::new(18, 6, 2.0, 2024)
    };
    let summary = write_corpus(dir.path(), &config, None).unwrap();
    let corpus = Corpus::index(summary.test_root.as_ref().unwrap(), CorpusLayout::Auto, None).unwrap();
    let trials = TrialList::read(&summary.trials_path).unwrap();
    trials.check_against(&corpus).unwrap();

    // The model-free LTAS baseline with mean subtraction: some speaker information, far from all.
    let mut embedder = adaptsv::eval::LtasEmbedder::default();
    let mut embeddings = std::collections::HashMap::new();
    for u in &corpus.utterances {
        embeddings.insert(u.id.clone(), embedder.embed(&load_audio(&u.path).unwrap()).unwrap());
    }
    let e = adaptsv::eval::evaluate_trials(&trials, &embeddings, &[0.01], true)
        .unwrap()
        .metrics
        .eer
        .rate;
    eprintln!(
        "synthetic corpus: {} trials, EER of log LTAS + cosine = {:.1} %",
        trials.trials.len(),
        100.0 * e
    );
    assert!(e < 0.38, "EER {e}: speakers are not separable enough");
    assert!(e > 0.05, "EER {e}: the task is trivial");
}

#[test]
fn synth_cli_writes_a_corpus_the_loaders_read() {
    let dir = tempfile::tempdir().unwrap();
    let args = adaptsv::cli::synth::SynthArgs {
        out: dir.path().join("synth"),
        speakers: 4,
        utterances: 3,
        seconds: 0.5,
        seed: 1,
        test_speakers: 2,
        videos: 2,
    };
    adaptsv::cli::synth::run(&args).unwrap();
    let train = Corpus::index(&args.out.join("train"), CorpusLayout::Auto, None).unwrap();
    let test = Corpus::index(&args.out.join("test"), CorpusLayout::Auto, None).unwrap();
    assert_eq!((train.speakers.len(), test.speakers.len()), (2, 2));
    assert_eq!(train.utterances.len(), 6);
    TrialList::read(&args.out.join("trials.txt"))
        .unwrap()
        .check_against(&test)
        .unwrap();
    // Same seed, same bytes.
    let again = dir.path().join("again");
    adaptsv::cli::synth::run(&adaptsv::cli::synth::SynthArgs {
        out: again.clone(),
        ..args.clone()
    })
    .unwrap();
    let first = &train.utterances[0];
    let rel = first.path.strip_prefix(&args.out).unwrap();
    assert_eq!(
        std::fs::read(&first.path).unwrap(),
        std::fs::read(again.join(rel)).unwrap()
    );
}
