//! `adaptsv features`: runs a HuggingFace WavLM / HuBERT / wav2vec 2.0 checkpoint on one WAV file and writes
//! every hidden state to a safetensors file, for inspection and for checking parity against `transformers`
//! (`hidden_states.{i}`, f32 `[1, frames, hidden]`, i = 0..=num_layers, as HF `output_hidden_states=True`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

use crate::data::audio::load_audio;
use crate::device::{probe, DeviceChoice};
use crate::model::backbone::load_backbone;

/// Extract all hidden states of an SSL backbone for one utterance.
#[derive(clap::Args, Debug, Clone)]
pub struct FeaturesArgs {
    /// HuggingFace model folder: config.json and model.safetensors or pytorch_model.bin
    /// (e.g. a download of microsoft/wavlm-base-plus).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Input audio, 16 kHz mono WAV. Samples are used as read (no normalisation).
    #[arg(long, value_name = "FILE.wav")]
    pub wav: PathBuf,
    /// Output safetensors file with hidden_states.0 … hidden_states.N, each f32 [1, frames, hidden].
    #[arg(long, value_name = "OUT.safetensors")]
    pub out: PathBuf,
    /// Where to run: `cpu`, `wgpu:N` (adapter N; `adaptsv devices` lists them) or `cuda:N` (`cuda` builds).
    #[arg(long, default_value = "cpu", value_name = "cpu|wgpu:N|cuda:N")]
    pub device: String,
}

/// Runs the subcommand on the device asked for, after checking that it works here.
pub fn run(args: &FeaturesArgs) -> anyhow::Result<()> {
    let choice = DeviceChoice::parse(&args.device).map_err(|e| anyhow::anyhow!("--device {}: {e}", args.device))?;
    probe(choice)?;
    crate::device::run_on(choice, Extract(args))?
}

/// [`extract`] on the backend of `--device`.
struct Extract<'a>(&'a FeaturesArgs);

impl crate::device::OnBackend for Extract<'_> {
    type Output = anyhow::Result<()>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        extract::<B>(self.0, &device)
    }
}

fn extract<B: Backend>(args: &FeaturesArgs, device: &B::Device) -> anyhow::Result<()> {
    let model = load_backbone::<B>(&args.model, device)
        .with_context(|| format!("loading the model in {}", args.model.display()))?;
    let samples = load_audio(&args.wav)?;
    model
        .check_input_len(samples.len())
        .with_context(|| format!("{}", args.wav.display()))?;
    let n = samples.len();
    let wave = Tensor::<B, 2>::from_data(TensorData::new(samples, [1, n]), device);
    let states = model.forward(wave);
    write_hidden_states(&args.out, states)
}

/// Writes `hidden_states.{i}` as f32 safetensors.
fn write_hidden_states<B: Backend>(path: &Path, states: Vec<Tensor<B, 3>>) -> anyhow::Result<()> {
    let mut named = Vec::with_capacity(states.len());
    for (i, state) in states.into_iter().enumerate() {
        let shape = state.dims().to_vec();
        let values = state
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading hidden state {i} back from the device: {e:?}"))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        named.push((format!("hidden_states.{i}"), shape, bytes));
    }
    let views = named
        .iter()
        .map(|(name, shape, bytes)| Ok((name.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize_to_file(views, None, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(all(test, not(feature = "cuda")))]
mod tests {
    use super::*;

    #[test]
    fn cuda_without_the_feature_says_how_to_rebuild() {
        let args = FeaturesArgs {
            model: "m".into(),
            wav: "w.wav".into(),
            out: "o.safetensors".into(),
            device: "cuda:0".into(),
        };
        let err = run(&args).unwrap_err().to_string();
        assert!(
            err.contains("no CUDA support") && err.contains("--features cuda"),
            "{err}"
        );
    }
}
