//! `adaptsv eval`: score a trial list and measure it, headless.
//!
//! Two sources of embeddings: a trained run (`--run DIR`, its latest checkpoint; the score file and the metrics
//! go into the run folder) or a model-free baseline (`--embedder ltas --corpus ROOT`, results in `--out`).
//! Embeddings are cached, so scoring a second trial list over the same utterances does not re-extract.

use super::metrics::{parse_p_target, to_json, to_table, unique_p_targets};
use crate::data::trials::TrialList;
use crate::eval::{embed_utterances, evaluate_trials, write_scores, EmbedOptions, Embedder, LtasEmbedder};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// A run folder to evaluate (its latest checkpoint).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["embedder", "out"])]
    pub run: Option<PathBuf>,
    /// Trial list: VoxCeleb (`1 a.wav b.wav`) or Kaldi (`a b target`). Default with --run: the run's own.
    #[arg(long, value_name = "FILE")]
    pub trials: Option<PathBuf>,
    /// With --run and --trials: the name this list's figures go under in the run's summary, Compare and `adaptsv
    /// runs` (e.g. `vox1-E`; default: the --trials path as given). The run's own list keeps its own columns.
    #[arg(long, value_name = "NAME", requires = "trials")]
    pub label: Option<String>,
    /// A model-free embedder instead of a run: `ltas` (log long-term average spectrum).
    #[arg(long, value_enum)]
    pub embedder: Option<BaselineEmbedder>,
    /// Folder the trial list's utterance ids are relative to (with --embedder; with --run, another corpus than the
    /// run's own, together with --trials).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Where the score file, metrics and embedding cache go (with --embedder; default: `eval-<embedder>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Average embeddings of chunks of this many seconds instead of embedding whole utterances.
    #[arg(long, value_name = "S")]
    pub chunk_seconds: Option<f64>,
    /// Do not subtract the mean embedding before cosine scoring.
    #[arg(long)]
    pub no_mean: bool,
    /// Target prior for minDCF; repeat for several (default 0.01 and 0.05).
    #[arg(long = "p-target", value_name = "P", value_parser = parse_p_target)]
    pub p_target: Vec<f64>,
    /// Print exactly one JSON object (the `adaptsv metrics --json` keys).
    #[arg(long)]
    pub json: bool,
    /// Where the run's model embeds (with --run): `cpu`, `wgpu:N` or `cuda:N` (`adaptsv devices` lists them).
    #[arg(long, default_value = "cpu", value_name = "cpu|wgpu:N|cuda:N", value_parser = super::device_arg)]
    pub device: crate::device::DeviceChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineEmbedder {
    Ltas,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    if let Some(run_dir) = &args.run {
        let other = crate::engine::evaluate::EvalData {
            trials: args.trials.clone(),
            label: args.label.clone(),
            corpus: args.corpus.clone(),
        };
        if other.label.as_deref().is_some_and(|l| l.trim().is_empty() || l.contains(['\n', '\r'])) {
            bail!("--label {:?}: give a non-empty one-line name", other.label.as_deref().unwrap_or_default());
        }
        if other.corpus.is_some() && other.trials.is_none() {
            bail!("--corpus with --run needs --trials FILE: the trial list whose ids are relative to that folder");
        }
        return eval_run(run_dir, &other, args.device, args.json);
    }
    let Some(embedder) = args.embedder else {
        bail!("give --run DIR (a trained run) or --embedder ltas --corpus DIR --trials FILE (a baseline)");
    };
    let (Some(corpus), Some(trials_path)) = (&args.corpus, &args.trials) else {
        bail!("--embedder needs --corpus DIR (the folder the trial ids are relative to) and --trials FILE");
    };
    if let Some(s) = args.chunk_seconds {
        if !(s.is_finite() && s > 0.0) {
            bail!("--chunk-seconds {s}: must be a number of seconds > 0");
        }
    }
    let mut embedder: Box<dyn Embedder> = match embedder {
        BaselineEmbedder::Ltas => Box::new(LtasEmbedder::default()),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("eval-{}", embedder.cache_key())));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create output folder {}", out.display()))?;

    let trials = TrialList::read(trials_path)?;
    let utterances = trials.audio_under(corpus)?;
    let options = EmbedOptions {
        chunk_seconds: args.chunk_seconds,
    };
    let cache = out.join(format!(
        "embeddings-{}-{}.safetensors",
        embedder.cache_key(),
        options.key()
    ));
    let mut show = progress_printer();
    let embeddings = embed_utterances(
        embedder.as_mut(),
        &utterances,
        options,
        Some(&cache),
        &mut |done, total, eta| show("embedding utterances", done, total, eta),
    )?;

    let p_targets = unique_p_targets(&args.p_target);
    let result = evaluate_trials(&trials, &embeddings, &p_targets, !args.no_mean)?;
    let stem = trials_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trials".into());
    let scores_path = out.join(format!("scores-{stem}.txt"));
    write_scores(&scores_path, &result.scored)?;
    let json = to_json(&result.metrics);
    let metrics_path = out.join(format!("metrics-{stem}.json"));
    crate::runs::write_atomic(&metrics_path, serde_json::to_string_pretty(&json)?.as_bytes())
        .with_context(|| format!("cannot write {}", metrics_path.display()))?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{json}")?;
    } else {
        writeln!(stdout, "{}", to_table(&scores_path, &result.metrics))?;
        writeln!(stdout, "{:<18}{}", "Metrics", metrics_path.display())?;
    }
    Ok(())
}

/// Progress on stderr, at most once a second (and at the end of each stage): `stage: done/total, N s left`.
pub(super) fn progress_printer() -> impl FnMut(&str, usize, usize, Option<f64>) {
    let mut last_shown = std::time::Instant::now();
    move |stage, done, total, eta| {
        if last_shown.elapsed().as_secs_f64() > 1.0 || done == total {
            last_shown = std::time::Instant::now();
            let eta = eta.map(|s| format!(", {s:.0} s left")).unwrap_or_default();
            eprint!("\r{stage}: {done}/{total}{eta}   ");
            if done == total {
                eprintln!();
            }
        }
    }
}

/// Evaluates the latest checkpoint of a run folder and records the result in it.
fn eval_run(
    dir: &Path,
    other: &crate::engine::evaluate::EvalData,
    device: crate::device::DeviceChoice,
    json: bool,
) -> anyhow::Result<()> {
    let mut show = progress_printer();
    let outcome = crate::engine::evaluate::evaluate_run(dir, other, device, &mut show)?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut value = to_json(&outcome.result.metrics);
        if let Some(object) = value.as_object_mut() {
            object.insert("list".into(), serde_json::json!(outcome.label));
        }
        writeln!(stdout, "{value}")?;
    } else {
        writeln!(stdout, "{}", to_table(&outcome.scores_file, &outcome.result.metrics))?;
        writeln!(
            stdout,
            "{:<18}step {} of run {}",
            "Checkpoint",
            outcome.step,
            dir.display()
        )?;
        let list = match &outcome.label {
            Some(label) => format!("{label:?} (shown under this label, apart from the run's own list)"),
            None => "the run's own".into(),
        };
        writeln!(stdout, "{:<18}{list}", "Trial list")?;
    }
    Ok(())
}
