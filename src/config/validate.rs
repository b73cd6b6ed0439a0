//! Semantic checks of an [`ExperimentConfig`]: every problem at once, each naming its dotted key.
//!
//! `validate` is pure (it looks at the config only) so a config can be checked on any machine, e.g. one copied
//! back from a server; `check_paths` additionally checks that the files it names exist here.

use super::*;
use std::fmt;

/// One thing wrong with a config: the dotted key, the value as written, and why it is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    pub key: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.key, self.message)
        } else {
            write!(f, "{} = {}: {}", self.key, self.value, self.message)
        }
    }
}

/// Architecture presets: (name, Transformer layers). The backbone module builds them; this table lets a config
/// be validated (e.g. `layers = "10-14"` on a 12-layer model) without building anything.
pub const PRESETS: &[(&str, usize)] = &[
    ("wavlm-base", 12),
    ("wavlm-base-plus", 12),
    ("wavlm-large", 24),
    ("hubert-base", 12),
    ("hubert-large", 24),
    ("wav2vec2-base", 12),
    ("wav2vec2-large", 24),
    ("wavlm-tiny", 4),
    ("wavlm-mini", 6),
];

/// The sample rate every backbone here takes (Hz).
const SAMPLE_RATE: f64 = 16_000.0;

/// Fewest samples that give the standard wav2vec 2.0 conv feature encoder (kernels 10,3,3,3,3,2,2, strides
/// 5,2,2,2,2,2,2: every preset) one frame: 400, i.e. 25 ms.
pub const STANDARD_MIN_SAMPLES: usize = 400;

/// Fewest input samples that give a stack of 1-D convolutions (no padding) one output frame: its receptive field.
pub fn receptive_field(kernels: &[usize], strides: &[usize]) -> usize {
    // Walk back from one frame: a layer needs (out - 1) * stride + kernel inputs.
    let mut need: usize = 1;
    for (&k, &s) in kernels.iter().zip(strides).rev() {
        need = (need - 1).saturating_mul(s).saturating_add(k);
    }
    need
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<ConfigProblem>);

impl Problems {
    pub(super) fn add(&mut self, key: &str, value: impl fmt::Display, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.into(),
            value: value.to_string(),
            message: message.into(),
        });
    }
    fn at_least<T: PartialOrd + fmt::Display>(&mut self, key: &str, value: T, min: T) {
        if value < min {
            let msg = format!("must be >= {min}");
            self.add(key, value, msg);
        }
    }
    fn positive(&mut self, key: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.add(key, value, "must be a finite number > 0");
        }
    }
    fn non_negative(&mut self, key: &str, value: f64) {
        if !(value.is_finite() && value >= 0.0) {
            self.add(key, value, "must be a finite number >= 0");
        }
    }
    fn layers(&mut self, key: &str, sel: &LayerSelection, depth: Option<usize>) {
        let checked = match depth {
            Some(d) => sel.resolve(d).map(|_| ()),
            None => sel.check_syntax(),
        };
        if let Err(e) = checked {
            self.add(key, "", e);
        }
    }
}

impl ExperimentConfig {
    /// The number of Transformer layers, when it is known without reading a checkpoint.
    pub fn known_depth(&self) -> Option<usize> {
        let preset = self.model.preset.as_deref()?;
        PRESETS.iter().find(|(n, _)| *n == preset).map(|(_, d)| *d)
    }

    /// Every semantic problem of this config, or `Ok(())`.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut p = Problems::default();
        self.check_top(&mut p);
        if let Some(pre) = &self.pretrain {
            // A pre-training run has no adapters, head or evaluation: only its own table and the data and
            // optimisation settings matter.
            p.at_least("pretrain.clusters", pre.clusters, 2);
            p.at_least("pretrain.mask_length", pre.mask_length, 1);
            p.at_least("pretrain.kmeans_frames", pre.kmeans_frames, pre.clusters);
            if !(pre.mask_prob > 0.0 && pre.mask_prob < 1.0) {
                p.add("pretrain.mask_prob", pre.mask_prob, "must be strictly between 0 and 1");
            }
            p.non_negative("pretrain.unmasked_weight", pre.unmasked_weight);
            if !matches!(pre.export_dtype.as_str(), "f32" | "f16") {
                p.add("pretrain.export_dtype", format!("{:?}", pre.export_dtype), "must be \"f32\" or \"f16\"");
            }
            // Both options are for a backbone that does not train; pre-training trains all of it.
            if self.optim.backbone_dtype != BackboneDType::F32 {
                p.add(
                    "optim.backbone_dtype",
                    format!("\"{}\"", self.optim.backbone_dtype.name()),
                    "pre-training trains the whole backbone, in f32: use \"f32\"",
                );
            }
            if self.optim.backbone_cache_mib > 0 {
                p.add(
                    "optim.backbone_cache_mib",
                    self.optim.backbone_cache_mib,
                    "pre-training trains the whole backbone, whose states change every step: set 0",
                );
            }
            self.check_rest(&mut p);
        } else {
            self.check_adaptation(&mut p);
            self.check_rest(&mut p);
        }
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(p.0)
        }
    }

    fn check_top(&self, p: &mut Problems) {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            p.add(
                "name",
                format!("{:?}", self.name),
                "must be 1-64 characters of letters, digits, '-', '_' or '.' (it names the run folder)",
            );
        }
        match crate::device::DeviceChoice::parse(&self.device) {
            Err(e) => p.add("device", format!("{:?}", self.device), e),
            Ok(device) => {
                let dtype = self.optim.backbone_dtype.name();
                if let Some(why) = crate::device::unsupported(device, dtype) {
                    p.add("optim.backbone_dtype", format!("\"{dtype}\" on {device}"), why);
                }
            }
        }
        match (&self.model.checkpoint, &self.model.preset) {
            (Some(_), Some(_)) => p.add("model", "", "give either model.checkpoint or model.preset, not both"),
            (None, None) => p.add(
                "model",
                "",
                "give model.checkpoint (a HuggingFace folder) or model.preset (e.g. \"wavlm-base-plus\")",
            ),
            (None, Some(name)) if self.known_depth().is_none() => {
                let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                p.add(
                    "model.preset",
                    format!("{name:?}"),
                    format!("unknown preset; known: {}", names.join(", ")),
                );
            }
            _ => {}
        }
    }

    fn check_adaptation(&self, p: &mut Problems) {
        let a = &self.adaptation;
        let depth = self.known_depth();
        let method = a.method.name();
        if a.inner_enabled() {
            p.at_least("adaptation.inner.bottleneck", a.inner.bottleneck, 1);
            if !a.inner.scale.is_finite() {
                p.add("adaptation.inner.scale", a.inner.scale, "must be a finite number");
            }
            p.layers("adaptation.inner.layers", &a.inner.layers, depth);
        }
        if a.inter_enabled() {
            p.at_least("adaptation.inter.bottleneck", a.inter.bottleneck, 1);
            if !a.inter.scale.is_finite() {
                p.add("adaptation.inter.scale", a.inter.scale, "must be a finite number");
            }
        }
        if a.method == Method::Adapters && !a.inner_enabled() && !a.inter_enabled() {
            p.add(
                "adaptation.method",
                "\"adapters\"",
                "enable adaptation.inner or adaptation.inter (or both, the proposed framework)",
            );
        }
        // Options the chosen method would ignore: named, so a comparison never runs something else than written.
        let ignored = |p: &mut Problems, key: &str, value: String, owner: &str| {
            p.add(
                key,
                value,
                format!("is ignored by method \"{method}\" (it belongs to {owner}); remove it or change the method"),
            )
        };
        if a.method != Method::Adapters {
            let adapters = "method = \"adapters\"";
            if a.inner.enabled == Some(true) {
                ignored(p, "adaptation.inner.enabled", "true".into(), adapters);
            } else if a.inner.enabled.is_none() && a.inner != AdapterConfig::default() {
                ignored(p, "adaptation.inner", String::new(), adapters);
            }
            if a.inter.enabled == Some(true) {
                ignored(p, "adaptation.inter.enabled", "true".into(), adapters);
            } else if a.inter.enabled.is_none() && a.inter != InterAdapterConfig::default() {
                ignored(p, "adaptation.inter", String::new(), adapters);
            }
        }
        let defaults = AdaptationConfig::default();
        if a.method != Method::Houlsby && a.houlsby != defaults.houlsby {
            ignored(p, "adaptation.houlsby", String::new(), "method = \"houlsby\"");
        }
        if a.method != Method::Lora && a.lora != defaults.lora {
            ignored(p, "adaptation.lora", String::new(), "method = \"lora\"");
        }
        if a.method != Method::Prefix && a.prefix != defaults.prefix {
            ignored(p, "adaptation.prefix", String::new(), "method = \"prefix\"");
        }
        if a.method != Method::PartialFinetune && a.partial_top_k != defaults.partial_top_k {
            ignored(
                p,
                "adaptation.partial_top_k",
                a.partial_top_k.to_string(),
                "method = \"partial-finetune\"",
            );
        }
        if a.method != Method::FullFinetune && !a.freeze_feature_encoder {
            ignored(
                p,
                "adaptation.freeze_feature_encoder",
                "false".into(),
                "method = \"full-finetune\"",
            );
        }
        match a.method {
            Method::PartialFinetune => {
                p.at_least("adaptation.partial_top_k", a.partial_top_k, 1);
                if let Some(d) = depth {
                    if a.partial_top_k > d {
                        p.add(
                            "adaptation.partial_top_k",
                            a.partial_top_k,
                            format!("the model has {d} layers"),
                        );
                    }
                }
            }
            Method::Houlsby => {
                p.at_least("adaptation.houlsby.bottleneck", a.houlsby.bottleneck, 1);
                p.layers("adaptation.houlsby.layers", &a.houlsby.layers, depth);
            }
            Method::Lora => {
                p.at_least("adaptation.lora.rank", a.lora.rank, 1);
                p.positive("adaptation.lora.alpha", a.lora.alpha);
                if a.lora.targets.is_empty() {
                    p.add(
                        "adaptation.lora.targets",
                        "[]",
                        "name at least one of q, k, v, out, ffn-in, ffn-out",
                    );
                }
                p.layers("adaptation.lora.layers", &a.lora.layers, depth);
            }
            Method::Prefix => {
                p.at_least("adaptation.prefix.length", a.prefix.length, 1);
                p.layers("adaptation.prefix.layers", &a.prefix.layers, depth);
            }
            _ => {}
        }
    }

    fn check_rest(&self, p: &mut Problems) {
        let h = &self.head;
        p.at_least("head.embedding_dim", h.embedding_dim, 1);
        p.at_least("head.channels", h.channels, 1);
        p.at_least("head.mhfa_heads", h.mhfa_heads, 1);
        p.at_least("head.mhfa_compression", h.mhfa_compression, 1);

        let l = &self.loss;
        p.non_negative("loss.margin", l.margin);
        if l.kind == LossKind::AamSoftmax && l.margin >= std::f64::consts::FRAC_PI_2 {
            p.add(
                "loss.margin",
                l.margin,
                "an angular margin must be below pi/2 radians (0.2 is usual)",
            );
        }
        p.positive("loss.scale", l.scale);
        p.non_negative("loss.margin_warmup_epochs", l.margin_warmup_epochs);

        let d = &self.data;
        match d.source {
            DataSource::Corpus => {
                if d.corpus.is_none() {
                    p.add("data.corpus", "", "data.source = \"corpus\" needs the corpus folder");
                }
                if d.trials.is_none() && self.pretrain.is_none() {
                    p.add(
                        "data.trials",
                        "",
                        "data.source = \"corpus\" needs a trial list (e.g. veri_test2.txt)",
                    );
                }
            }
            DataSource::Synthetic => {
                let s = &d.synthetic;
                p.at_least("data.synthetic.speakers", s.speakers, 2);
                p.at_least("data.synthetic.test_speakers", s.test_speakers, 2);
                p.at_least("data.synthetic.utterances", s.utterances, 2);
                p.at_least("data.synthetic.trials_per_utterance", s.trials_per_utterance, 2);
                p.positive("data.synthetic.seconds", s.seconds);
            }
        }

        let aug = &d.augment;
        if aug.enabled {
            for (key, prob) in [
                ("noise_prob", aug.noise_prob),
                ("rir_prob", aug.rir_prob),
                ("speed_prob", aug.speed_prob),
            ] {
                if !(0.0..=1.0).contains(&prob) {
                    p.add(
                        &format!("data.augment.{key}"),
                        prob,
                        "a probability must be between 0 and 1",
                    );
                }
            }
            for (key, [lo, hi]) in [
                ("noise_snr_db", aug.noise_snr_db),
                ("music_snr_db", aug.music_snr_db),
                ("speech_snr_db", aug.speech_snr_db),
            ] {
                if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                    p.add(
                        &format!("data.augment.{key}"),
                        format!("[{lo}, {hi}]"),
                        "need [low, high] with low <= high (dB)",
                    );
                }
            }
            if aug.noise_dir.is_none() && aug.rir_dir.is_none() && aug.speed_prob == 0.0 {
                p.add(
                    "data.augment.enabled",
                    "true",
                    "give data.augment.noise_dir, data.augment.rir_dir or a speed_prob > 0",
                );
            }
        }

        let o = &self.optim;
        p.at_least("optim.epochs", o.epochs, 1);
        if let Some(m) = o.max_steps {
            p.at_least("optim.max_steps", m, 1);
        }
        p.at_least("optim.batch_size", o.batch_size, 2);
        p.positive("optim.segment_seconds", o.segment_seconds);
        p.non_negative("optim.lr_backbone", o.lr_backbone);
        p.non_negative("optim.lr_adapters", o.lr_adapters);
        p.positive("optim.lr_head", o.lr_head);
        p.non_negative("optim.weight_decay", o.weight_decay);
        if !(0.0..=1.0).contains(&o.min_lr_ratio) {
            p.add("optim.min_lr_ratio", o.min_lr_ratio, "must be between 0 and 1");
        }
        p.non_negative("optim.grad_clip", o.grad_clip);
        p.at_least("optim.loader_workers", o.loader_workers, 1);
        p.at_least("optim.grad_accum_steps", o.grad_accum_steps, 1);
        if !(0.0..1.0).contains(&o.momentum) {
            p.add("optim.momentum", o.momentum, "must be in [0, 1)");
        }
        if o.optimizer != OptimizerKind::Sgd && o.momentum != OptimConfig::default().momentum {
            p.add(
                "optim.momentum",
                o.momentum,
                "is ignored by optimizer \"adamw\" (it belongs to optimizer = \"sgd\")",
            );
        }
        let trains_backbone = matches!(
            self.adaptation.method,
            Method::FullFinetune | Method::PartialFinetune | Method::Bitfit
        );
        if trains_backbone && o.lr_backbone == 0.0 {
            p.add(
                "optim.lr_backbone",
                0,
                format!(
                    "method \"{}\" trains backbone weights: give a learning rate > 0",
                    self.adaptation.method.name()
                ),
            );
        }

        // What trains inside the backbone, for the two options that need nothing to.
        let a = &self.adaptation;
        let trains_inside = || {
            format!(
                "method \"{}\"{} trains inside it",
                a.method.name(),
                if a.method == Method::Adapters { " with inner adapters" } else { "" }
            )
        };
        // A pre-training config has its own message for both (in `validate`), not a second one here.
        let adapting = self.pretrain.is_none();
        if adapting && o.backbone_dtype != BackboneDType::F32 && !a.backbone_states_frozen() {
            p.add(
                "optim.backbone_dtype",
                format!("\"{}\"", o.backbone_dtype.name()),
                format!(
                    "a backbone runs in reduced precision only when nothing inside it trains (method \"frozen\", \
                     or inter adapters alone); {}: use \"f32\"",
                    trains_inside()
                ),
            );
        }
        if adapting && o.backbone_cache_mib > 0 {
            if !a.backbone_states_frozen() {
                p.add(
                    "optim.backbone_cache_mib",
                    o.backbone_cache_mib,
                    format!(
                        "caches the backbone's hidden states, which stay the same only when nothing inside the \
                         backbone trains (method \"frozen\", or inter adapters alone); {}: set 0",
                        trains_inside()
                    ),
                );
            }
            if self.data.augment.enabled {
                p.add(
                    "optim.backbone_cache_mib",
                    o.backbone_cache_mib,
                    "needs data.augment.enabled = false (an augmented crop differs every epoch, so it never hits)",
                );
            }
        }

        let e = &self.eval;
        if e.p_targets.is_empty() {
            p.add(
                "eval.p_targets",
                "[]",
                "name at least one target prior, e.g. [0.01, 0.05]",
            );
        }
        for (i, &pt) in e.p_targets.iter().enumerate() {
            if !(pt > 0.0 && pt < 1.0) {
                p.add(&format!("eval.p_targets[{i}]"), pt, "must be strictly between 0 and 1");
            }
        }
        if let Some(c) = e.chunk_seconds {
            p.positive("eval.chunk_seconds", c);
        }
        p.at_least("eval.cohort_top_n", e.cohort_top_n, 1);
        p.at_least("eval.layer_weights_every_steps", e.layer_weights_every_steps, 1);
        let mut labels = std::collections::BTreeSet::new();
        for (i, list) in e.lists.iter().enumerate() {
            let label = list.label.trim();
            if label.is_empty() || label.contains(['\n', '\r']) {
                p.add(&format!("eval.lists[{i}].label"), format!("{:?}", list.label), "must be a non-empty one-line name");
            } else if !labels.insert(label.to_string()) {
                p.add(&format!("eval.lists[{i}].label"), format!("{:?}", list.label), "names another list too: labels must differ");
            }
            if list.trials.as_os_str().is_empty() {
                p.add(&format!("eval.lists[{i}].trials"), "\"\"", "must name a trial list file");
            }
        }
        if self.model.checkpoint.is_none() {
            self.check_input_lengths(p, STANDARD_MIN_SAMPLES);
        }
        self.check_slurm(p);
        self.check_parallel(p);
    }

    /// The `[parallel]` table: devices of one kind, a batch that splits evenly, a node count and a timeout.
    fn check_parallel(&self, p: &mut Problems) {
        let Some(par) = &self.parallel else { return };
        let mut kinds = Vec::new();
        for (i, text) in par.devices.iter().enumerate() {
            match crate::device::DeviceChoice::parse(text) {
                Err(e) => p.add(&format!("parallel.devices[{i}]"), format!("{text:?}"), e),
                Ok(choice) => {
                    if choice != crate::device::DeviceChoice::Cpu && kinds.contains(&choice) {
                        p.add(
                            &format!("parallel.devices[{i}]"),
                            format!("{text:?}"),
                            "is named twice: one peer per GPU (only \"cpu\" may repeat, its peers sharing the cores)",
                        );
                    }
                    kinds.push(choice);
                }
            }
        }
        if kinds.windows(2).any(|w| std::mem::discriminant(&w[0]) != std::mem::discriminant(&w[1])) {
            p.add(
                "parallel.devices",
                format!("{:?}", par.devices),
                "must all be of one kind (all \"cpu\", all \"wgpu:N\" or all \"cuda:N\"): a run has one backend",
            );
        }
        if par.nodes == 0 {
            p.add("parallel.nodes", par.nodes, "must be at least 1");
        }
        let peers = self.peer_count();
        if peers > 1 && self.optim.batch_size % peers != 0 {
            p.add(
                "optim.batch_size",
                self.optim.batch_size,
                format!(
                    "is the global batch, split evenly over the {peers} peers ({} device(s) x {} node(s)): use a \
                     multiple of {peers}",
                    self.peer_devices().len(),
                    par.nodes.max(1)
                ),
            );
        }
        p.at_least("parallel.timeout_seconds", par.timeout_seconds, 10);
        if !par.orchestrator.is_empty() && crate::engine::peers::parse_host_port(&par.orchestrator).is_none() {
            p.add(
                "parallel.orchestrator",
                format!("{:?}", par.orchestrator),
                "must be host:port, e.g. \"node01:41000\"",
            );
        }
    }

    /// The `[slurm]` table: values `sbatch` would refuse (or that would break the batch script) are refused here.
    fn check_slurm(&self, p: &mut Problems) {
        let Some(s) = &self.slurm else { return };
        let one_word = |p: &mut Problems, key: &str, value: &str, example: &str| {
            if value.chars().any(|c| c.is_whitespace() || c == '\'' || c == '"' || c.is_control()) {
                p.add(key, format!("{value:?}"), format!("must be one word without quotes, e.g. {example}"));
            }
        };
        one_word(p, "slurm.partition", &s.partition, "\"gpu\"");
        one_word(p, "slurm.account", &s.account, "\"speech-lab\"");
        one_word(p, "slurm.gres", &s.gres, "\"gpu:1\"");
        if !s.time.is_empty() && crate::slurm::parse_time_limit(&s.time).is_none() {
            p.add(
                "slurm.time",
                format!("{:?}", s.time),
                "not a Slurm time limit: minutes, MM:SS, H:MM:SS, D-H, D-H:MM or D-H:MM:SS (e.g. \"4:00:00\")",
            );
        }
        let mem_ok = {
            let digits = s.mem.trim_end_matches(['K', 'M', 'G', 'T']);
            s.mem.is_empty() || (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) && s.mem.len() - digits.len() <= 1)
        };
        if !mem_ok {
            p.add("slurm.mem", format!("{:?}", s.mem), "a size such as \"32G\" or \"16000M\" (K, M, G or T)");
        }
        for (i, line) in s.extra.iter().enumerate() {
            if !line.trim().is_empty() && (!line.trim_start().starts_with('-') || line.contains(['\n', '\r'])) {
                p.add(
                    &format!("slurm.extra[{i}]"),
                    format!("{line:?}"),
                    "one sbatch option as on its command line, e.g. \"--qos=high\"",
                );
            }
        }
        if s.prefix.contains(['\n', '\r']) {
            p.add("slurm.prefix", format!("{:?}", s.prefix), "must be one line, e.g. \"ssh login-node\"");
        }
        if !(10..=65535).contains(&s.signal_seconds) {
            p.add(
                "slurm.signal_seconds",
                s.signal_seconds,
                "must be between 10 and 65535 seconds (Slurm's limit): enough to finish a step and write a checkpoint",
            );
        }
        if s.program.contains(['\n', '\r', '\'']) {
            p.add("slurm.program", format!("{:?}", s.program), "must be a path without quotes or line breaks");
        }
    }

    /// Every length of audio the run feeds the backbone (the training crop, the evaluation chunk, the synthetic
    /// corpus's utterances) must give its conv feature encoder at least one frame: `min_samples` at 16 kHz.
    fn check_input_lengths(&self, p: &mut Problems, min_samples: usize) {
        let mut lengths = vec![("optim.segment_seconds", self.optim.segment_seconds)];
        if let Some(c) = self.eval.chunk_seconds {
            lengths.push(("eval.chunk_seconds", c));
        }
        if self.data.source == DataSource::Synthetic {
            lengths.push(("data.synthetic.seconds", self.data.synthetic.seconds));
        }
        let min_seconds = min_samples as f64 / SAMPLE_RATE;
        for (key, seconds) in lengths {
            // Non-positive values are reported by their own rule.
            if seconds > 0.0 && (seconds * SAMPLE_RATE).floor() < min_samples as f64 {
                p.add(
                    key,
                    seconds,
                    format!(
                        "shorter than the backbone's receptive field: its conv feature encoder needs at least \
                         {min_seconds} s ({min_samples} samples at 16 kHz) for one frame"
                    ),
                );
            }
        }
    }

    /// What stands between this config and a launch: [`ExperimentConfig::validate`]'s problems and, for a
    /// checkpoint backbone, its conv stack's minimum audio lengths (read from its `config.json`). The engine and
    /// the Slurm submission both ask this.
    pub fn launch_problems(&self) -> Vec<ConfigProblem> {
        let mut problems = self.validate().err().unwrap_or_default();
        problems.extend(self.check_checkpoint_input_lengths());
        problems
    }

    /// As `validate`'s length rules for a config whose backbone is a checkpoint folder: reads the conv kernels
    /// and strides from its `config.json` (nothing is reported when it cannot be read; `check_paths` and loading
    /// say why).
    pub fn check_checkpoint_input_lengths(&self) -> Vec<ConfigProblem> {
        let mut p = Problems::default();
        if let Some(dir) = &self.model.checkpoint {
            let conv = std::fs::read(dir.join("config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| {
                    let list = |k: &str| -> Option<Vec<usize>> {
                        v.get(k)?.as_array()?.iter().map(|x| x.as_u64().map(|n| n as usize)).collect()
                    };
                    Some((list("conv_kernel")?, list("conv_stride")?))
                });
            if let Some((kernels, strides)) = conv {
                if !kernels.is_empty() && kernels.len() == strides.len() {
                    self.check_input_lengths(&mut p, receptive_field(&kernels, &strides));
                }
            }
        }
        p.0
    }

    /// Problems with the files this config names, as seen from this machine (missing folders, lists).
    pub fn check_paths(&self) -> Vec<ConfigProblem> {
        let mut p = Problems::default();
        let mut need = |key: &str, path: &Option<std::path::PathBuf>, want_dir: bool| {
            if let Some(path) = path {
                let ok = if want_dir { path.is_dir() } else { path.is_file() };
                if !ok {
                    let kind = if want_dir { "folder" } else { "file" };
                    p.add(
                        key,
                        format!("{:?}", path.display().to_string()),
                        format!("no such {kind} on this machine"),
                    );
                }
            }
        };
        need("model.checkpoint", &self.model.checkpoint, true);
        if self.data.source == DataSource::Corpus {
            need("data.corpus", &self.data.corpus, true);
            need("data.trials", &self.data.trials, false);
            need("data.eval_corpus", &self.data.eval_corpus, true);
        }
        for (i, list) in self.eval.lists.iter().enumerate() {
            need(&format!("eval.lists[{i}].trials"), &Some(list.trials.clone()), false);
            need(&format!("eval.lists[{i}].corpus"), &list.corpus, true);
        }
        if self.data.augment.enabled {
            need("data.augment.noise_dir", &self.data.augment.noise_dir, true);
            need("data.augment.rir_dir", &self.data.augment.rir_dir, true);
        }
        p.0.extend(self.check_checkpoint_input_lengths());
        p.0
    }
}
