//! Integration tests of the model blocks: training behaviour on an autodiff backend (what moves and what stays
//! frozen after an optimiser step), every head's shape, gradient and parameter count, and the margin losses
//! against the formulas evaluated by hand.

mod head_parity;

use adaptsv::config::{HeadKind, LossKind};
use adaptsv::model::heads::{EcapaHeadConfig, MhfaHeadConfig, XvectorHeadConfig};
use adaptsv::model::{
    count_params, count_params_by_group, BottleneckAdapterConfig, InterLayerAdapters, InterLayerAdaptersConfig,
    LayerAggregation, LayerAggregationConfig, MarginSoftmax, MarginSoftmaxConfig, SpeakerHead, SpeakerHeadConfig,
};
use burn::backend::{Autodiff, Flex};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

type Ad = Autodiff<Flex>;

const H: usize = 8; // backbone width
const STATES: usize = 4; // L + 1
const FEATURES: usize = 5;

fn bits<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
    t.into_data().iter::<f32>().map(f32::to_bits).collect()
}

/// A frozen stand-in backbone (one Linear per hidden state) followed by the real trainable blocks.
#[derive(Module, Debug)]
struct Toy<B: Backend> {
    backbone: Vec<Linear<B>>,
    inter: InterLayerAdapters<B>,
    aggregation: LayerAggregation<B>,
    head: SpeakerHead<B>,
    loss: MarginSoftmax<B>,
}

impl<B: Backend> Toy<B> {
    fn new(kind: HeadKind, device: &B::Device) -> Self {
        Toy {
            backbone: (0..STATES)
                .map(|_| LinearConfig::new(FEATURES, H).init(device).no_grad())
                .collect(),
            inter: InterLayerAdaptersConfig::new(STATES, BottleneckAdapterConfig::new(H, 3))
                .init(device)
                .unwrap(),
            aggregation: LayerAggregationConfig::new(STATES).init(device).unwrap(),
            head: SpeakerHeadConfig::new(H, STATES)
                .with_kind(kind)
                .with_channels(8)
                .with_embedding_dim(6)
                .with_mhfa_heads(2)
                .with_mhfa_compression(4)
                .init(device)
                .unwrap(),
            loss: MarginSoftmaxConfig::new(6, 3).init(device).unwrap(),
        }
    }

    /// `features` `[B, T, FEATURES]` → loss `[1]`.
    fn loss(&self, features: Tensor<B, 3>, labels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        let states = self.backbone.iter().map(|l| l.forward(features.clone())).collect();
        let states = self.inter.forward(states);
        let embeddings = self.head.forward(&states, &self.aggregation);
        self.loss.forward(embeddings, labels).loss
    }
}

#[test]
fn one_adam_step_moves_aggregation_and_adapters_but_not_frozen_parameters() {
    let device = Default::default();
    Ad::seed(&device, 3);
    let mut model = Toy::<Ad>::new(HeadKind::Xvector, &device);
    // Freeze one adapter's up-projection explicitly, as the lead's method setup will do with Param::set_require_grad.
    model.inter.adapters[0].up.weight = model.inter.adapters[0].up.weight.clone().set_require_grad(false);

    let before_logits = bits(model.aggregation.logits.as_ref().unwrap().val());
    let before_up1 = bits(model.inter.adapters[1].up.weight.val());
    let before_up0 = bits(model.inter.adapters[0].up.weight.val());
    let before_backbone = bits(model.backbone[2].weight.val());
    let before_down1 = bits(model.inter.adapters[1].down.weight.val());
    let counts = count_params(&model);
    let backbone = count_params_by_group(&model, 1)
        .into_iter()
        .find(|(k, _)| k == "backbone")
        .unwrap()
        .1;
    assert_eq!(backbone.trainable, 0);
    assert_eq!(counts.total - counts.trainable, backbone.total + 3 * H); // + the frozen up-projection

    let features = Tensor::<Ad, 3>::random([4, 16, FEATURES], Distribution::Normal(0.0, 1.0), &device);
    let labels = Tensor::<Ad, 1, Int>::from_data(TensorData::from([0i32, 1, 2, 1]), &device);
    let loss = model.loss(features, labels);
    assert!(loss.clone().into_scalar().is_finite());
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = AdamConfig::new().init();
    let model = optim.step(1e-2, model, grads);

    assert_ne!(
        bits(model.aggregation.logits.as_ref().unwrap().val()),
        before_logits,
        "aggregation logits"
    );
    assert_ne!(
        bits(model.inter.adapters[1].up.weight.val()),
        before_up1,
        "adapter up-projection"
    );
    assert_eq!(
        bits(model.inter.adapters[0].up.weight.val()),
        before_up0,
        "frozen adapter parameter"
    );
    assert_eq!(bits(model.backbone[2].weight.val()), before_backbone, "frozen backbone");
    // With the up-projection at zero, no gradient reaches the down-projection in the first step: Adam leaves it.
    assert_eq!(
        bits(model.inter.adapters[1].down.weight.val()),
        before_down1,
        "down-projection, first step"
    );
    let weights = model.aggregation.weights();
    assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!(weights.iter().any(|w| (w - 0.25).abs() > 1e-6), "{weights:?}");
}

#[test]
fn every_head_has_the_right_shape_and_a_gradient_at_its_first_layer() {
    let device = Default::default();
    Ad::seed(&device, 5);
    let aggregation = LayerAggregationConfig::new(STATES).init::<Ad>(&device).unwrap();
    for kind in [HeadKind::Xvector, HeadKind::Ecapa, HeadKind::Mhfa] {
        let head = SpeakerHeadConfig::new(H, STATES)
            .with_kind(kind)
            .with_channels(16)
            .with_embedding_dim(7)
            .with_mhfa_heads(3)
            .with_mhfa_compression(4)
            .init::<Ad>(&device)
            .unwrap();
        assert_eq!(head.kind(), kind);
        assert_eq!(head.reads_layer_stack(), kind == HeadKind::Mhfa);
        let states: Vec<_> = (0..STATES)
            .map(|_| Tensor::<Ad, 3>::random([3, 20, H], Distribution::Default, &device))
            .collect();
        let out = head.forward(&states, &aggregation);
        assert_eq!(out.dims(), [3, 7], "{kind:?}");
        let grads = out.square().sum().backward();
        let grad_norm: f32 = match &head {
            SpeakerHead::Xvector(h) => h.frame_layers[0]
                .conv
                .weight
                .val()
                .grad(&grads)
                .unwrap()
                .abs()
                .sum()
                .into_scalar(),
            SpeakerHead::Ecapa(h) => h
                .layer1
                .conv
                .weight
                .val()
                .grad(&grads)
                .unwrap()
                .abs()
                .sum()
                .into_scalar(),
            SpeakerHead::Mhfa(h) => h
                .compress_k
                .weight
                .val()
                .grad(&grads)
                .unwrap()
                .abs()
                .sum()
                .into_scalar(),
        };
        assert!(
            grad_norm.is_finite() && grad_norm > 0.0,
            "{kind:?}: |grad| = {grad_norm}"
        );
        if let SpeakerHead::Mhfa(h) = &head {
            let g: f32 = h.weights_k.val().grad(&grads).unwrap().abs().sum().into_scalar();
            assert!(g > 0.0, "MHFA key layer weights get a gradient");
        }
    }
}

#[test]
fn short_inputs_still_give_embeddings() {
    let device = Default::default();
    let aggregation = LayerAggregationConfig::new(STATES).init::<Flex>(&device).unwrap();
    for kind in [HeadKind::Xvector, HeadKind::Ecapa, HeadKind::Mhfa] {
        let head = SpeakerHeadConfig::new(H, STATES)
            .with_kind(kind)
            .with_channels(8)
            .with_embedding_dim(4);
        let head = head
            .with_mhfa_heads(2)
            .with_mhfa_compression(4)
            .init::<Flex>(&device)
            .unwrap();
        let states: Vec<_> = (0..STATES)
            .map(|_| Tensor::<Flex, 3>::random([1, 3, H], Distribution::Default, &device))
            .collect();
        let out = head.forward(&states, &aggregation);
        assert_eq!(out.dims(), [1, 4], "{kind:?}");
        assert!(out.into_data().iter::<f32>().all(f32::is_finite), "{kind:?}");
    }
}

#[test]
fn head_parameter_counts_match_the_layer_shapes() {
    let device = Default::default();
    let conv = |cin: usize, cout: usize, k: usize| cin * cout * k + cout;
    let linear = |i: usize, o: usize| i * o + o;
    let bn = |c: usize| 2 * c;
    let (h, c, e, a) = (6usize, 16usize, 5usize, 128usize);

    // x-vector: five TDNN layers, attentive statistics pooling over `s` channels, Linear(2s → E).
    let s = 24;
    let xvector = XvectorHeadConfig::new(h)
        .with_channels(c)
        .with_stats_channels(s)
        .with_embedding_dim(e);
    let expected = conv(h, c, 5)
        + conv(c, c, 3)
        + conv(c, c, 3)
        + conv(c, c, 1)
        + conv(c, s, 1)
        + 4 * bn(c)
        + bn(s)
        + conv(s, a, 1)
        + conv(a, s, 1)
        + linear(2 * s, e);
    assert_eq!(count_params(&xvector.init::<Flex>(&device).unwrap()).total, expected);

    // ECAPA-TDNN: layer1, three SE-Res2Blocks, MFA conv, ASP with global context, BN, Linear.
    let w = c / 8;
    let block =
        conv(c, c, 1) + bn(c) + 7 * (conv(w, w, 3) + bn(w)) + conv(c, c, 1) + bn(c) + linear(c, 128) + linear(128, c);
    let expected = conv(h, c, 5)
        + bn(c)
        + 3 * block
        + conv(3 * c, 3 * c, 1)
        + conv(9 * c, a, 1)
        + conv(a, 3 * c, 1)
        + bn(6 * c)
        + linear(6 * c, e);
    let ecapa = EcapaHeadConfig::new(h)
        .with_channels(c)
        .with_embedding_dim(e)
        .init::<Flex>(&device)
        .unwrap();
    assert_eq!(count_params(&ecapa).total, expected);

    // MHFA: two layer weightings, two compressions, the attention Linear, the output Linear.
    let (n, heads, cmp) = (5usize, 3usize, 4usize);
    let mhfa = MhfaHeadConfig::new(h, n)
        .with_heads(heads)
        .with_compression(cmp)
        .with_embedding_dim(e);
    let expected = 2 * n + 2 * linear(h, cmp) + linear(cmp, heads) + linear(heads * cmp, e);
    assert_eq!(count_params(&mhfa.init::<Flex>(&device).unwrap()).total, expected);

    // The enum adds nothing; x-vector through it pools 3·channels.
    let via_enum = SpeakerHeadConfig::new(h, n)
        .with_channels(c)
        .with_embedding_dim(e)
        .init::<Flex>(&device)
        .unwrap();
    let direct = XvectorHeadConfig::new(h)
        .with_channels(c)
        .with_stats_channels(3 * c)
        .with_embedding_dim(e);
    assert_eq!(
        count_params(&via_enum),
        count_params(&direct.init::<Flex>(&device).unwrap())
    );
}

#[test]
fn ecapa_rejects_channels_not_divisible_by_eight() {
    let err = SpeakerHeadConfig::new(H, STATES)
        .with_kind(HeadKind::Ecapa)
        .with_channels(12)
        .init::<Flex>(&Default::default());
    let err = err.unwrap_err().to_string();
    assert!(err.contains("head.channels = 12") && err.contains("try 16"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------------
// Margin losses against the formulas, evaluated here in f64 from the same known weights.

/// Class centres (columns of `[E = 2, C = 3]`), deliberately not unit length.
const CENTRES: [[f64; 3]; 2] = [[2.0, 0.0, -1.0], [0.0, 0.5, -1.0]];
/// Embeddings and labels. The third example's target cosine is ≈ −0.9988, below `cos(π − 0.2)` ≈ −0.980, so it
/// exercises the fallback branch.
const EMBEDDINGS: [[f64; 2]; 3] = [[2.0, 1.0], [-1.0, 3.0], [-1.0, -0.05]];
const LABELS: [usize; 3] = [0, 1, 0];

fn loss_module(kind: LossKind, margin: f64, scale: f64, easy: bool) -> (MarginSoftmax<Flex>, Tensor<Flex, 2>) {
    let device = Default::default();
    let mut loss = MarginSoftmaxConfig::new(2, 3)
        .with_kind(kind)
        .with_margin(margin)
        .with_scale(scale)
        .with_easy_margin(easy)
        .init::<Flex>(&device)
        .unwrap();
    let flat: Vec<f32> = CENTRES.iter().flatten().map(|&v| v as f32).collect();
    loss.weight = Param::from_tensor(Tensor::from_data(TensorData::new(flat, [2, 3]), &device));
    let emb: Vec<f32> = EMBEDDINGS.iter().flatten().map(|&v| v as f32).collect();
    (loss, Tensor::from_data(TensorData::new(emb, [3, 2]), &device))
}

fn labels() -> Tensor<Flex, 1, Int> {
    Tensor::from_data(TensorData::from(LABELS.map(|l| l as i32)), &Default::default())
}

/// `cos θ_ij` in f64.
fn cosines() -> Vec<[f64; 3]> {
    EMBEDDINGS
        .iter()
        .map(|x| {
            let nx = (x[0] * x[0] + x[1] * x[1]).sqrt();
            let mut row = [0.0; 3];
            for (j, r) in row.iter_mut().enumerate() {
                let w = [CENTRES[0][j], CENTRES[1][j]];
                let nw = (w[0] * w[0] + w[1] * w[1]).sqrt();
                *r = (x[0] * w[0] + x[1] * w[1]) / (nx * nw);
            }
            row
        })
        .collect()
}

/// Mean cross-entropy of `scale · logits` where the target logit is `target(cos)`.
fn reference_ce(scale: f64, target: impl Fn(f64) -> f64) -> f64 {
    let mut total = 0.0;
    for (row, &label) in cosines().iter().zip(&LABELS) {
        let logits: Vec<f64> = row
            .iter()
            .enumerate()
            .map(|(j, &c)| scale * if j == label { target(c) } else { c })
            .collect();
        let log_z = logits.iter().map(|l| l.exp()).sum::<f64>().ln();
        total += log_z - logits[label];
    }
    total / LABELS.len() as f64
}

fn run(kind: LossKind, margin: f64, scale: f64, easy: bool) -> (f64, f64) {
    let (loss, emb) = loss_module(kind, margin, scale, easy);
    let out = loss.forward(emb, labels());
    (out.loss.into_scalar() as f64, out.accuracy.into_scalar() as f64)
}

#[test]
fn aam_softmax_matches_arcface_by_hand() {
    let (m, s) = (0.2f64, 10.0);
    let th = (std::f64::consts::PI - m).cos();
    assert!(cosines()[2][0] <= th, "the third example must hit the fallback branch");
    // θ + m through acos, independent of the module's cos·cos m − sin·sin m form.
    let expected = reference_ce(s, |c| if c > th { (c.acos() + m).cos() } else { c - (1.0 + th) });
    let (got, accuracy) = run(LossKind::AamSoftmax, m, s, false);
    assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
    // Accuracy by hand: the arg-max cosine of each row against its label.
    let hits = cosines()
        .iter()
        .zip(&LABELS)
        .filter(|(row, &l)| row.iter().enumerate().all(|(j, c)| j == l || *c < row[l]))
        .count();
    assert!((accuracy - hits as f64 / 3.0).abs() < 1e-6, "{accuracy} vs {hits}/3");

    let easy = reference_ce(s, |c| if c > 0.0 { (c.acos() + m).cos() } else { c });
    let (got, _) = run(LossKind::AamSoftmax, m, s, true);
    assert!((got - easy).abs() < 1e-4, "easy margin: {got} vs {easy}");
}

#[test]
fn zero_margin_is_normalised_softmax_cross_entropy() {
    let s = 7.0;
    let expected = reference_ce(s, |c| c);
    for kind in [LossKind::AamSoftmax, LossKind::AmSoftmax] {
        let (got, _) = run(kind, 0.0, s, false);
        assert!((got - expected).abs() < 1e-4, "{kind:?}: {got} vs {expected}");
    }
}

#[test]
fn am_softmax_matches_cosface_by_hand() {
    let (m, s) = (0.35, 12.0);
    let expected = reference_ce(s, |c| c - m);
    let (got, _) = run(LossKind::AmSoftmax, m, s, false);
    assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
}

#[test]
fn set_margin_changes_the_loss_as_the_warmup_raises_it() {
    let (mut loss, emb) = loss_module(LossKind::AamSoftmax, 0.0, 10.0, false);
    let mut previous = f64::NEG_INFINITY;
    for epoch in 0..=4 {
        loss.set_margin(adaptsv::model::margin_at(epoch as f64, 4.0, 0.2));
        let value = loss.forward(emb.clone(), labels()).loss.into_scalar() as f64;
        let th = (std::f64::consts::PI - loss.margin).cos();
        let expected = reference_ce(10.0, |c| {
            if c > th {
                (c.acos() + loss.margin).cos()
            } else {
                c - (1.0 + th)
            }
        });
        assert!((value - expected).abs() < 1e-4, "epoch {epoch}: {value} vs {expected}");
        assert!(value > previous, "a larger margin makes the loss larger");
        previous = value;
    }
    assert_eq!(loss.margin, 0.2);
}
