//! `adaptsv bench`: time per training step and peak memory for full fine-tuning, frozen + weighted sum,
//! inner+inter adapters and LoRA on a real-size backbone, plus forward-only extraction (see [`crate::bench`]).
//!
//! Every row runs in a fresh child process (`adaptsv bench --in-process --row R --json`) so that each peak
//! memory figure is that row's own; the parent prints one table (or `--json`: one object with the machine,
//! threads, build and rows). `benches/pytorch/compare.py` runs this and the PyTorch reference
//! alternately and prints their ratio.

use crate::bench::{build_profile, cpu_libraries, machine, run_row, BenchSettings, Row, RowResult};
use crate::device::cpu_threads;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::process::Command;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Rows to run, in order (repeat the flag; default: all five).
    #[arg(long = "row", value_enum, value_name = "ROW")]
    pub rows: Vec<Row>,
    /// `cpu`, `wgpu:N` or `cuda:N` (`adaptsv devices` lists them).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Backbone architecture (a preset name; random initialisation).
    #[arg(long, default_value = "wavlm-base-plus")]
    pub preset: String,
    /// Utterances per training step (default: 4 on the CPU, 32 on a GPU).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Crop length in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Untimed steps before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps (the table shows their median and range).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Classes of the AAM-softmax.
    #[arg(long, default_value_t = 1211)]
    pub speakers: usize,
    /// CPU threads (sets RAYON_NUM_THREADS for the rows; default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Peers of the `data-parallel` row (`--row data-parallel --peers 2`: two peers sharing the threads;
    /// `--peers 1`: its one-device baseline through the same engine path).
    #[arg(long, default_value_t = 1)]
    pub peers: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Run the rows in this process (peak memory then accumulates over rows).
    #[arg(long)]
    pub in_process: bool,
}

/// Everything a run of the benchmark says, as `--json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub program: String,
    pub machine: String,
    /// Where the CPU kernels come from ([`crate::bench::cpu_libraries`]).
    #[serde(default)]
    pub libraries: String,
    pub threads: usize,
    pub build: String,
    pub device: String,
    pub date_utc: String,
    pub settings: BenchSettings,
    pub rows: Vec<RowResult>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let on_gpu = args.device.trim() != "cpu";
    let settings = BenchSettings {
        preset: args.preset.clone(),
        batch: args.batch.unwrap_or(if on_gpu { 32 } else { 4 }),
        seconds: args.seconds,
        warmup: args.warmup,
        steps: args.steps,
        speakers: args.speakers,
        device: args.device.clone(),
        peers: args.peers,
    };
    let rows = if args.rows.is_empty() {
        Row::ALL.to_vec()
    } else {
        args.rows.clone()
    };
    let threads = args.threads.unwrap_or_else(cpu_threads);
    let device = {
        let choice = crate::device::DeviceChoice::parse(&args.device).map_err(|e| anyhow::anyhow!("--device: {e}"))?;
        crate::device::probe(choice)?
    };
    // Every row's config is checked here, so a bad preset fails before anything runs.
    for &row in &rows {
        crate::bench::row_config(row, &settings).map_err(anyhow::Error::msg)?;
    }
    let mut results = Vec::new();
    for row in rows {
        if !args.json {
            eprintln!("{} …", row.label());
        }
        let result = if args.in_process {
            run_row(row, &settings).map_err(anyhow::Error::msg)?
        } else {
            child_row(row, &settings, threads)?
        };
        results.push(result);
    }
    let report = BenchReport {
        program: format!("adaptsv {}", env!("CARGO_PKG_VERSION")),
        machine: machine(),
        libraries: cpu_libraries(),
        threads,
        build: build_profile().to_string(),
        device,
        date_utc: crate::runs::Utc::now().rfc3339(),
        settings,
        rows: results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// Runs one row in a fresh `adaptsv bench --in-process` and reads its JSON.
fn child_row(row: Row, settings: &BenchSettings, threads: usize) -> anyhow::Result<RowResult> {
    let exe = std::env::current_exe().context("cannot find this program to run a benchmark row")?;
    let output = Command::new(exe)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(["bench", "--in-process", "--json", "--row", row.name()])
        .args(["--device", &settings.device, "--preset", &settings.preset])
        .args([
            "--batch",
            &settings.batch.to_string(),
            "--seconds",
            &settings.seconds.to_string(),
        ])
        .args([
            "--warmup",
            &settings.warmup.to_string(),
            "--steps",
            &settings.steps.to_string(),
        ])
        .args([
            "--speakers",
            &settings.speakers.to_string(),
            "--threads",
            &threads.to_string(),
            "--peers",
            &settings.peers.to_string(),
        ])
        .output()
        .with_context(|| format!("cannot start the benchmark row {}", row.name()))?;
    if !output.status.success() {
        bail!(
            "benchmark row {} failed ({}): {}",
            row.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: BenchReport = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("benchmark row {}: unreadable output", row.name()))?;
    report
        .rows
        .into_iter()
        .next()
        .with_context(|| format!("benchmark row {} reported nothing", row.name()))
}

/// The Markdown table of a report, with its header lines.
pub fn table(report: &BenchReport) -> String {
    let s = &report.settings;
    let mut out = format!(
        "{}, {} backbone {} (random init), {} s crops, batch {} (extraction: 1), {} speakers\n\
         machine: {}; device: {}; threads: {}; build: {}; {}\n\
         median of {} timed steps after {} warm-up; peak memory = peak resident set of a fresh process per row \
         (on a GPU also the most device memory its allocator held after a step)\n\n",
        report.program,
        s.device,
        s.preset,
        s.seconds,
        s.batch,
        s.speakers,
        report.machine,
        report.device,
        report.threads,
        report.build,
        report.date_utc,
        s.steps,
        s.warmup
    );
    out.push_str(
        "| row | median ms | min–max ms | utt/s | peak MiB | device MiB | trainable params |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &report.rows {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0}–{:.0} | {:.2} | {} | {} | {} |\n",
            r.label,
            r.median_ms,
            r.min_ms,
            r.max_ms,
            r.utterances_per_sec,
            r.peak_rss_mib.map_or("–".into(), |m| format!("{m:.0}")),
            r.peak_device_mib.map_or("–".into(), |m| format!("{m:.0}")),
            if r.row == Row::Extract {
                "–".to_string()
            } else {
                r.trainable_params.to_string()
            }
        ));
    }
    let phased: Vec<_> = report.rows.iter().filter_map(|r| Some((&r.label, r.phases_ms?))).collect();
    if !phased.is_empty() {
        out.push_str(
            "\nWhere a step's time goes (medians, ms):\n\n\
             | row | forward | backward | gradient norm | update |\n|---|---:|---:|---:|---:|\n",
        );
        for (label, p) in phased {
            out.push_str(&format!(
                "| {label} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                p.forward, p.backward, p.grad_norm, p.update
            ));
        }
    }
    out
}
