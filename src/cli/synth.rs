//! `adaptsv synth`: writes a synthetic speaker corpus (VoxCeleb layout) and a trial list, to try
//! the app end to end without downloading VoxCeleb.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::data::synthetic::{write_corpus, SynthConfig};

/// Write a synthetic speaker-verification corpus: `OUT/train/idXXXXX/<video>/NNNNN.wav`
/// (16-bit 16 kHz WAV), `OUT/test/…` for held-out speakers, and `OUT/trials.txt` (VoxCeleb format).
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of speakers in all (training + test).
    #[arg(long)]
    pub speakers: usize,
    /// Utterances per speaker.
    #[arg(long)]
    pub utterances: usize,
    /// Mean utterance length in seconds (each is 0.5–1.5× this).
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f32,
    /// Random seed: the same seed writes identical files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Hold out the last K speakers as test speakers in OUT/test (0: trials use training speakers).
    #[arg(long, default_value_t = 0)]
    pub test_speakers: usize,
    /// Recording sessions ("videos") per speaker; each has its own channel colouring.
    #[arg(long, default_value_t = 3)]
    pub videos: usize,
}

/// Runs `adaptsv synth`.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let config = SynthConfig {
        test_speakers: args.test_speakers,
        videos_per_speaker: args.videos,
        ..SynthConfig::new(args.speakers, args.utterances, args.seconds, args.seed)
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let start = std::time::Instant::now();
    let mut last_shown = 0;
    let mut show = |done: usize, total: usize| {
        if done == total || done >= last_shown + total.div_ceil(100) {
            last_shown = done;
            eprint!("\rwriting utterances: {done}/{total}");
            let _ = std::io::stderr().flush();
        }
    };
    let summary = write_corpus(&args.out, &config, Some(&mut show))
        .with_context(|| format!("writing the synthetic corpus to {}", args.out.display()))?;
    eprintln!();
    println!(
        "wrote {} files ({:.1} min of audio) in {:.1} s",
        summary.files,
        summary.seconds / 60.0,
        start.elapsed().as_secs_f64()
    );
    println!(
        "training speakers: {} in {}",
        args.speakers - args.test_speakers,
        summary.train_root.display()
    );
    if let Some(test) = &summary.test_root {
        println!("test speakers:     {} in {}", args.test_speakers, test.display());
    }
    println!(
        "trial list:        {} ({} target, {} non-target; ids relative to {})",
        summary.trials_path.display(),
        summary.target_trials,
        summary.nontarget_trials,
        summary.test_root.as_ref().unwrap_or(&summary.train_root).display()
    );
    Ok(())
}
