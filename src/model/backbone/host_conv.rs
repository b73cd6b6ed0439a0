//! The CNN feature encoder and the positional conv on the host, for the CPU backend when no gradient is taken:
//! embedding extraction, and the frozen backbone of frozen / adapter / LoRA runs.
//!
//! Burn Flex runs a 1-D conv as a 3-D one: an NCHW → NHWC transpose on one thread, im2col tiles of 512 output
//! frames with one GEMM per tile and group, and a transposing write-back. For WavLM Base+ on 3 s that was 139 ms
//! in the conv encoder against PyTorch's 77 ms, and 52 ms against 9.5 ms in the grouped positional conv (whose
//! 150 frames make one tile, so its 16 groups ran one after another). Here activations stay time-major
//! (`[frames, channels]` per utterance, the layout the encoder's output takes anyway), where a 1-D conv needs no
//! im2col: row `t` of the im2col matrix, `x[t·stride .. t·stride + kernel]` flattened, is already a contiguous
//! slice of the input. So each conv is one GEMM of a strided view of overlapping rows
//! (`[frames_out, kernel·c_in]`, row stride `stride·c_in`) by the weights reordered to `[kernel·c_in, c_out]`.
//! Padding and groups first copy the input into a padded, group-major buffer. The GEMMs are the `gemm` crate's
//! (the one Flex uses), run in parallel over utterances × groups, or threaded inside the GEMM when there are
//! fewer of those than threads; the group norm, layer norm and GELU then run in place on the same buffer.
//!
//! Under autodiff (an encoder being trained) and on any other backend the Burn modules run as before, and so
//! does everything when the environment variable `ADAPTSV_BURN_CONV` is set (to measure the difference). The
//! results equal Burn's up to float rounding (the tests below; the HF parity tests run this path too).

use std::any::Any;
use std::sync::OnceLock;

use burn::nn::conv::Conv1d;
use burn::nn::PaddingConfig1d;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::feature_encoder::FeatureEncoder;
use super::gelu::gelu_in_place;
use super::positional::PositionalConvEmbedding;
use crate::device::host::{cast, SendPtr};
use crate::device::CpuBackend as Cpu;

/// Epsilon of the encoder's layer norms: PyTorch's default, which HF uses there instead of `layer_norm_eps`, and
/// what `FeatureEncoderConfig::init` builds (Burn's `LayerNorm` keeps its epsilon private, so it is not read).
const NORM_EPS: f32 = 1e-5;

/// Whether the host path is switched off (`ADAPTSV_BURN_CONV` set).
fn disabled() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("ADAPTSV_BURN_CONV").is_some())
}

/// HF's `feature_extractor(wave)` on the host: `[batch, samples]` → `[batch, frames, conv_dim[-1]]`, or `None`
/// when the backend is not Flex, the wave is not f32 or a layer is not one this path knows (the caller then
/// runs the Burn modules).
pub(crate) fn feature_encoder<B: Backend>(encoder: &FeatureEncoder<B>, wave: &Tensor<B, 2>) -> Option<Tensor<B, 3>> {
    let (encoder, wave) = on_flex::<_, FeatureEncoder<Cpu>, B, 2>(encoder, wave)?;
    let specs = encoder
        .conv_layers
        .iter()
        .map(|layer| ConvSpec::of(&layer.conv))
        .collect::<Option<Vec<_>>>()?;
    let [batch, samples] = wave.dims();
    let wave = flex(wave.clone());
    let mut frames = samples;
    let mut channels = 1;
    let mut x: Option<Vec<f32>> = None; // None: still the wave itself ([batch, samples, 1] time-major)
    for (layer, spec) in encoder.conv_layers.iter().zip(&specs) {
        let input = x.as_deref().unwrap_or_else(|| wave.storage::<f32>());
        let (mut y, out_frames) = spec.forward(&layer.conv, input, batch, frames)?;
        if let Some(norm) = &layer.group_norm {
            // One group per channel (HF's first `group` layer): each channel normalised over time.
            let gamma = norm.gamma.as_ref().map(|p| flex(p.val()));
            let beta = norm.beta.as_ref().map(|p| flex(p.val()));
            norm_over_time(
                &mut y,
                batch,
                out_frames,
                spec.c_out,
                gamma.as_ref().map(|t| t.storage::<f32>()),
                beta.as_ref().map(|t| t.storage::<f32>()),
                norm.epsilon as f32,
            );
        }
        if let Some(norm) = &layer.layer_norm {
            let gamma = flex(norm.gamma.val());
            let beta = norm.beta.as_ref().map(|p| flex(p.val()));
            norm_over_channels(
                &mut y,
                spec.c_out,
                gamma.storage::<f32>(),
                beta.as_ref().map(|t| t.storage::<f32>()),
                NORM_EPS,
            );
        }
        gelu_in_place(&mut y);
        x = Some(y);
        frames = out_frames;
        channels = spec.c_out;
    }
    let out = Tensor::<Cpu, 3>::from_data(TensorData::new(x?, [batch, frames, channels]), &Default::default());
    Some(cast(out))
}

/// HF's `pos_conv_embed(x)` on the host (conv, `SamePadLayer`, GELU): `[batch, frames, hidden]` → same, or
/// `None` where [`feature_encoder`] would give `None`.
pub(crate) fn positional_conv<B: Backend>(pos: &PositionalConvEmbedding<B>, x: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
    let (pos, x) = on_flex::<_, PositionalConvEmbedding<Cpu>, B, 3>(pos, x)?;
    let [batch, frames, hidden] = x.dims();
    let spec = ConvSpec::of(&pos.conv)?;
    if spec.c_in != hidden || spec.c_out != hidden {
        return None;
    }
    let x = flex(x.clone());
    let (mut y, out_frames) = spec.forward(&pos.conv, x.storage::<f32>(), batch, frames)?;
    // SamePadLayer: keep the first `frames` of each utterance's `frames + num_pad_remove`.
    if out_frames != frames + pos.num_pad_remove {
        return None;
    }
    if out_frames != frames {
        let row = spec.c_out;
        let mut kept = Vec::with_capacity(batch * frames * row);
        for b in 0..batch {
            let start = b * out_frames * row;
            kept.extend_from_slice(&y[start..start + frames * row]);
        }
        y = kept;
    }
    gelu_in_place(&mut y);
    Some(cast(Tensor::<Cpu, 3>::from_data(
        TensorData::new(y, [batch, frames, hidden]),
        &Default::default(),
    )))
}

/// `module` and its input `x` as the Flex module `M` and an f32 Flex tensor, or `None` when the host path does not
/// apply (switched off, another backend, autodiff, another dtype).
fn on_flex<'a, N: 'static, M: 'static, B: Backend, const D: usize>(
    module: &'a N,
    x: &'a Tensor<B, D>,
) -> Option<(&'a M, &'a Tensor<Cpu, D>)> {
    if disabled() {
        return None;
    }
    let module = (module as &dyn Any).downcast_ref::<M>()?;
    let x = (x as &dyn Any).downcast_ref::<Tensor<Cpu, D>>()?;
    (x.dtype() == DType::F32).then_some((module, x))
}

/// A Flex tensor as its contiguous primitive (no copy when it already is).
fn flex<const D: usize>(t: Tensor<Cpu, D>) -> FlexTensor {
    t.into_primitive().tensor().to_contiguous()
}

/// The shape of one conv, checked to be one this path computes (dilation 1, explicit or no padding, f32).
#[derive(Debug, Clone, Copy)]
struct ConvSpec {
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    pad_left: usize,
    pad_right: usize,
    groups: usize,
}

impl ConvSpec {
    fn of(conv: &Conv1d<Cpu>) -> Option<Self> {
        let [c_out, c_in_group, kernel] = conv.weight.val().dims();
        let (pad_left, pad_right) = match conv.padding {
            PaddingConfig1d::Valid => (0, 0),
            PaddingConfig1d::Explicit(l, r) => (l, r),
            PaddingConfig1d::Same => return None,
        };
        let groups = conv.groups.max(1);
        let ok = conv.dilation == 1
            && conv.stride >= 1
            && kernel == conv.kernel_size
            && c_out.is_multiple_of(groups)
            && conv.weight.val().dtype() == DType::F32;
        ok.then_some(Self {
            c_in: c_in_group * groups,
            c_out,
            kernel,
            stride: conv.stride,
            pad_left,
            pad_right,
            groups,
        })
    }

    /// `x` time-major `[batch, frames, c_in]` → (`[batch, frames_out, c_out]`, `frames_out`); `None` when the
    /// input is shorter than the kernel.
    fn forward(&self, conv: &Conv1d<Cpu>, x: &[f32], batch: usize, frames: usize) -> Option<(Vec<f32>, usize)> {
        let Self {
            c_in,
            c_out,
            kernel,
            stride,
            pad_left,
            pad_right,
            groups,
        } = *self;
        let padded = frames + pad_left + pad_right;
        if padded < kernel || x.len() != batch * frames * c_in {
            return None;
        }
        let frames_out = (padded - kernel) / stride + 1;
        let (cin_g, cout_g) = (c_in / groups, c_out / groups);
        let depth = kernel * cin_g; // GEMM inner dimension

        // Weights [c_out, cin_g, kernel] → per group [kernel·cin_g, cout_g] (row kk·cin_g + c, column o).
        let w = flex(conv.weight.val());
        let wr = reorder_weights(w.storage::<f32>(), groups, cout_g, cin_g, kernel);

        // The GEMM's left operand: the input itself, or a padded group-major copy [batch, groups, padded, cin_g].
        let copied: Option<Vec<f32>> = (groups > 1 || pad_left + pad_right > 0).then(|| {
            let mut xp = vec![0f32; batch * groups * padded * cin_g];
            xp.par_chunks_mut(padded * cin_g).enumerate().for_each(|(bg, dst)| {
                let (b, g) = (bg / groups, bg % groups);
                for t in 0..frames {
                    let src = (b * frames + t) * c_in + g * cin_g;
                    let at = (pad_left + t) * cin_g;
                    dst[at..at + cin_g].copy_from_slice(&x[src..src + cin_g]);
                }
            });
            xp
        });
        let (lhs, per_task, row_stride) = match &copied {
            Some(xp) => (xp.as_slice(), padded * cin_g, stride * cin_g),
            None => (x, frames * c_in, stride * c_in),
        };

        let mut y = vec![0f32; batch * frames_out * c_out];
        let tasks = batch * groups;
        let inner = if tasks >= rayon::current_num_threads() || frames_out * cout_g * depth < 1 << 21 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(0)
        };
        let dst = SendPtr(y.as_mut_ptr());
        let run = |task: usize| {
            let (b, g) = (task / groups, task % groups);
            // SAFETY: the left view reads rows t·row_stride .. t·row_stride + depth of task `task`'s block,
            // within `lhs` because (frames_out − 1)·stride + kernel ≤ padded; the right operand is group g's
            // [depth, cout_g] block of `wr`; each task writes only its own [frames_out, cout_g] block of `y`
            // (utterance b, columns g·cout_g ..), so parallel tasks never write the same element.
            unsafe {
                gemm::gemm(
                    frames_out,
                    cout_g,
                    depth,
                    dst.at((b * frames_out) * c_out + g * cout_g),
                    1,
                    c_out as isize,
                    false,
                    lhs.as_ptr().add(task * per_task),
                    1,
                    row_stride as isize,
                    wr.as_ptr().add(g * depth * cout_g),
                    1,
                    cout_g as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    inner,
                );
            }
        };
        if tasks == 1 {
            run(0);
        } else {
            (0..tasks).into_par_iter().for_each(run);
        }
        if let Some(bias) = &conv.bias {
            let bias = flex(bias.val());
            let bias = bias.storage::<f32>();
            y.par_chunks_mut(c_out).for_each(|row| {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            });
        }
        Some((y, frames_out))
    }
}

/// `w` `[groups·cout_g, cin_g, kernel]` → `[groups, kernel, cin_g, cout_g]`: one `[cin_g, cout_g]` transpose per
/// (group, tap), in tiles so that reads and writes both stay in cache.
fn reorder_weights(w: &[f32], groups: usize, cout_g: usize, cin_g: usize, kernel: usize) -> Vec<f32> {
    const TILE: usize = 16;
    let mut wr = vec![0f32; groups * kernel * cin_g * cout_g];
    wr.par_chunks_mut(cin_g * cout_g).enumerate().for_each(|(gk, dst)| {
        let (g, kk) = (gk / kernel, gk % kernel);
        for o0 in (0..cout_g).step_by(TILE) {
            for c0 in (0..cin_g).step_by(TILE) {
                for o in o0..(o0 + TILE).min(cout_g) {
                    let src = &w[(g * cout_g + o) * cin_g * kernel..][..cin_g * kernel];
                    for c in c0..(c0 + TILE).min(cin_g) {
                        dst[c * cout_g + o] = src[c * kernel + kk];
                    }
                }
            }
        }
    });
    wr
}

/// Each channel of each utterance normalised over time (biased variance, as PyTorch's GroupNorm), then scaled
/// and shifted: `x` `[batch, frames, channels]`.
fn norm_over_time(
    x: &mut [f32],
    batch: usize,
    frames: usize,
    channels: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
) {
    const ROWS: usize = 256;
    for utt in x.chunks_mut(frames * channels).take(batch) {
        // Per-channel sums of (x − shift) and its square, shifted by the first frame against cancellation:
        // f32 within blocks of rows, f64 across blocks.
        let shift: Vec<f32> = utt[..channels].to_vec();
        // Block partial sums in block order, added up in sequence (the same result on every run).
        let blocks: Vec<(Vec<f32>, Vec<f32>)> = utt
            .par_chunks(ROWS * channels)
            .map(|block| {
                let (mut s, mut q) = (vec![0f32; channels], vec![0f32; channels]);
                for row in block.chunks_exact(channels) {
                    for (((s, q), v), k) in s.iter_mut().zip(q.iter_mut()).zip(row).zip(&shift) {
                        let d = v - k;
                        *s += d;
                        *q += d * d;
                    }
                }
                (s, q)
            })
            .collect();
        let (mut sum, mut sq) = (vec![0f64; channels], vec![0f64; channels]);
        for (s, q) in &blocks {
            for c in 0..channels {
                sum[c] += s[c] as f64;
                sq[c] += q[c] as f64;
            }
        }
        let n = frames as f64;
        // y = (x − mean)·scale + β per channel, PyTorch's form (no cancellation when the mean is large).
        let mut mean = vec![0f32; channels];
        let mut scale = vec![0f32; channels];
        for c in 0..channels {
            let d = sum[c] / n;
            mean[c] = (shift[c] as f64 + d) as f32;
            let var = (sq[c] / n - d * d).max(0.0);
            scale[c] = (gamma.map_or(1.0, |g| g[c] as f64) / (var + eps as f64).sqrt()) as f32;
        }
        let zeros = vec![0f32; channels];
        let beta = beta.unwrap_or(&zeros);
        utt.par_chunks_mut(ROWS * channels).for_each(|block| {
            for row in block.chunks_mut(channels) {
                for (((v, m), s), b) in row.iter_mut().zip(&mean).zip(&scale).zip(beta) {
                    *v = (*v - m) * s + b;
                }
            }
        });
    }
}

/// Each row (one frame) normalised over its channels, then scaled and shifted: HF's `LayerNormConvLayer` norm.
fn norm_over_channels(x: &mut [f32], channels: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32) {
    x.par_chunks_mut(channels).for_each(|row| {
        let n = channels as f32;
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for (c, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) * inv * gamma[c] + beta.map_or(0.0, |b| b[c]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::backbone::feature_encoder::FeatureEncoderConfig;
    use crate::model::backbone::positional::PositionalConvEmbeddingConfig;
    use crate::model::backbone::FeatExtractNorm;
    use burn::tensor::Distribution;

    fn max_rel_diff(a: Tensor<Cpu, 3>, b: Tensor<Cpu, 3>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let scale = b.clone().abs().max().into_scalar().max(1e-6);
        (a - b).abs().max().into_scalar() / scale
    }

    /// Burn's modules, with the host path out of the way (the module's own forward would take it).
    fn burn_encoder(enc: &FeatureEncoder<Cpu>, wave: Tensor<Cpu, 2>) -> Tensor<Cpu, 3> {
        let mut x = wave.unsqueeze_dim::<3>(1);
        for layer in &enc.conv_layers {
            x = layer.forward(x);
        }
        x.swap_dims(1, 2)
    }

    #[test]
    fn the_host_encoder_computes_what_burns_modules_do() {
        let device = Default::default();
        for (norm, bias) in [(FeatExtractNorm::Group, false), (FeatExtractNorm::Layer, true)] {
            let enc = FeatureEncoderConfig {
                conv_dim: vec![24, 24, 16],
                conv_kernel: vec![10, 3, 2],
                conv_stride: vec![5, 2, 2],
                conv_bias: bias,
                feat_extract_norm: norm,
            }
            .init::<Cpu>(&device);
            let wave = Tensor::<Cpu, 2>::random([3, 1601], Distribution::Normal(0.0, 1.0), &device);
            let host = feature_encoder(&enc, &wave).expect("Flex f32 takes the host path");
            let diff = max_rel_diff(host, burn_encoder(&enc, wave));
            assert!(diff < 1e-5, "{norm:?}: max relative difference {diff}");
        }
    }

    #[test]
    fn the_host_positional_conv_computes_what_burns_module_does() {
        let device = Default::default();
        for kernel in [8, 7] {
            let pos = PositionalConvEmbeddingConfig {
                hidden_size: 32,
                num_conv_pos_embeddings: kernel,
                num_conv_pos_embedding_groups: 4,
            }
            .init::<Cpu>(&device);
            let x = Tensor::<Cpu, 3>::random([2, 19, 32], Distribution::Normal(0.0, 1.0), &device);
            let host = positional_conv(&pos, &x).expect("Flex f32 takes the host path");
            let y = pos.conv.forward(x.swap_dims(1, 2));
            let t = y.dims()[2];
            let burn = super::super::gelu::gelu(y.narrow(2, 0, t - pos.num_pad_remove)).swap_dims(1, 2);
            let diff = max_rel_diff(host, burn);
            assert!(diff < 1e-5, "kernel {kernel}: max relative difference {diff}");
        }
    }

    #[test]
    fn a_wave_shorter_than_the_first_kernel_falls_back() {
        let device = Default::default();
        let enc = FeatureEncoderConfig {
            conv_dim: vec![8],
            conv_kernel: vec![10],
            conv_stride: vec![5],
            conv_bias: false,
            feat_extract_norm: FeatExtractNorm::Group,
        }
        .init::<Cpu>(&device);
        let wave = Tensor::<Cpu, 2>::zeros([1, 9], &device);
        assert!(feature_encoder(&enc, &wave).is_none());
    }
}
