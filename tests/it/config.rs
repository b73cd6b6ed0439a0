//! Config parsing, round-trip and validation messages.

use adaptsv::config::{ConfigError, ExperimentConfig, LayerSelection, Method};

const MINIMAL: &str = r#"
name = "t"
[model]
preset = "wavlm-base-plus"
"#;

fn problems_of(toml: &str) -> Vec<String> {
    match ExperimentConfig::from_toml_str(toml, "test.toml") {
        Err(ConfigError::Invalid { problems, .. }) => problems.iter().map(|p| p.to_string()).collect(),
        Err(other) => panic!("expected validation problems, got {other}"),
        Ok(_) => panic!("expected validation problems, config was accepted"),
    }
}

/// Asserts that `toml` is refused with a problem about `key` whose message contains `says`.
fn assert_problem(toml: &str, key: &str, says: &str) {
    let problems = problems_of(toml);
    assert!(
        problems.iter().any(|p| p.contains(key) && p.contains(says)),
        "{key} / {says:?} in {toml}: {problems:?}"
    );
}

/// The `[adaptation]` tables whose backbone states do not train: method `frozen`, and inter adapters alone.
const NOTHING_TRAINS_INSIDE: [&str; 2] = [
    "[adaptation]\nmethod = \"frozen\"\n",
    "[adaptation]\nmethod = \"adapters\"\n[adaptation.inner]\nenabled = false\n",
];

fn parse_error_of(toml: &str) -> String {
    match ExperimentConfig::from_toml_str(toml, "test.toml") {
        Err(e @ ConfigError::Parse { .. }) => e.to_string(),
        Err(other) => panic!("expected a parse error, got {other}"),
        Ok(_) => panic!("expected a parse error, config was accepted"),
    }
}

#[test]
fn builtin_default_is_valid_and_round_trips() {
    let c = ExperimentConfig::builtin_default();
    let text = c.to_toml_string();
    let back = ExperimentConfig::from_toml_str(&text, "round-trip").unwrap();
    assert_eq!(back, c);
}

#[test]
fn non_default_values_round_trip() {
    let mut c = ExperimentConfig::from_toml_str(MINIMAL, "m").unwrap();
    c.adaptation.method = Method::Lora;
    c.adaptation.inner.enabled = Some(false);
    c.adaptation.lora.layers = LayerSelection::List(vec![1, 3, 12]);
    c.optim.max_steps = Some(100);
    c.eval.chunk_seconds = Some(4.0);
    let back = ExperimentConfig::from_toml_str(&c.to_toml_string(), "round-trip").unwrap();
    assert_eq!(back, c);
}

#[test]
fn minimal_config_takes_the_frameworks_defaults() {
    let c = ExperimentConfig::from_toml_str(MINIMAL, "m").unwrap();
    assert_eq!(c.adaptation.method, Method::Adapters);
    assert!(c.adaptation.inner_enabled() && c.adaptation.inter_enabled());
    assert_eq!(c.device, "cpu");
    assert_eq!(c.known_depth(), Some(12));
}

#[test]
fn every_example_config_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if adaptsv::sweep::is_sweep(&text) {
                // A sweep: every run it expands to must be valid.
                adaptsv::sweep::Sweep::load(&path).and_then(|s| s.expand()).unwrap_or_else(|e| panic!("{e:#}"));
            } else {
                ExperimentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            }
            n += 1;
        }
    }
    assert!(n >= 1, "no example configs found in {}", dir.display());
}

#[test]
fn zero_bottleneck_names_key_value_and_rule() {
    let p = problems_of(&format!(
        "{MINIMAL}\n[adaptation.inner]\nenabled = true\nbottleneck = 0\n"
    ));
    assert_eq!(p, vec!["adaptation.inner.bottleneck = 0: must be >= 1"]);
}

#[test]
fn a_bf16_backbone_on_wgpu_is_refused_with_the_reason() {
    let frozen_bf16_on = |device: &str| -> Vec<String> {
        let text = format!(
            "name = \"t\"\ndevice = \"{device}\"\n[model]\npreset = \"wavlm-base-plus\"\n[adaptation]\n\
             method = \"frozen\"\ninner = {{ enabled = false }}\ninter = {{ enabled = false }}\n[optim]\n\
             backbone_dtype = \"bf16\"\n"
        );
        match ExperimentConfig::from_toml_str(&text, "test.toml") {
            Ok(_) => Vec::new(),
            Err(_) => problems_of(&text),
        }
    };
    let p = frozen_bf16_on("wgpu:0");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].starts_with("optim.backbone_dtype = \"bf16\" on wgpu:0: wgpu has no bf16"), "{p:#?}");
    assert!(frozen_bf16_on("cuda:0").is_empty());
    assert!(frozen_bf16_on("cpu").is_empty());
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = r#"
name = "bad name with spaces"
device = "gpu"
[model]
preset = "wavlm-base-plus"
checkpoint = "/models/wavlm"
[adaptation.inner]
layers = "10-14"
[optim]
batch_size = 1
[eval]
p_targets = [0.01, 1.5]
"#;
    let p = problems_of(toml);
    let has = |needle: &str| p.iter().any(|x| x.contains(needle));
    assert!(has("name = \"bad name with spaces\""), "{p:#?}");
    assert!(has("device = \"gpu\": expected \"cpu\", \"wgpu:N\" or \"cuda:N\""), "{p:#?}");
    assert!(
        has("model: give either model.checkpoint or model.preset, not both"),
        "{p:#?}"
    );
    assert!(has("optim.batch_size = 1: must be >= 2"), "{p:#?}");
    assert!(has("eval.p_targets[1] = 1.5"), "{p:#?}");
    assert!(
        has("adaptation.inner.layers: 10-14: layers are numbered 1 to 12"),
        "{p:#?}"
    );
    assert_eq!(p.len(), 6, "{p:#?}");
}

#[test]
fn layer_ranges_are_checked_against_the_presets_depth() {
    let p = problems_of(&format!("{MINIMAL}\n[adaptation.inner]\nlayers = \"10-14\"\n"));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("adaptation.inner.layers: 10-14: layers are numbered 1 to 12"),
        "{p:?}"
    );
}

#[test]
fn unknown_preset_lists_the_known_ones() {
    let p = problems_of("name = \"t\"\n[model]\npreset = \"wavlm-huge\"\n");
    assert!(
        p[0].contains("model.preset = \"wavlm-huge\": unknown preset; known: wavlm-base,"),
        "{p:?}"
    );
}

#[test]
fn method_specific_rules() {
    let p = problems_of(&format!(
        "{MINIMAL}\n[adaptation]\nmethod = \"lora\"\n[adaptation.lora]\nrank = 0\ntargets = []\n"
    ));
    let joined = p.join("\n");
    assert_eq!(p.len(), 2, "a LoRA config gets no inner-adapter complaint: {joined}");
    assert!(joined.contains("adaptation.lora.rank = 0: must be >= 1"), "{joined}");
    assert!(joined.contains("adaptation.lora.targets = []"), "{joined}");

    let p = problems_of(&format!(
        "{MINIMAL}\n[adaptation]\nmethod = \"adapters\"\n[adaptation.inner]\nenabled = false\n[adaptation.inter]\nenabled = false\n"
    ));
    assert!(p[0].contains("enable adaptation.inner or adaptation.inter"), "{p:?}");

    let p = problems_of(&format!("{MINIMAL}\n[adaptation]\nmethod = \"full-finetune\"\ninner = {{ enabled = false }}\n[optim]\nlr_backbone = 0.0\n"));
    assert!(
        p[0].contains("optim.lr_backbone = 0: method \"full-finetune\" trains backbone weights"),
        "{p:?}"
    );
}

#[test]
fn corpus_source_needs_corpus_and_trials() {
    let p = problems_of(&format!("{MINIMAL}\n[data]\nsource = \"corpus\"\n"));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("data.corpus:"));
    assert!(p[1].starts_with("data.trials:"));
}

#[test]
fn unknown_keys_are_errors_with_their_line() {
    let e = parse_error_of(&format!("{MINIMAL}\n[adaptation.inner]\nbotleneck = 32\n"));
    assert!(e.contains("test.toml"), "{e}");
    assert!(e.contains("botleneck"), "{e}");
    assert!(e.contains("line 7"), "{e}");
}

#[test]
fn wrong_types_and_bad_enum_values_are_parse_errors() {
    let e = parse_error_of(&format!("{MINIMAL}\n[optim]\nbatch_size = \"many\"\n"));
    assert!(e.contains("batch_size") || e.contains("line 6"), "{e}");
    let e = parse_error_of(&format!("{MINIMAL}\n[adaptation]\nmethod = \"magic\"\n"));
    assert!(e.contains("magic") && e.contains("full-finetune"), "{e}");
    let e = parse_error_of(&format!("{MINIMAL}\n[adaptation.inner]\nlayers = \"first-3\"\n"));
    assert!(e.contains("top-6"), "{e}");
}

#[test]
fn path_checks_name_missing_files() {
    let c = ExperimentConfig::from_toml_str(
        "name = \"t\"\n[model]\ncheckpoint = \"/nonexistent/wavlm\"\n[data]\nsource = \"corpus\"\ncorpus = \"/nonexistent/vox\"\ntrials = \"/nonexistent/veri_test2.txt\"\n",
        "t",
    )
    .unwrap();
    let p: Vec<String> = c.check_paths().iter().map(|p| p.to_string()).collect();
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].starts_with("model.checkpoint = \"/nonexistent/wavlm\": no such folder"),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("data.trials = \"/nonexistent/veri_test2.txt\": no such file"),
        "{p:?}"
    );
}

#[test]
fn the_method_decides_what_is_built() {
    // A config naming only the method is valid and builds exactly that method: no adapters for a baseline.
    for method in [
        "frozen",
        "full-finetune",
        "lora",
        "prefix",
        "houlsby",
        "bitfit",
        "partial-finetune",
    ] {
        let c = ExperimentConfig::from_toml_str(&format!("{MINIMAL}\n[adaptation]\nmethod = \"{method}\"\n"), "m")
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(
            !c.adaptation.inner_enabled() && !c.adaptation.inter_enabled(),
            "{method}"
        );
    }
    let c = ExperimentConfig::from_toml_str(&format!("{MINIMAL}\n[adaptation]\nmethod = \"adapters\"\n"), "m").unwrap();
    assert!(c.adaptation.inner_enabled() && c.adaptation.inter_enabled());
    // A written [adaptation.inter] table without a bottleneck gets the same default as an omitted table.
    let c =
        ExperimentConfig::from_toml_str(&format!("{MINIMAL}\n[adaptation.inter]\nlayer_norm = true\n"), "m").unwrap();
    assert_eq!(
        c.adaptation.inter.bottleneck,
        ExperimentConfig::builtin_default().adaptation.inter.bottleneck.max(128)
    );
    assert_eq!(c.adaptation.inter.bottleneck, 128);
    // Options the method would ignore are named.
    let p = problems_of(&format!(
        "{MINIMAL}\n[adaptation]\nmethod = \"frozen\"\n[adaptation.inter]\nenabled = true\n[adaptation.lora]\nrank = 4\n"
    ));
    let joined = p.join("\n");
    assert!(
        joined.contains("adaptation.inter.enabled = true: is ignored by method \"frozen\""),
        "{joined}"
    );
    assert!(
        joined.contains("adaptation.lora: is ignored by method \"frozen\""),
        "{joined}"
    );
    // Saved configs (every field written) read back without complaints.
    let c = ExperimentConfig::from_toml_str(&format!("{MINIMAL}\n[adaptation]\nmethod = \"frozen\"\n"), "m").unwrap();
    assert_eq!(
        ExperimentConfig::from_toml_str(&c.to_toml_string(), "saved").unwrap(),
        c
    );
}

#[test]
fn the_backbone_cache_is_refused_where_the_backbone_trains_or_crops_are_augmented() {
    let with = |rest: &str| format!("{MINIMAL}[optim]\nbackbone_cache_mib = 256\n{rest}");
    // Frozen, and inter adapters alone, leave the backbone's states unchanged: accepted.
    for ok in NOTHING_TRAINS_INSIDE {
        ExperimentConfig::from_toml_str(&with(ok), "test.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, says) in [
        ("[adaptation]\nmethod = \"lora\"\n", "method \"lora\" trains"),
        ("[adaptation]\nmethod = \"adapters\"\n", "with inner adapters trains"),
        (
            "[adaptation]\nmethod = \"frozen\"\n[data.augment]\nenabled = true\nspeed_prob = 0.5\n",
            "data.augment.enabled = false",
        ),
    ] {
        assert_problem(&with(bad), "optim.backbone_cache_mib", says);
    }
}

#[test]
fn a_bf16_backbone_is_accepted_only_where_nothing_inside_it_trains() {
    let with = |rest: &str| format!("{MINIMAL}[optim]\nbackbone_dtype = \"bf16\"\n{rest}");
    for ok in NOTHING_TRAINS_INSIDE {
        let config = ExperimentConfig::from_toml_str(&with(ok), "test.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(config.optim.backbone_dtype, adaptsv::config::BackboneDType::Bf16);
    }
    for (bad, says) in [
        ("[adaptation]\nmethod = \"full-finetune\"\n", "method \"full-finetune\" trains"),
        ("[adaptation]\nmethod = \"adapters\"\n", "with inner adapters trains"),
    ] {
        assert_problem(&with(bad), "optim.backbone_dtype", says);
    }
    // Pre-training trains the whole backbone: one message per option, saying so (not a second one about adapters).
    let pretrain = format!(
        "{MINIMAL}[optim]\nbackbone_dtype = \"bf16\"\nbackbone_cache_mib = 64\n[data.augment]\nenabled = false\n[pretrain]\n"
    );
    let problems = problems_of(&pretrain);
    for key in ["optim.backbone_dtype", "optim.backbone_cache_mib"] {
        let about: Vec<_> = problems.iter().filter(|p| p.contains(key)).collect();
        assert_eq!(about.len(), 1, "{key}: {problems:?}");
        assert!(about[0].contains("pre-training trains the whole backbone"), "{about:?}");
    }
    let err = parse_error_of(&format!("{MINIMAL}[optim]\nbackbone_dtype = \"f16\"\n"));
    assert!(err.contains("f16") && err.contains("bf16"), "names the value and the choices: {err}");
}

#[test]
fn audio_shorter_than_the_receptive_field_is_refused_with_the_minimum() {
    let says = "needs at least 0.025 s (400 samples at 16 kHz)";
    assert_problem(&format!("{MINIMAL}[optim]\nsegment_seconds = 0.001\n"), "optim.segment_seconds = 0.001", says);
    assert_problem(&format!("{MINIMAL}[eval]\nchunk_seconds = 0.02\n"), "eval.chunk_seconds", says);
    assert_problem(&format!("{MINIMAL}[data.synthetic]\nseconds = 0.01\n"), "data.synthetic.seconds", says);
    // Exactly the receptive field gives one frame: accepted.
    ExperimentConfig::from_toml_str(&format!("{MINIMAL}[optim]\nsegment_seconds = 0.025\n"), "t").unwrap();
}

#[test]
fn a_checkpoints_own_conv_stack_sets_the_minimum() {
    let tmp = tempfile::tempdir().unwrap();
    // A conv stack of one layer, kernel 800: 0.05 s at least.
    std::fs::write(tmp.path().join("config.json"), r#"{"conv_kernel": [800], "conv_stride": [400]}"#).unwrap();
    let mut c = ExperimentConfig::from_toml_str(MINIMAL, "m").unwrap();
    c.model.preset = None;
    c.model.checkpoint = Some(tmp.path().to_path_buf());
    c.optim.segment_seconds = 0.04;
    let problems: Vec<String> = c.check_paths().iter().map(|p| p.to_string()).collect();
    assert!(
        problems.iter().any(|p| p.contains("optim.segment_seconds = 0.04") && p.contains("0.05 s (800 samples")),
        "{problems:?}"
    );
}

#[test]
fn slurm_settings_are_checked_key_by_key() {
    let slurm = |body: &str| format!("{MINIMAL}[slurm]\n{body}\n");
    assert_problem(&slurm("time = \"4h\""), "slurm.time", "not a Slurm time limit");
    assert_problem(&slurm("mem = \"lots\""), "slurm.mem", "a size such as");
    assert_problem(&slurm("partition = \"gpu a100\""), "slurm.partition", "one word");
    assert_problem(&slurm("extra = [\"qos=high\"]"), "slurm.extra[0]", "one sbatch option");
    assert_problem(&slurm("signal_seconds = 5"), "slurm.signal_seconds", "between 10 and 65535");
    assert!(parse_error_of(&slurm("nodes = 2")).contains("unknown field `nodes`"));
    let c = ExperimentConfig::from_toml_str(
        &slurm("partition = \"gpu\"\ntime = \"1-12:00:00\"\ngres = \"gpu:1\"\nmem = \"32G\"\nextra = [\"--qos=high\"]\nrequeue = true"),
        "t",
    )
    .unwrap();
    let back = ExperimentConfig::from_toml_str(&c.to_toml_string(), "round-trip").unwrap();
    assert_eq!(back, c);
    assert_eq!(c.slurm.unwrap().signal_seconds, 120, "the default warning");
}
